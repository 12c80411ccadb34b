import { createRequire } from 'node:module';

export type NodePty = typeof import('@lydell/node-pty');

type Loaded = { ok: true; pty: NodePty } | { ok: false; error: Error };

let loaded: Loaded | null = null;

/**
 * node-pty, loaded on first use: its native build exists for the common platforms
 * only, and a platform without one should lose the PTY road, not the whole server.
 * It loads synchronously (a CommonJS module), so whether it can is known at once.
 */
export function loadPty(): NodePty {
  loaded ??= tryLoad();
  if (!loaded.ok) throw loaded.error;
  return loaded.pty;
}

function tryLoad(): Loaded {
  try {
    return { ok: true, pty: createRequire(import.meta.url)('@lydell/node-pty') as NodePty };
  } catch (err) {
    return { ok: false, error: new Error(`the PTY road needs node-pty, which cannot load here: ${(err as Error).message}`, { cause: err }) };
  }
}

/** Why a pseudo-terminal cannot be opened on this machine; null when one can. */
export function ptyUnavailable(): string | null {
  try {
    loadPty();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Whether a pseudo-terminal can be opened on this machine. */
export function ptyAvailable(): boolean {
  return ptyUnavailable() === null;
}
