// Warm against cold, in one run: the same 20-turn conversation through the real Claude
// Code binary on the SDK road (ClaudeSdkDriver, one process kept warm across turns) and
// on the PTY road (ClaudePtyDriver, one CLI process per turn, resuming the session each
// time), against the fake model server on loopback, so the times are Hearth's and the
// agent's, never a model's. Each turn is timed from before its session is ready (opened for
// the first turn, or for every turn of a driver that is not warm) to its first text delta
// and to its end. The SDK path's first turn is its spawn and is reported apart;
// every PTY turn is cold. The goal is a warm turn at least 10x faster to first delta than
// a cold one. Run: npm run bench -- paths

import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { ClaudePtyDriver } from '../src/agents/claude/pty/claude-pty-driver.js';
import { ClaudeSdkDriver } from '../src/agents/claude/sdk/claude-sdk-driver.js';
import type { AgentDriver, AgentSession } from '../src/agents/contract/driver.js';
import { PostgresSessionStore } from '../src/store/postgres-session-store.js';
import { bundledClaudePath } from '../src/agents/claude/claude-install.js';
import { lastUserText, startFakeModel, type RecordedRequest } from '../test/fixtures/fake-anthropic.js';
import { claudeEnv, makeConfigDir } from '../test/fixtures/claude-env.js';
import { testSchema } from '../test/fixtures/database.js';
import { median, ms, percentile, ratio, table } from './report.js';
import { chat, promptTimed, type Chat, type Ctx, type Sample } from './bench-chats.js';

const TURNS = 20;
const PROMPTS = Array.from({ length: TURNS }, (_, i) => `prompt ${i + 1} of ${TURNS}`);
const log = pino({ level: 'silent' });


/** The agent's environment, with a config directory of its own. */
async function env(ctx: Ctx): Promise<Record<string, string>> {
  const configDir = await makeConfigDir();
  ctx.dirs.push(configDir);
  return claudeEnv(ctx.fake, configDir);
}

/**
 * One turn timed from before its session is ready to its first delta and its end; a failed
 * turn throws. A warm driver's session is opened once and kept; a cold driver's serves one turn.
 */
async function timedTurn(d: AgentDriver, c: Chat, kept: { session: AgentSession | null }, installPath: string, text: string): Promise<Sample> {
  const started = performance.now();
  const session =
    kept.session ??
    (await d.open(
      { chatId: c.id, agent: 'claude', installPath, worktreePath: c.worktree, model: null, permissionMode: null, resume: c.token },
      { resumeToken: (token) => (c.token = token) },
    ));
  const { firstDelta, end, result } = await promptTimed(session, text, started);
  if (d.warm) kept.session = session;
  else await session.close();
  if (!result.ok) throw new Error(`${d.backend} turn "${text}" failed: ${result.error}`);
  return { firstDelta, end };
}

/** The whole conversation on one driver, which is disposed however it ends. */
async function conversation(d: AgentDriver, c: Chat, installPath: string): Promise<Sample[]> {
  const kept = { session: null as AgentSession | null };
  try {
    const samples: Sample[] = [];
    for (const text of PROMPTS) samples.push(await timedTurn(d, c, kept, installPath, text));
    return samples;
  } finally {
    await d.dispose();
  }
}

/** Whether a user message of a model request holds the text. */
function userSaid(req: RecordedRequest, text: string): boolean {
  const messages = (req.body?.messages ?? []) as Array<{ role: string; content: unknown }>;
  return messages.some((m) => m.role === 'user' && JSON.stringify(m.content).includes(text));
}

export async function benchClaudePaths(): Promise<void> {
  // Both roads run the same executable: the one the SDK bundles.
  const installPath = bundledClaudePath();
  if (!installPath) throw new Error('the claude executable bundled with the Claude Agent SDK is not installed');
  const ctx: Ctx = {
    // Replies follow from the prompt, so both conversations get the same ones.
    fake: await startFakeModel({ reply: (req) => ({ kind: 'text', chunks: ['a reply ', 'to ', lastUserText(req)] }) }),
    db: await testSchema('bench_paths'),
    dirs: [],
  };
  try {
    const sc = await chat(ctx);
    const sessionStore = new PostgresSessionStore(ctx.db.sql);
    const sdk = new ClaudeSdkDriver({ log, sessionStore, env: await env(ctx) });
    const [sdkFirst, ...sdkWarm] = await conversation(sdk, sc, installPath);

    const pc = await chat(ctx);
    const pty = new ClaudePtyDriver({ log, sessionStore, env: await env(ctx) });
    const ptyTurns = await conversation(pty, pc, installPath);

    // The turns ran one after another, so the last request the model saw is the last PTY turn's.
    const last = ctx.fake.mainRequests().at(-1);
    if (!last || !userSaid(last, PROMPTS.at(-1)!)) throw new Error('the last PTY turn sent no request to the model');
    if (!userSaid(last, PROMPTS[0]!)) throw new Error('the PTY path lost the conversation: its last turn did not send the first prompt');

    const row = (name: string, s: Sample[]) => [
      name,
      ms(median(s.map((x) => x.firstDelta))),
      ms(percentile(s.map((x) => x.firstDelta), 95)),
      ms(median(s.map((x) => x.end))),
      ms(percentile(s.map((x) => x.end), 95)),
    ];
    console.log(
      table(
        `The same ${TURNS}-turn conversation on each path (fake model; times from the start of the turn, opening its session included)`,
        ['path', 'first delta median', 'first delta p95', 'turn end median', 'turn end p95'],
        [
          row(`SDK path, warm (turns 2-${TURNS})`, sdkWarm),
          row('SDK path, first turn (cold spawn)', [sdkFirst!]),
          row('PTY path (cold, every turn)', ptyTurns),
        ],
      ),
    );
    const faster = (pick: (x: Sample) => number) => median(ptyTurns.map(pick)) / median(sdkWarm.map(pick));
    const firstDelta = faster((x) => x.firstDelta);
    console.log(`\nPTY median / SDK warm median: first delta ${ratio(firstDelta)}, turn end ${ratio(faster((x) => x.end))}`);
    console.log(`Goal: warm first delta >= 10x faster than cold: ${firstDelta >= 10 ? 'MET' : 'MISSED'} (${ratio(firstDelta)})\n`);
  } finally {
    await ctx.fake.close();
    await ctx.db.drop();
    await Promise.all(ctx.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchClaudePaths();
