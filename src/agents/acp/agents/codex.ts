// Codex through its ACP adapter, codex-acp, which runs `codex app-server` and speaks
// ACP for it.
//
// Configuration. What differs between launches goes in the launch's environment:
// CODEX_CONFIG, a JSON object codex-acp hands to the app server as `-c` overrides
// (the model provider) and merges into each chat thread's configuration (the model,
// approvals). What holds for every launch on the node, and for Codex's own threads
// too (the title, the guardian), is in CODEX_HOME/config.toml, rewritten whole at each
// launch by a rename, so chats that start at once never read half a file. CODEX_HOME
// is the agent's own home, which the driver makes private: none of a user's Codex
// configuration is read.
//
// Session files. Codex keeps a thread as one rollout, an append-only JSONL file at
// `sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl` under CODEX_HOME, which holds
// everything it replays or resumes: the thread's metadata (id, cwd, model, provider)
// as its first line, then every item the model was sent and gave. A resume by id finds
// the file by scanning `sessions/` for that id, so the rollout alone is mirrored; the
// rest of CODEX_HOME (its SQLite state, logs, the title index, caches) is rebuilt on
// the spot and holds nothing a resume reads. Codex's side threads (the guardian's
// reviews, sub-agents it spawns when asked to) have rollouts under ids of their own:
// the thread goes on without them, their results being in its own rollout.

import { existsSync, realpathSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { PermissionMode } from '../../../api/views.js';
import { installedFile } from '../../installed-package.js';
import { writeAtomically } from '../../../util/write-atomically.js';
import { nodeScript, type AcpAgent } from '../acp-agent.js';

/** The public OpenAI API, where OPENAI_BASE_URL does not point elsewhere. */
const OPENAI_API = 'https://api.openai.com/v1';

/** The provider id of Hearth's making: codex ignores a redefined built-in `openai`. */
const PROVIDER = 'hearth-openai';

/** The entry script of codex-acp, installed as one of Hearth's own packages, if it is. */
export function codexAcpPath(): string | null {
  return installedFile('@agentclientprotocol/codex-acp', 'dist', 'index.js');
}

/**
 * The native codex binary that codex-acp's own dependency installs for this platform:
 * run directly, it spares a Node launcher between the adapter and Codex. Null where
 * none is laid out; codex-acp then starts its own launcher.
 */
export function codexBinaryPath(acpEntry: string): string | null {
  return nativeCodex(acpEntry)?.binary ?? null;
}

/** The native binary and the package that installed it. */
function nativeCodex(acpEntry: string): { binary: string; packageRoot: string } | null {
  const triple = TARGETS[`${process.platform}-${process.arch}`];
  if (!triple) return null;
  try {
    const launcher = createRequire(acpEntry).resolve('@openai/codex/package.json');
    const pkg = createRequire(launcher).resolve(`@openai/codex-${process.platform}-${process.arch}/package.json`);
    const binary = path.join(path.dirname(pkg), 'vendor', triple, 'bin', 'codex');
    return existsSync(binary) ? { binary, packageRoot: realpathSync(path.dirname(launcher)) } : null;
  } catch {
    return null;
  }
}

const TARGETS: Record<string, string> = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
};

/** The configuration of one launch, as codex-acp reads it from CODEX_CONFIG. */
export function codexConfig(env: Record<string, string>, model: string | null): Record<string, unknown> {
  return {
    model_provider: PROVIDER,
    model_providers: {
      [PROVIDER]: {
        name: 'OpenAI',
        base_url: env.OPENAI_BASE_URL || OPENAI_API,
        env_key: 'OPENAI_API_KEY',
        wire_api: 'responses',
        ...retries(env),
      },
    },
    ...(model ? { model } : {}),
    // Asks through ACP session/request_permission rather than a model-run reviewer.
    approval_policy: 'on-request',
    approvals_reviewer: 'user',
  };
}

/** Settings of every launch and every thread: no update checks, no analytics or feedback leave the machine. */
export const CODEX_CONFIG_TOML = [
  '# Written by Hearth at each start of Codex: changes here do not last.',
  'check_for_update_on_startup = false',
  '',
  '[analytics]',
  'enabled = false',
  '',
  '[feedback]',
  'enabled = false',
  '',
].join('\n');

/**
 * Writes the node's config.toml under a name of its own first, so no reader sees it half
 * written; it belongs to whoever owns the home, the user Codex runs as.
 */
async function writeConfigToml(home: string): Promise<void> {
  await writeAtomically(path.join(home, 'config.toml'), CODEX_CONFIG_TOML, { owner: await stat(home) });
}

/**
 * The provider's retry counts, where the environment sets them: CODEX_REQUEST_MAX_RETRIES
 * and CODEX_STREAM_MAX_RETRIES are Hearth's names for the provider's `request_max_retries`
 * and `stream_max_retries`; unset, Codex's own defaults hold.
 */
function retries(env: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  const request = Number.parseInt(env.CODEX_REQUEST_MAX_RETRIES ?? '', 10);
  const stream = Number.parseInt(env.CODEX_STREAM_MAX_RETRIES ?? '', 10);
  if (Number.isInteger(request) && request >= 0) out.request_max_retries = request;
  if (Number.isInteger(stream) && stream >= 0) out.stream_max_retries = stream;
  return out;
}

/**
 * Hearth's permission modes as codex-acp's modes. `read-only` asks before any write and
 * any command that would leave the sandbox; `workspace-write` edits and runs commands in
 * the worktree unasked; full access never asks. Codex's plan mode is a way of talking,
 * not of permitting, so Hearth's plan mode is read-only.
 */
export const CODEX_MODES: Partial<Record<PermissionMode, string>> = {
  default: 'read-only',
  acceptEdits: 'workspace-write',
  plan: 'read-only',
  dontAsk: 'agent-full-access',
  bypassPermissions: 'agent-full-access',
  // Codex's own reviewer, a model call, decides what runs: Claude's auto mode's namesake.
  auto: 'agent',
};

export const codex: AcpAgent = {
  envPrefixes: ['OPENAI_', 'CODEX_'],
  launch: async ({ installPath, env, home, model }) => {
    const native = nativeCodex(installPath);
    await writeConfigToml(home);
    return nodeScript(installPath, {
      ...env,
      CODEX_HOME: home,
      CODEX_CONFIG: JSON.stringify(codexConfig(env, model)),
      // Asks before acting until Hearth sets the chat's mode.
      INITIAL_AGENT_MODE: CODEX_MODES.default!,
      // No browser login on a server: an API key is the way in.
      NO_BROWSER: '1',
      // What the package's launcher would tell the binary it starts: where its package lies, and that npm manages it.
      ...(native ? { CODEX_PATH: native.binary, CODEX_MANAGED_PACKAGE_ROOT: native.packageRoot, CODEX_MANAGED_BY_NPM: '1' } : {}),
    });
  },
  modes: CODEX_MODES,
  // Codex writes an "always" for a command into CODEX_HOME/rules, which every chat on the node reads.
  alwaysOutlivesChat: true,
  // codex-acp marks a failed model call by the thread's status, then says the error as the reply and ends the turn as usual.
  turnFailed: (update) => update.sessionUpdate === 'session_info_update' && (update._meta?.codex as { threadStatus?: { type?: unknown } } | undefined)?.threadStatus?.type === 'systemError',
  sessionFiles: {
    root: (env) => env.CODEX_HOME ?? '',
    list: async (root, sessionId) => {
      const sessions = path.join(root, 'sessions');
      const names: string[] = await readdir(sessions, { recursive: true }).catch(() => []);
      return names.filter((rel) => rel.endsWith(`-${sessionId}.jsonl`) && path.basename(rel).startsWith('rollout-')).map((rel) => path.join('sessions', rel));
    },
  },
};
