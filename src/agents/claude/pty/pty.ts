type NodePty = typeof import('@lydell/node-pty');

let loading: Promise<NodePty> | null = null;

/**
 * node-pty, loaded on first use: its native build exists for the common platforms
 * only, and a platform without one should lose the PTY path, not the whole server.
 */
export function loadPty(): Promise<NodePty> {
  loading ??= import('@lydell/node-pty').catch((err: Error) => {
    throw new Error(`the PTY path needs node-pty, which cannot load here: ${err.message}`, { cause: err });
  });
  return loading;
}

/** Whether a pseudo-terminal can be opened on this machine. */
export async function ptyAvailable(): Promise<boolean> {
  try {
    await loadPty();
    return true;
  } catch {
    return false;
  }
}
