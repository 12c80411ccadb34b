// What the Claude benchmarks share: a sample's timings, the run's fake model and database,
// and a chat with a git worktree of its own.

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FakeModelServer } from '../test/fixtures/fake-anthropic.js';
import type { TestSchema } from '../test/fixtures/database.js';

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
