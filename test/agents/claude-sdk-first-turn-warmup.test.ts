// The head start ClaudeSdkDriver gives a new agent on its first turn, with the real Claude
// Code binary against the fake model on a real PostgreSQL: it asks the model nothing, writes
// nothing to the transcript, and the first turn then sends the model and stores what it
// would have without it.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { ClaudeSdkDriver } from '../../src/agents/claude/sdk/claude-sdk-driver.js';
import type { AgentSession } from '../../src/agents/contract/driver.js';
import { PostgresSessionStore } from '../../src/store/postgres-session-store.js';
import { claudeEnv } from '../fixtures/claude-env.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { BackendChats, sessionSpec, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { RecordedReports, runTurn } from '../fixtures/driver-turns.js';

let db: TestSchema;
let chats: BackendChats;
const drivers: ClaudeSdkDriver[] = [];
const LIMIT = { timeout: 90_000 };

before(async () => {
  db = await testSchema('claude_warmup');
  chats = new BackendChats();
});
after(async () => {
  await Promise.all(drivers.map((d) => d.dispose()));
  await chats.close();
  await db.drop();
});

/** A chat's agent, with or without the head start, and the driver's log lines. */
async function agent(warm: boolean) {
  const chat = await chats.create();
  const lines: string[] = [];
  const driver = new ClaudeSdkDriver({
    log: pino({ level: 'debug' }, { write: (line: string) => lines.push(line) }),
    sessionStore: new PostgresSessionStore(db.sql),
    env: claudeEnv(chat.fake, chat.configDir),
    processTagPrefix: chat.tagPrefix,
    warmFirstTurn: warm,
  });
  drivers.push(driver);
  const reports = new RecordedReports();
  const session = await driver.open(sessionSpec(chat), reports);
  return { chat, lines, session, reports };
}

/** The transcript files under a configuration directory. */
function transcripts(configDir: string): string[] {
  const projects = path.join(configDir, 'projects');
  try {
    return readdirSync(projects, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return [];
  }
}

/** JSON text with what differs between any two chats (paths, ids, times) put out of the way. */
function normalized(chat: BackendChat, value: unknown): string {
  return JSON.stringify(value)
    .replaceAll(chat.worktree, '<worktree>')
    .replaceAll(chat.configDir, '<config>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/\\"device_id\\":\\"[0-9a-f]+\\"/g, '<device>')
    .replace(/(msg|toolu)_fake_[0-9a-f]+_\d+/g, '<id>')
    .replace(/\d{4}-\d{2}-\d{2}T[\d:.]+Z/g, '<time>');
}

/** The conversation as stored: what the user said, what the agent said, and what Claude Code attached. */
async function conversation(chat: BackendChat, session: string): Promise<string> {
  const store = new PostgresSessionStore(db.sql);
  const [projectKey] = await store.projectKeysOf(session);
  assert.ok(projectKey, 'the conversation is stored');
  const entries = (await store.load({ projectKey, sessionId: session })) ?? [];
  const said = entries.flatMap((e: Record<string, unknown>) =>
    e.type === 'user' || e.type === 'assistant'
      ? [[e.type, (e.message as { content: unknown }).content]]
      : e.type === 'attachment'
        ? [[e.type, e.attachment]]
        : [],
  );
  return normalized(chat, said);
}

async function firstTurn(a: { chat: BackendChat; session: AgentSession; reports: RecordedReports }) {
  const turn = await runTurn(a.session, 'echo: hello');
  assert.equal(turn.result.ok, true, JSON.stringify(turn.result));
  const [request, ...more] = a.chat.fake.mainRequests();
  assert.equal(more.length, 0, 'one model request for the turn');
  return { request: normalized(a.chat, request!.body), stored: await conversation(a.chat, a.reports.last!) };
}

describe('ClaudeSdkDriver: the head start on a first turn', () => {
  it('asks the model nothing, writes nothing, and leaves the first turn as it would have been', LIMIT, async () => {
    const [warm, plain] = await Promise.all([agent(true), agent(false)]);
    await waitUntil('the head start is done', () => warm.lines.some((l) => l.includes('first turn warmed')), 30_000);
    assert.equal(plain.lines.some((l) => l.includes('first turn warm')), false, 'switched off, it does not run');

    assert.deepEqual(warm.chat.fake.requests, [], 'the model was asked nothing');
    const [stored] = await db.sql<{ count: string }[]>`SELECT count(*) FROM claude_transcript_entries`;
    assert.equal(Number(stored?.count), 0, 'nothing stored');
    assert.deepEqual(transcripts(warm.chat.configDir), [], 'no transcript written');

    const withHeadStart = await firstTurn(warm);
    const without = await firstTurn(plain);
    assert.equal(withHeadStart.request, without.request, 'the same model request');
    assert.equal(withHeadStart.stored, without.stored, 'the same conversation stored');
    assert.match(withHeadStart.stored, /reply to echo: hello/);
  });

  it('leaves out a session whose first turn came at once', LIMIT, async () => {
    const { chat, lines, session } = await agent(true);
    chat.fake.enqueue({ kind: 'stall' });
    const controller = new AbortController();
    const turn = runTurn(session, 'hello', { signal: controller.signal });
    await waitUntil('the turn reached the model', () => chat.fake.mainRequests().length === 1, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(lines.some((l) => l.includes('first turn')), false, 'no head start beside a running turn');
    controller.abort();
    assert.equal((await turn).result.ok, false);
  });
});
