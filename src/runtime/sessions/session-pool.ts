import type { Logger } from 'pino';
import type { AgentBackend } from '../../agents/contract/agent-backend.js';

export interface BackendPoolOptions {
  /** Warm backends kept at most; a busy one is never evicted, so the count may pass this briefly. */
  maxWarm: number;
  /** A backend idle this long is disposed; its next turn resumes from PostgreSQL. */
  idleMs: number;
  log: Logger;
}

interface Entry {
  backend: AgentBackend;
  chatId: string;
  agent: string;
  lastUsed: number;
}

/**
 * One backend per (chat, agent), kept warm between turns. When full, the least recently
 * used idle backend makes room; idle backends past the timeout are disposed by a sweep.
 */
export class BackendPool {
  private readonly entries = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout | null = null;
  evictions = 0;

  constructor(private readonly options: BackendPoolOptions) {}

  start(): void {
    const every = Math.max(1_000, Math.min(this.options.idleMs / 2, 60_000));
    this.sweeper = setInterval(() => void this.sweepIdle(), every);
    this.sweeper.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  backends(): AgentBackend[] {
    return [...this.entries.values()].map((e) => e.backend);
  }

  /** The backend of (chat, agent), made with `create` when there is none, room made first. */
  async acquire(chatId: string, agent: string, create: () => AgentBackend): Promise<AgentBackend> {
    const key = keyOf(chatId, agent);
    const found = this.entries.get(key);
    if (found) {
      found.lastUsed = Date.now();
      // Re-inserting keeps the map in least-recently-used order.
      this.entries.delete(key);
      this.entries.set(key, found);
      return found.backend;
    }
    while (this.entries.size >= this.options.maxWarm) {
      const victim = [...this.entries.entries()].find(([, e]) => !e.backend.isBusy());
      if (!victim) break;
      await this.evict(victim[0], 'pool full');
    }
    const entry = { backend: create(), chatId, agent, lastUsed: Date.now() };
    this.entries.set(key, entry);
    return entry.backend;
  }

  /** Marks the backend used now, so it is not taken for idle while a turn has just ended. */
  touch(chatId: string, agent: string): void {
    const e = this.entries.get(keyOf(chatId, agent));
    if (e) e.lastUsed = Date.now();
  }

  async sweepIdle(now = Date.now()): Promise<void> {
    for (const [key, e] of [...this.entries]) {
      if (!e.backend.isBusy() && now - e.lastUsed >= this.options.idleMs) await this.evict(key, 'idle');
    }
  }

  /** Takes the backend of (chat, agent) out of the pool and disposes it. */
  async remove(chatId: string, agent: string): Promise<void> {
    await this.evict(keyOf(chatId, agent), 'removed', false);
  }

  /** Takes a chat's backends out of the pool and disposes them (the chat was deleted). */
  async removeChat(chatId: string): Promise<void> {
    for (const [key, e] of [...this.entries]) if (e.chatId === chatId) await this.evict(key, 'chat deleted', false);
  }

  private async evict(key: string, why: string, count = true): Promise<void> {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    if (count) this.evictions++;
    this.options.log.info({ chatId: e.chatId, agent: e.agent, why }, 'backend evicted');
    try {
      await e.backend.dispose();
    } catch (err) {
      this.options.log.warn({ err, chatId: e.chatId }, 'backend dispose failed');
    }
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all([...this.entries.keys()].map((k) => this.evict(k, 'shutdown', false)));
  }
}

function keyOf(chatId: string, agent: string): string {
  return `${chatId}\u0000${agent}`;
}
