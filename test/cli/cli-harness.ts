// The hearth CLI as a user runs it, for the CLI's test files: a real child process,
// from its source, in any working directory, on a pipe or on a terminal of its own.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** `node` running the CLI from its source, from any working directory. */
export const CLI = ['--import', import.meta.resolve('tsx'), path.join(ROOT, 'src/cli/bin.ts')];

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** When each piece of stdout arrived, and what it was. */
  chunks: Array<{ at: number; text: string }>;
  exitedAt: number;
}

export interface Running {
  stdout(): string;
  kill(signal: NodeJS.Signals): void;
  done: Promise<Run>;
}

export interface CliOptions {
  env?: Record<string, string>;
  stdin?: string;
  cwd?: string;
}

/** Starts `hearth <args>` with `env` over this process's environment; stdin stays an open pipe unless given. */
export function spawnCli(args: string[], options: CliOptions = {}): Running {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, NO_COLOR: '1', ...options.env } });
  if (options.stdin !== undefined) child.stdin.end(options.stdin);
  const chunks: Run['chunks'] = [];
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    chunks.push({ at: Date.now(), text });
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hearth ${args.join(' ')} did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 45_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, chunks, exitedAt: Date.now() });
    });
  });
  return { stdout: () => stdout, kill: (signal) => child.kill(signal), done };
}

/** `hearth <args>` on a terminal of its own (a real pty), answering its question with `answer`. */
export async function onTerminal(args: string[], env: Record<string, string>, answer: string): Promise<{ code: number; output: string }> {
  const terminal = await spawnOnTerminal(args, env);
  let exited = false;
  void terminal.done.then(() => (exited = true));
  await until(() => exited || terminal.output().includes('[y/N]'), 'the question', 25_000);
  if (!exited) terminal.write(answer);
  return terminal.done;
}

export interface OnTerminal {
  /** Everything the terminal showed so far: stdout and stderr as one. */
  output(): string;
  /** Types on the terminal: a line ends with "\r", as the Enter key sends it. */
  write(keys: string): void;
  done: Promise<{ code: number; output: string }>;
}

/** `hearth <args>` on a terminal of its own (a real pty), its stdin the terminal's keys; killed after `limitMs`. */
export async function spawnOnTerminal(args: string[], env: Record<string, string>, limitMs = 25_000): Promise<OnTerminal> {
  const { spawn: spawnPty } = await import('@lydell/node-pty');
  const pty = spawnPty(process.execPath, [...CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', ...env } as Record<string, string>,
    cols: 200,
  });
  let output = '';
  pty.onData((d) => (output += d));
  const timer = setTimeout(() => pty.kill('SIGKILL'), limitMs);
  const done = new Promise<{ code: number; output: string }>((resolve) =>
    pty.onExit(({ exitCode }) => {
      clearTimeout(timer);
      resolve({ code: exitCode, output });
    }),
  );
  return { output: () => output, write: (keys) => pty.write(keys), done };
}

/** The run's output, for assertion messages. */
export const shown = (r: Run) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

export async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const UUID_LINE = /^[0-9a-f-]{36}$/m;

/** The chat id `hearth new` printed on its first line. */
export function chatIdOf(r: Run): string {
  assert.equal(r.code, 0, shown(r));
  const id = r.stdout.split('\n')[0]!;
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  return id;
}

/** A port nothing listens on: one the system just handed out and took back. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  return port;
}
