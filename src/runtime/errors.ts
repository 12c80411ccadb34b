/** A request Hearth refuses, with the HTTP status that says why; the message is for people. */
export class HearthError extends Error {
  override readonly name = 'HearthError';
  constructor(
    readonly status: 400 | 404 | 409 | 413 | 503,
    readonly code: string,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.details = options?.details;
  }
  /** More for the client to branch on, sent beside the code and message. */
  readonly details: Record<string, unknown> | undefined;
}
