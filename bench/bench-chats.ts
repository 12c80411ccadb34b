// What the Claude benchmarks share: a sample's timings, the run's fake model and database,
// and a chat with a git worktree of its own.

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FakeModelServer } from '../test/fixtures/fake-anthropic.js';
import type { TestSchema } from '../test/fixtures/database.js';
import type { AgentSession, TurnResult } from '../src/agents/contract/driver.js';

export interface Sample {
  firstDelta: number;
  end: number;
}

export interface Ctx {
  fake: FakeModelServer;
  db: TestSchema;
  dirs: string[];
}

export interface Chat {
  id: string;
  worktree: string;
  /** The conversation's resume token, once the agent has reported it. */
  token: string | null;
}

export async function chat(ctx: Ctx): Promise<Chat> {
  const worktree = await mkdtemp(path.join(tmpdir(), 'hearth-bench-wt-'));
  execFileSync('git', ['init', '-q', worktree]);
  ctx.dirs.push(worktree);
  return { id: randomUUID(), worktree, token: null };
}

/**
 * One turn of a session, timed from `started` (before the session opened, for a first
 * turn) to its first delta and its end; a failed turn throws. Nobody answers a request.
 */
export async function promptTimed(session: AgentSession, text: string, started = performance.now()): Promise<Sample & { result: TurnResult }> {
  let firstDelta = NaN;
  const result = await session.prompt(text, {
    signal: new AbortController().signal,
    emit: (e) => {
      if (e.kind === 'text_delta' && Number.isNaN(firstDelta)) firstDelta = performance.now() - started;
    },
    requestPermission: async () => ({ outcome: 'cancelled', message: 'nobody answers in a benchmark' }),
  });
  return { firstDelta, end: performance.now() - started, result };
}

/** A timed turn that must succeed. */
export async function timedTurn(session: AgentSession, text: string, started = performance.now()): Promise<Sample> {
  const { firstDelta, end, result } = await promptTimed(session, text, started);
  if (!result.ok) throw new Error(`turn "${text}" failed: ${result.error}`);
  return { firstDelta, end };
}
