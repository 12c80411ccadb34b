// OpenCode as an ACP agent (`opencode acp`), its native binary run directly.
//
// Configuration. OpenCode reads its whole configuration from OPENCODE_CONFIG_CONTENT,
// which wins over every file it would read: the node's own (its providers, their
// `baseURL`s and keys), given to Hearth in the same variable, with Hearth's settings
// over it at each launch: the chat's model, the permissions of the chat's mode, no
// sharing, no auto-update, no title call. A repository's own `opencode.json` and
// `.opencode/` count for nothing (OPENCODE_DISABLE_PROJECT_CONFIG): they could grant
// themselves what the chat's mode asks about, or add a provider or plugin. Its data, config, state and
// caches (the SQLite database that holds its sessions among them) live under the
// agent's own home on this node, through the four XDG variables; nothing is fetched
// (models, plugins, language servers, updates).
//
// Modes. OpenCode takes what it asks about from its configuration's `permission`, read
// at its start: a chat that changes its mode gets a new process, which resumes the
// session. Hearth's `plan` is OpenCode's plan agent, as the session's default agent,
// which refuses edits unasked and asks before commands.
//
// Usage. Its prompt answer counts the turn's last model call only (its output without
// the reasoning, counted apart); its cost, a running total for the session in USD from
// the model's prices in the configuration, covers every call.
//
// Its own server. `opencode acp` also serves OpenCode's HTTP API on loopback (port 4096
// if free), which runs tools for anyone who can reach it: each launch gets a random
// password for it, which nothing else needs.
//
// Sessions live in its SQLite database, not in files a mirror could carry: a session
// resumes (`session/resume`) where it ran, on the node whose home holds it.

import { randomBytes } from 'node:crypto';
import type { PermissionMode } from '../../../api/views.js';
import { installedFile } from '../../installed-package.js';
import type { AcpAgent } from '../acp-agent.js';
import { opencodeEnv, parseNodeConfig, seedConfigDir } from '../../opencode/opencode-config.js';

/** OpenCode's native binary, installed with Hearth's `opencode-ai` package, if it is. */
export function opencodePath(): string | null {
  return installedFile('opencode-ai', 'bin', 'opencode.exe');
}

type Permission = Record<string, 'ask' | 'allow' | 'deny'>;

/** Asks before an edit, a command, a fetch, or anything outside the worktree. */
const ASKS: Permission = { edit: 'ask', bash: 'ask', webfetch: 'ask', external_directory: 'ask' };

/**
 * OpenCode's `permission` for each of Hearth's permission modes it serves. In `plan` its
 * plan agent's own rules refuse every edit but of its plan files: a rule for edits here
 * would stand over them.
 */
export const OPENCODE_PERMISSIONS: Partial<Record<PermissionMode, Permission>> = {
  default: ASKS,
  plan: { bash: 'ask', webfetch: 'ask', external_directory: 'ask' },
  acceptEdits: { ...ASKS, edit: 'allow' },
  bypassPermissions: { '*': 'allow' },
};


/**
 * The configuration of one launch: the node's OPENCODE_CONFIG_CONTENT (a JSON object),
 * with Hearth's settings over it. Throws, naming the variable, when it is no JSON object.
 */
export function opencodeConfig(nodeConfig: string | undefined, model: string | null, mode: PermissionMode | null): Record<string, unknown> {
  const node = parseNodeConfig(nodeConfig) as Record<string, unknown>;
  const permission = OPENCODE_PERMISSIONS[mode ?? 'default'] ?? ASKS;
  const agents = objectOr(node.agent);
  return {
    ...node,
    ...(model ? { model } : {}),
    permission,
    // No title call: a model call of its own at each session's start, for a title Hearth does not show.
    agent: { ...agents, title: { ...objectOr(agents.title), disable: true } },
    ...(mode === 'plan' ? { default_agent: 'plan' } : {}),
    autoupdate: false,
    share: 'disabled',
  };
}

function objectOr(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export const opencode: AcpAgent = {
  envPrefixes: ['OPENCODE_'],
  launch: async ({ installPath, env, home, worktreePath, model, permissionMode }) => {
    const config = opencodeConfig(env.OPENCODE_CONFIG_CONTENT, model, permissionMode);
    // Under another user the seeded directory is the server's: OpenCode, unable to write there, installs nothing either.
    await seedConfigDir(home);
    return {
      command: installPath,
      args: ['acp', '--cwd', worktreePath],
      env: {
        ...opencodeEnv(env, home, JSON.stringify(config)),
        OPENCODE_SERVER_PASSWORD: randomBytes(24).toString('base64url'),
      },
    };
  },
  modeAtLaunch: true,
  // Its cost is the session's running total, kept with the session in its database.
  costIsSessionTotal: true,
  // Its output tokens leave out the reasoning, which it counts apart (`thoughtTokens`); the model's output holds both.
  usage: (response) => {
    const u = response.usage as { inputTokens?: unknown; outputTokens?: unknown; thoughtTokens?: unknown; cachedReadTokens?: unknown; cachedWriteTokens?: unknown } | null | undefined;
    if (!u) return null;
    const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    return { inputTokens: n(u.inputTokens), outputTokens: n(u.outputTokens) + n(u.thoughtTokens), cachedReadTokens: n(u.cachedReadTokens), cachedWriteTokens: n(u.cachedWriteTokens) };
  },
};
