import type { StartFailureScope } from '../../agents/contract/errors.js';

interface Failure {
  at: number;
  error: string;
  /** How many starts had worked before it. */
  run: number;
}

/**
 * Whether one backend can be used, on this node and for each chat. A start that fails
 * for a reason of the node's (see StartFailureScope) stands the backend down for every
 * chat for a while, so turns go to the next backend of their agent directly instead of
 * waiting for the same failure each time; one that fails for a reason of the chat's own
 * stands it down for that chat alone. Chats failing one after another with no start
 * working in between (`nodeAfterChats` of them) say the node is the problem after all.
 */
export class StandDown {
  private node: Failure | null = null;
  private readonly chats = new Map<string, Failure>();
  /** Starts that worked so far. */
  private run = 0;

  constructor(
    /** How long the backend stands down after a failed start. */
    private readonly retryMs: number,
    private readonly now: () => number = Date.now,
    private readonly nodeAfterChats = 3,
  ) {}

  /** Whether the backend stands down on this node, or (given a chat) for that chat. */
  down(chatId?: string): boolean {
    if (this.recent(this.node)) return true;
    return chatId !== undefined && this.recent(this.chats.get(chatId));
  }

  /** Why the last start failed, while the backend stands down on this node. */
  error(): string | null {
    return this.recent(this.node) ? this.node!.error : null;
  }

  failed(err: Error, chatId: string, scope: StartFailureScope): void {
    const failure = { at: this.now(), error: err.message, run: this.run };
    if (scope === 'node') {
      this.node = failure;
      return;
    }
    this.chats.set(chatId, failure);
    for (const [id, f] of this.chats) if (!this.recent(f)) this.chats.delete(id);
    const inARow = [...this.chats.values()].filter((f) => f.run === this.run).length;
    if (inARow >= this.nodeAfterChats) {
      this.node = { ...failure, error: `it failed to start for ${inARow} chats in a row; the last said: ${err.message}` };
    }
  }

  /** A start that works ends the stand-down of the node and of that chat. */
  started(chatId: string): void {
    this.node = null;
    this.chats.delete(chatId);
    this.run++;
  }

  private recent(f: Failure | null | undefined): boolean {
    return f != null && this.now() - f.at < this.retryMs;
  }
}
