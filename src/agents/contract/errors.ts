/**
 * How far a failed start reaches: `node` when this node cannot run the agent at all (its
 * executable is missing, or a start with nothing of the chat's own fails), `session`
 * when what failed is the chat's own (its conversation to resume, its worktree, its
 * options).
 */
export type StartFailureScope = 'node' | 'session';

/** The agent's process could not be started or did not come up. */
export class AgentStartError extends Error {
  override readonly name = 'AgentStartError';
  readonly scope: StartFailureScope;
  constructor(
    readonly agent: string,
    message: string,
    /** The end of what the process wrote to stderr, if it ran at all. */
    readonly stderr: string,
    options?: { cause?: unknown; scope?: StartFailureScope },
  ) {
    super(stderr ? `${message}\n--- ${agent} stderr ---\n${stderr}` : message, options);
    this.scope = options?.scope ?? 'node';
  }
}
