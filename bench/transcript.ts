/**
 * Synthetic transcript lines shaped like the JSONL Claude Code writes: a user prompt,
 * an assistant turn with text and a tool call, the tool result, a closing assistant
 * reply. Sizes land around 1–2 KB a line. A seeded generator keeps every run, and both
 * stores within a run, on the same bytes. No NUL characters: the baseline's jsonb
 * column rejects them.
 */
import type { SessionStoreEntry } from '@anthropic-ai/claude-agent-sdk';

/** mulberry32: small, fast, and the same sequence for the same seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the a to of and in that is for it with as on this be are by or from at an not which we can ' +
  'function return const value file test error type string number module import export async await ' +
  'promise database query index table row column schema session store transcript entry append load ' +
  'list summary cursor branch commit worktree agent model request response stream handler router ' +
  'config option default undefined null array object map set key lock transaction retry timeout ' +
  'because should would could then also only each every first last next previous change update fix ' +
  'naïve café — “quoted” résumé'
).split(' ');

const FILES = ['src/store/session.ts', 'src/http/routes/chats.ts', 'test/store/session.test.ts', 'src/db/migrate.ts', 'README.md'];
const TOOLS = ['Read', 'Grep', 'Edit', 'Bash', 'Glob'];

function words(r: () => number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(r() * WORDS.length)]!);
  return out.join(' ');
}

function codeLines(r: () => number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(`${String(i + 1).padStart(5)}→  const ${words(r, 1)}_${i} = await ${words(r, 1)}(${words(r, 2).replace(' ', ', ')});`);
  }
  return out.join('\n');
}

function hex(r: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(r() * 16).toString(16);
  return s;
}

export interface EntryIds {
  uuid: string;
  /** null for the first line of a transcript. */
  parentUuid: string | null;
  sessionId: string;
  timestamp: string;
}

/** The i-th line of a transcript; i picks the kind, so a transcript cycles user → assistant → tool result → assistant. */
export function transcriptEntry(r: () => number, i: number, ids: EntryIds): SessionStoreEntry {
  const common = {
    parentUuid: ids.parentUuid,
    isSidechain: false,
    userType: 'external',
    cwd: '/home/dev/projects/hearth',
    sessionId: ids.sessionId,
    version: '2.1.14',
    gitBranch: 'main',
  };
  const usage = () => ({
    input_tokens: Math.floor(r() * 20),
    cache_creation_input_tokens: Math.floor(r() * 4000),
    cache_read_input_tokens: Math.floor(r() * 60000),
    output_tokens: Math.floor(r() * 900),
    service_tier: 'standard',
  });
  switch (i % 4) {
    case 0:
      return {
        ...common,
        type: 'user',
        message: { role: 'user', content: words(r, 120 + Math.floor(r() * 120)) },
        uuid: ids.uuid,
        timestamp: ids.timestamp,
        permissionMode: 'default',
      };
    case 1: {
      const tool = TOOLS[Math.floor(r() * TOOLS.length)]!;
      return {
        ...common,
        message: {
          model: 'claude-sonnet-4-5-20250929',
          id: `msg_01${hex(r, 22)}`,
          type: 'message',
          role: 'assistant',
          content: [
            { type: 'text', text: words(r, 60 + Math.floor(r() * 80)) },
            { type: 'tool_use', id: `toolu_01${hex(r, 22)}`, name: tool, input: { file_path: `/home/dev/projects/hearth/${FILES[i % FILES.length]}`, pattern: words(r, 2) } },
          ],
          stop_reason: 'tool_use',
          stop_sequence: null,
          usage: usage(),
        },
        requestId: `req_011C${hex(r, 20)}`,
        type: 'assistant',
        uuid: ids.uuid,
        timestamp: ids.timestamp,
      };
    }
    case 2: {
      const lines = 10 + Math.floor(r() * 10);
      return {
        ...common,
        type: 'user',
        message: {
          role: 'user',
          content: [{ tool_use_id: `toolu_01${hex(r, 22)}`, type: 'tool_result', content: codeLines(r, lines) }],
        },
        uuid: ids.uuid,
        timestamp: ids.timestamp,
        toolUseResult: { type: 'text', file: { filePath: `/home/dev/projects/hearth/${FILES[i % FILES.length]}`, numLines: lines, startLine: 1, totalLines: 240 } },
      };
    }
    default:
      return {
        ...common,
        message: {
          model: 'claude-sonnet-4-5-20250929',
          id: `msg_01${hex(r, 22)}`,
          type: 'message',
          role: 'assistant',
          content: [{ type: 'text', text: words(r, 140 + Math.floor(r() * 120)) }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: usage(),
        },
        requestId: `req_011C${hex(r, 20)}`,
        type: 'assistant',
        uuid: ids.uuid,
        timestamp: ids.timestamp,
      };
  }
}

/** A v4-shaped uuid from the generator, so runs repeat. */
export function uuidFrom(r: () => number): string {
  const h = hex(r, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** `count` consecutive lines of one transcript, chained by parentUuid, a second apart. */
export function transcript(seed: number, sessionId: string, count: number, startMs = 1_750_000_000_000): SessionStoreEntry[] {
  const r = rng(seed);
  const out: SessionStoreEntry[] = [];
  let parent: string | null = null;
  for (let i = 0; i < count; i++) {
    const uuid = uuidFrom(r);
    out.push(transcriptEntry(r, i, { uuid, parentUuid: parent, sessionId, timestamp: new Date(startMs + i * 1000).toISOString() }));
    parent = uuid;
  }
  return out;
}
