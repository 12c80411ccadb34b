/**
 * Whether the claude SDK path can be used on this node. After its agent fails to start,
 * the path stands down for a while and turns go to the PTY path directly instead of
 * waiting for the same failure each time; then it is tried again.
 */
export class SdkHealth {
  private failedAt: number | null = null;
  private lastError: string | null = null;

  constructor(
    /** How long the SDK path stands down after a failed start. */
    private readonly retryMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  down(): boolean {
    return this.failedAt !== null && this.now() - this.failedAt < this.retryMs;
  }

  /** Why the last start failed, while the path is standing down. */
  error(): string | null {
    return this.down() ? this.lastError : null;
  }

  failed(err: Error): void {
    this.failedAt = this.now();
    this.lastError = err.message;
  }

  started(): void {
    this.failedAt = null;
    this.lastError = null;
  }
}
