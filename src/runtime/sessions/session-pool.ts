import type { Logger } from 'pino';
import type { AgentSession } from '../../agents/contract/driver.js';
import { ProcessTable } from '../../agents/process/process-memory.js';
import type { BackendKind } from '../../api/views.js';
import { HearthError } from '../errors.js';
import { sessionKey } from './session-key.js';

export interface SessionPoolOptions {
  /** Warm sessions kept at most; a leased one is never evicted, so the count may pass this while all are in use. */
  maxWarm: number;
  /** A session idle this long is closed; its next turn resumes from PostgreSQL. */
  idleMs: number;
  /**
   * Resident bytes the pool's sessions may hold together; null or absent: only the count
   * is capped. Over it, sessions nobody holds are closed, least recently used first; as
   * under the count cap, the one used last is kept even when it alone is over.
   */
  maxMemory?: number | null;
  /**
   * The resident bytes of each session's processes, measured together; null for one with
   * nothing to measure. Default: the process tree under its pid, from one scan of /proc.
   */
  memoryOf?(sessions: readonly AgentSession[]): Array<number | null>;
  log: Logger;
  /** Told of every session the pool closes, after it has closed; awaited, so its record is written before another session's. */
  onClosed?(chatId: string, agent: string): void | Promise<void>;
}

/** A pooled session's resident memory, for reports. */
export interface SessionMemory {
  chatId: string;
  agent: string;
  backend: BackendKind;
  bytes: number;
}

/** The use of a pooled session: while it is held, the session is neither evicted nor closed for idleness. */
export interface SessionLease {
  readonly session: AgentSession;
  /** Gives the session back; later calls do nothing. */
  release(): void;
}

/** A lease that may only take free room found the pool full. */
export class PoolFull extends Error {
  override readonly name = 'PoolFull';
}

/** How a lease that needs a new entry makes room: by evicting idle sessions, or only in free room. */
export type RoomPolicy = 'evict' | 'free';

type EntryState = { kind: 'opening'; opened: Promise<AgentSession> } | { kind: 'ready'; session: AgentSession };

interface Entry {
  chatId: string;
  agent: string;
  backend: BackendKind;
  state: EntryState;
  leases: number;
  lastUsed: number;
  /** When it was last leased or given back, in the pool's count of both: orders uses within one millisecond. */
  lastUse: number;
}

/**
 * Warm sessions, one per (chat, agent), handed out by lease. A session being opened is
 * leased by whoever opens it, so nothing that is starting or running is ever evicted; when
 * the pool is full, the least recently used session nobody holds makes room, and one
 * nobody has held for the idle timeout is closed by a sweep.
 */
export class SessionPool {
  private readonly entries = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;
  private uses = 0;
  /** Memory is fitted one measure at a time, so two fits never close sessions for the same excess. */
  private fitting: Promise<void> = Promise.resolve();
  private readonly memoryOf: (sessions: readonly AgentSession[]) => Array<number | null>;
  evictions = 0;

  constructor(private readonly options: SessionPoolOptions) {
    this.memoryOf = options.memoryOf ?? processTreeMemory;
  }

  start(): void {
    const every = Math.max(1_000, Math.min(this.options.idleMs / 2, 60_000));
    this.sweeper = setInterval(() => void this.sweepIdle(), every);
    this.sweeper.unref();
  }

  get size(): number {
    return this.entries.size;
  }

  /** The sessions open now, for reports. */
  sessions(): Array<{ chatId: string; agent: string; backend: BackendKind; session: AgentSession }> {
    return [...this.entries.values()].flatMap((e) =>
      e.state.kind === 'ready' ? [{ chatId: e.chatId, agent: e.agent, backend: e.backend, session: e.state.session }] : [],
    );
  }

  /** The resident memory of each session open now; one that cannot be measured (its process just ended) is left out. */
  memory(): SessionMemory[] {
    const ready = this.readyEntries();
    const sizes = this.measure(ready.map(([, e]) => e.session));
    return ready.flatMap(([, e], i) => {
      const bytes = sizes[i];
      return bytes == null ? [] : [{ chatId: e.entry.chatId, agent: e.entry.agent, backend: e.entry.backend, bytes }];
    });
  }

  /** Whether a session could be added without evicting one: below the count cap, and below the memory cap where there is one. */
  hasRoom(): boolean {
    if (this.entries.size >= this.options.maxWarm) return false;
    const cap = this.options.maxMemory;
    return cap == null || this.memory().reduce((total, m) => total + m.bytes, 0) < cap;
  }

  /** The backend of the session pooled for (chat, agent), if there is one. */
  backendOf(chatId: string, agent: string): BackendKind | null {
    return this.entries.get(sessionKey(chatId, agent))?.backend ?? null;
  }

  /**
   * A lease on the session of (chat, agent) on `backend`: the pooled one while it still
   * serves, else one made by `open` once room is made. A pooled session of another
   * backend, or one that has closed, is closed and replaced. If `open` throws, nothing
   * is pooled and the error is the caller's. Once the pool is closed, a lease is refused.
   * With room `free`, a lease that needs a new entry evicts nothing: it throws PoolFull.
   */
  async lease(
    chatId: string,
    agent: string,
    backend: BackendKind,
    open: () => Promise<AgentSession>,
    room: RoomPolicy = 'evict',
  ): Promise<SessionLease> {
    const key = sessionKey(chatId, agent);
    for (;;) {
      // A lease still under way when the pool closes opens nothing: it would outlive the pool.
      if (this.closed) throw new HearthError(503, 'shutting_down', 'the server is shutting down');
      const found = this.entries.get(key);
      if (found && (found.backend !== backend || (found.state.kind === 'ready' && found.state.session.state() === 'closed'))) {
        await this.evict(key, found.backend !== backend ? 'another backend' : 'closed', false);
        continue;
      }
      if (found) return this.take(key, found);
      if (room === 'free' && !this.hasRoom()) throw new PoolFull(`the pool has no free room for another session (${this.entries.size} held)`);
      if (room === 'evict') await this.makeRoom();
      // Another lease of (chat, agent) may have made its entry while room was being made: that one is shared.
      if (this.closed || this.entries.has(key)) continue;
      const made: Entry = { chatId, agent, backend, state: { kind: 'opening', opened: open() }, leases: 0, lastUsed: 0, lastUse: 0 };
      this.entries.set(key, made);
      // Taking it marks it used.
      return this.take(key, made);
    }
  }

  /** Marks an entry used now: for the idle timeout, and for which was used last. */
  private touch(entry: Entry): void {
    entry.lastUsed = Date.now();
    entry.lastUse = ++this.uses;
  }

  private async take(key: string, entry: Entry): Promise<SessionLease> {
    entry.leases++;
    this.touch(entry);
    // Re-inserting keeps the map in least-recently-used order.
    if (this.entries.get(key) === entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    let session: AgentSession;
    try {
      session = entry.state.kind === 'ready' ? entry.state.session : await entry.state.opened;
    } catch (err) {
      entry.leases--;
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw err;
    }
    if (entry.state.kind === 'opening') entry.state = { kind: 'ready', session };
    let held = true;
    return {
      session,
      release: () => {
        if (!held) return;
        held = false;
        entry.leases--;
        this.touch(entry);
        // A turn may have grown the session; room is made now rather than when the next one
        // opens, once the turn's own end is on its way (a measure blocks for a few ms).
        if (this.options.maxMemory != null) setImmediate(() => void this.fitMemory('keep the last used'));
      },
    };
  }

  private async makeRoom(): Promise<void> {
    while (this.entries.size >= this.options.maxWarm) {
      const victim = [...this.entries].find(([, e]) => e.leases === 0 && e.state.kind === 'ready');
      if (!victim) return;
      await this.evict(victim[0], 'pool full');
    }
    // The session about to open is the one used last: every other may go.
    await this.fitMemory('any');
  }

  /**
   * Closes sessions nobody holds, least recently used first, until the pool's sessions fit
   * its memory cap; the one used last stays whatever it holds, unless another is to open.
   */
  private fitMemory(which: 'any' | 'keep the last used'): Promise<void> {
    const cap = this.options.maxMemory;
    if (cap == null) return Promise.resolve();
    this.fitting = this.fitting.then(async () => {
      const ready = this.readyEntries();
      const spare = which === 'any' ? null : latestUse(ready.map(([, e]) => e.entry));
      // Measuring costs a pass over /proc: not done when no session could be closed anyway.
      if (!ready.some(([, { entry }]) => entry !== spare && entry.leases === 0)) return;
      const sizes = this.measure(ready.map(([, e]) => e.session));
      let total = sizes.reduce<number>((sum, b) => sum + (b ?? 0), 0);
      for (let i = 0; i < ready.length && total > cap; i++) {
        const [key, { entry, session }] = ready[i]!;
        // Checked at each step: a lease may have been taken while the one before closed.
        if (entry === spare || entry.leases > 0 || this.entries.get(key) !== entry || session.state() === 'turn') continue;
        await this.evict(key, 'pool over its memory cap');
        total -= sizes[i] ?? 0;
      }
    }).catch((err: unknown) => this.options.log.warn({ err }, 'the pool could not fit its memory cap'));
    return this.fitting;
  }

  /** The ready entries, least recently leased first, with their sessions. */
  private readyEntries(): Array<[string, { entry: Entry; session: AgentSession }]> {
    return [...this.entries].flatMap(([key, entry]) => (entry.state.kind === 'ready' ? [[key, { entry, session: entry.state.session }]] : []));
  }

  /** `memoryOf`, which never fails the caller: a measure that throws counts as none. */
  private measure(sessions: AgentSession[]): Array<number | null> {
    if (sessions.length === 0) return [];
    try {
      return this.memoryOf(sessions);
    } catch (err) {
      this.options.log.warn({ err }, 'the memory of warm sessions could not be measured');
      return sessions.map(() => null);
    }
  }

  async sweepIdle(now = Date.now()): Promise<void> {
    for (const [key, e] of [...this.entries]) {
      if (e.leases === 0 && e.state.kind === 'ready' && now - e.lastUsed >= this.options.idleMs) await this.evict(key, 'idle');
    }
    await this.fitMemory('keep the last used');
  }

  /** Closes the session of (chat, agent), held or not: its holder's next turn on it finds it closed. */
  async remove(chatId: string, agent: string, why = 'removed'): Promise<void> {
    await this.evict(sessionKey(chatId, agent), why, false);
  }

  /** Closes a chat's sessions (the chat was deleted). */
  async removeChat(chatId: string): Promise<void> {
    for (const [key, e] of [...this.entries]) if (e.chatId === chatId) await this.evict(key, 'chat deleted', false);
  }

  /** Takes the entry out and closes its session, waiting for one still opening. */
  private async evict(key: string, why: string, count = true): Promise<void> {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    if (count) this.evictions++;
    this.options.log.info({ chatId: e.chatId, agent: e.agent, backend: e.backend, why }, 'agent session closed');
    try {
      const session = e.state.kind === 'ready' ? e.state.session : await e.state.opened;
      await session.close();
      await this.options.onClosed?.(e.chatId, e.agent);
    } catch (err) {
      // A session that failed to open has nothing to close; its opener reports why.
      if (e.state.kind === 'ready') this.options.log.warn({ err, chatId: e.chatId }, 'agent session close failed');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all([...this.entries.keys()].map((k) => this.evict(k, 'shutdown', false)));
  }
}

/** The entry leased or given back last. */
function latestUse(entries: Entry[]): Entry | null {
  return entries.reduce<Entry | null>((last, e) => (last === null || e.lastUse > last.lastUse ? e : last), null);
}

/** Each session's process tree's resident bytes, from one scan of /proc for them all. */
function processTreeMemory(sessions: readonly AgentSession[]): Array<number | null> {
  const table = ProcessTable.scan();
  // A process that serves several sessions (OpenCode's server) is shared among them, so the total counts it once.
  const sharing = new Map<number, number>();
  for (const s of sessions) {
    const pid = s.pid();
    if (pid !== null) sharing.set(pid, (sharing.get(pid) ?? 0) + 1);
  }
  return sessions.map((s) => {
    const pid = s.pid();
    const rss = pid === null ? null : table.treeRss(pid);
    return rss === null ? null : Math.round(rss / sharing.get(pid!)!);
  });
}
