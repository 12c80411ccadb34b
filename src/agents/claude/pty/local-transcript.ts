import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import type { SessionKey, SessionStoreEntry } from '@anthropic-ai/claude-agent-sdk';
import type { PostgresSessionStore } from '../../../store/postgres-session-store.js';
import { NO_TOTALS, restoredTotals, type RunningTotals } from '../claude-result.js';
import { writeAtomically } from '../../../util/write-atomically.js';
import { giveTo, giveTreeTo, type AgentUser } from '../../process/agent-user.js';

/** Entries per append when mirroring, as the SDK's own import batches them. */
const MIRROR_BATCH = 500;

/** The Claude Code configuration directory an agent with this environment uses. */
export function claudeConfigDir(env: Record<string, string | undefined>): string {
  return env.CLAUDE_CONFIG_DIR || path.join(env.HOME || homedir(), '.claude');
}

/** What a turn found before it ran, so that afterwards only what it wrote is mirrored. */
export interface PreparedTranscript {
  sessionId: string;
  /** The project key the store files the session under; null when the store has none. */
  projectKey: string | null;
  /**
   * `local`: the local transcript already held everything stored; `materialized`: it
   * was written from the store; `absent`: neither the store nor this machine has it.
   */
  source: 'local' | 'materialized' | 'absent';
  /** Entries the store held per subpath ('' is the main transcript): the local lines already mirrored. */
  stored: Map<string, number>;
  /** The subagent metadata the store held, as JSON text by subpath. */
  storedMeta: Map<string, string>;
  /**
   * The session's running totals (cost and tokens) as the CLI will restore them: the last
   * cost record in the transcript. A resumed CLI reports totals that start from them.
   */
  totalsSoFar: RunningTotals;
}

/**
 * A Claude Code session as the CLI keeps it on this machine
 * (`<config>/projects/<project key>/<session>.jsonl`, subagent transcripts under
 * `<session>/subagents/`), kept in step with the PostgreSQL store: materialized from
 * the store before a turn when this machine lacks what the store has, and mirrored
 * into it after the turn.
 *
 * The mirror appends only the lines past what the store already held, rather than
 * re-importing the whole file: entries without a uuid (titles, mode and cost markers)
 * cannot be de-duplicated, and would pile up with every turn.
 */
export class LocalTranscript {
  constructor(
    private readonly store: PostgresSessionStore,
    private readonly configDir: string,
    /** The user the CLI runs as, when not the server's own: what is written for it becomes its own. */
    private readonly owner: AgentUser | null = null,
  ) {}

  /** Makes sure the CLI finds the whole session on this machine before it resumes it. */
  async prepare(sessionId: string): Promise<PreparedTranscript> {
    const [projectKey = null] = await this.store.projectKeysOf(sessionId);
    const prepared: PreparedTranscript = {
      sessionId,
      projectKey,
      source: 'absent',
      stored: new Map(),
      storedMeta: new Map(),
      totalsSoFar: NO_TOTALS,
    };
    if (projectKey === null) {
      const file = await this.find(sessionId);
      if (file) {
        prepared.source = 'local';
        prepared.totalsSoFar = restoredTotals((await readEntries(file)) ?? []);
      }
      return prepared;
    }
    const key = { projectKey, sessionId };
    const main = (await this.store.load(key)) ?? [];
    const subagents = new Map<string, SessionStoreEntry[]>();
    for (const subpath of await this.store.listSubkeys(key)) {
      subagents.set(subpath, (await this.store.load({ ...key, subpath })) ?? []);
    }
    // Metadata entries live in files of their own, not among a transcript's lines.
    prepared.stored.set('', main.length);
    for (const [subpath, entries] of subagents) {
      prepared.stored.set(subpath, entries.filter((e) => !isMeta(e)).length);
      const meta = entries.filter(isMeta).at(-1);
      if (meta) prepared.storedMeta.set(subpath, metaJson(meta));
    }
    const file = this.mainFile(projectKey, sessionId);
    const local = await readEntries(file);
    if (local && holdsAll(local, main)) {
      prepared.source = 'local';
      prepared.totalsSoFar = restoredTotals(local);
    } else if (main.length > 0) {
      await this.materialize(projectKey, sessionId, main, subagents);
      prepared.source = 'materialized';
      prepared.totalsSoFar = restoredTotals(main);
    } else if (local) {
      prepared.source = 'local';
      prepared.totalsSoFar = restoredTotals(local);
    }
    return prepared;
  }

  /** Appends what the turn wrote to the store; returns how many entries that was. */
  async mirror(prepared: PreparedTranscript): Promise<number> {
    const file =
      (prepared.projectKey && (await exists(this.mainFile(prepared.projectKey, prepared.sessionId)))) ||
      (await this.find(prepared.sessionId));
    if (!file) return 0;
    const projectKey = path.basename(path.dirname(file));
    // Counts taken under another project key say nothing about this file.
    const stored = projectKey === prepared.projectKey ? prepared.stored : new Map<string, number>();
    const key: SessionKey = { projectKey, sessionId: prepared.sessionId };
    let appended = await this.appendNew(key, (await readEntries(file)) ?? [], stored.get('') ?? 0);

    const sessionDir = file.slice(0, -'.jsonl'.length);
    for (const sub of await subagentFiles(sessionDir)) {
      const subpath = path.relative(sessionDir, sub).slice(0, -'.jsonl'.length).split(path.sep).join('/');
      const subKey: SessionKey = { ...key, subpath };
      appended += await this.appendNew(subKey, (await readEntries(sub)) ?? [], stored.get(subpath) ?? 0);
      const meta = await readMeta(sub.slice(0, -'.jsonl'.length) + '.meta.json');
      if (meta && (projectKey !== prepared.projectKey || metaJson(meta) !== prepared.storedMeta.get(subpath))) {
        await this.store.append(subKey, [meta]);
        appended++;
      }
    }
    return appended;
  }

  private mainFile(projectKey: string, sessionId: string): string {
    return path.join(this.configDir, 'projects', projectKey, `${sessionId}.jsonl`);
  }

  /** The session's file under whichever project directory the CLI filed it. */
  private async find(sessionId: string): Promise<string | null> {
    const projects = path.join(this.configDir, 'projects');
    const dirs = await readdir(projects).catch(() => [] as string[]);
    for (const dir of dirs) {
      const file = path.join(projects, dir, `${sessionId}.jsonl`);
      if (await exists(file)) return file;
    }
    return null;
  }

  private async appendNew(key: SessionKey, entries: SessionStoreEntry[], already: number): Promise<number> {
    const fresh = entries.slice(already);
    for (let i = 0; i < fresh.length; i += MIRROR_BATCH) await this.store.append(key, fresh.slice(i, i + MIRROR_BATCH));
    return fresh.length;
  }

  /** Writes the stored session where the CLI looks for it, subagent transcripts included. */
  private async materialize(
    projectKey: string,
    sessionId: string,
    main: SessionStoreEntry[],
    subagents: Map<string, SessionStoreEntry[]>,
  ): Promise<void> {
    const file = this.mainFile(projectKey, sessionId);
    await writeJsonl(file, main);
    const sessionDir = file.slice(0, -'.jsonl'.length);
    for (const [subpath, entries] of subagents) {
      const target = path.join(sessionDir, ...subpath.split('/'));
      // A subpath is the store's data; it must not lead out of the session's directory.
      if (!target.startsWith(sessionDir + path.sep)) continue;
      const transcript = entries.filter((e) => !isMeta(e));
      const meta = entries.filter(isMeta).at(-1);
      if (transcript.length > 0) await writeJsonl(`${target}.jsonl`, transcript);
      if (meta) await writeAtomically(`${target}.meta.json`, metaJson(meta));
    }
    if (this.owner) {
      await giveTo(this.owner, this.configDir, path.join(this.configDir, 'projects'));
      await giveTreeTo(this.owner, path.dirname(file));
    }
  }
}

/** A subagent's metadata, which the CLI keeps in a `.meta.json` file beside its transcript. */
function isMeta(entry: SessionStoreEntry): boolean {
  return entry.type === 'agent_metadata';
}

/** Metadata as comparable text: the file's fields, without the entry's type. */
function metaJson(entry: SessionStoreEntry): string {
  const { type: _type, ...fields } = entry;
  return JSON.stringify(fields);
}

/** A metadata file as the store keeps it: an `agent_metadata` entry; null when there is none. */
async function readMeta(file: string): Promise<SessionStoreEntry | null> {
  const text = await readIfThere(file);
  return text === null ? null : { ...(JSON.parse(text) as Record<string, unknown>), type: 'agent_metadata' };
}

/** A file's text; null when there is no such file. */
async function readIfThere(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Whether the local entries hold every stored one: all stored uuids, and at least as many lines. */
function holdsAll(local: SessionStoreEntry[], stored: SessionStoreEntry[]): boolean {
  if (local.length < stored.length) return false;
  const uuids = new Set(local.map((e) => e.uuid).filter((u): u is string => typeof u === 'string'));
  return stored.every((e) => typeof e.uuid !== 'string' || uuids.has(e.uuid));
}

/** A JSONL file's entries, skipping blank and unreadable lines as the SDK's import does; null when there is no file. */
async function readEntries(file: string): Promise<SessionStoreEntry[] | null> {
  const text = await readIfThere(file);
  if (text === null) return null;
  const entries: SessionStoreEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as SessionStoreEntry);
    } catch {
      // A line cut short by a killed process; the store gets the lines that are whole.
    }
  }
  return entries;
}

/** The subagent transcripts under a session's directory. */
async function subagentFiles(sessionDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && e.name.endsWith('.jsonl')) found.push(p);
    }
  };
  await walk(path.join(sessionDir, 'subagents'));
  return found.sort();
}

async function writeJsonl(file: string, entries: SessionStoreEntry[]): Promise<void> {
  await writeAtomically(file, entries.map((e) => JSON.stringify(e) + '\n').join(''));
}

async function exists(file: string): Promise<string | null> {
  return stat(file).then(
    () => file,
    () => null,
  );
}
