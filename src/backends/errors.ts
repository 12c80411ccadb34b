/** The agent's process could not be started or did not come up. */
export class AgentStartError extends Error {
  override readonly name = 'AgentStartError';
  constructor(
    readonly agent: string,
    message: string,
    /** The end of what the process wrote to stderr, if it ran at all. */
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(stderr ? `${message}\n--- ${agent} stderr ---\n${stderr}` : message, options);
  }
}

/** The backend was disposed; it serves no more sessions. */
export class BackendClosedError extends Error {
  override readonly name = 'BackendClosedError';
  constructor(readonly backend: string) {
    super(`the ${backend} backend has been disposed`);
  }
}
