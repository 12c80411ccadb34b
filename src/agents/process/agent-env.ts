/**
 * The environment an agent process gets. The agent runs whatever tools the model
 * chooses, so it receives what it needs to work (auth, PATH, HOME, locale, proxy and
 * certificate settings, its own variables) and nothing of Hearth's own: an allowlist,
 * not a blocklist, so a secret added to the server's environment tomorrow stays out.
 */

import { asUserEnv, type AgentUser } from './agent-user.js';

export type EnvSource = Record<string, string | undefined>;

export interface AgentEnvOptions {
  /** Variable name prefixes the agent may see, beyond the common ones. */
  allowPrefixes?: readonly string[];
  /** Names that never pass, even when allowed: the server's configured secrets. */
  secrets?: readonly string[];
}

const COMMON = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TERM',
  'COLORTERM',
  'TMPDIR',
  'TZ',
  'LANG',
  'LANGUAGE',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'GIT_AUTHOR_NAME',
  'GIT_AUTHOR_EMAIL',
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
  'EDITOR',
  'VISUAL',
]);
const COMMON_PREFIXES = ['LC_', 'XDG_'];

/** What Claude Code reads: its API, its own switches, and the clouds it can run on. */
export const CLAUDE_ENV_PREFIXES = [
  'ANTHROPIC_',
  'CLAUDE_',
  'DISABLE_',
  'IS_SANDBOX',
  'MAX_THINKING_TOKENS',
  'MCP_',
  'BASH_',
  'AWS_',
  'CLOUD_ML_REGION',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'VERTEX_',
] as const;

/** Hearth's own settings and the database's: never an agent's business. */
const ALWAYS_SECRET = ['DATABASE_URL', 'HEARTH_TOKEN', 'PGPASSWORD', 'PGPASSFILE', 'PGSERVICEFILE'];
const ALWAYS_SECRET_PREFIXES = ['HEARTH_'];

/** Names listed in HEARTH_SECRET_ENV (comma or space separated). */
export function configuredSecrets(env: EnvSource = process.env): string[] {
  return (env.HEARTH_SECRET_ENV ?? '').split(/[\s,]+/).filter(Boolean);
}

export function agentEnv(source: EnvSource, options: AgentEnvOptions = {}): Record<string, string> {
  const prefixes = [...COMMON_PREFIXES, ...(options.allowPrefixes ?? [])];
  const secrets = new Set([...ALWAYS_SECRET, ...(options.secrets ?? [])]);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (secrets.has(name) || ALWAYS_SECRET_PREFIXES.some((p) => name.startsWith(p))) continue;
    if (COMMON.has(name) || prefixes.some((p) => name.startsWith(p))) out[name] = value;
  }
  return out;
}

/**
 * The environment an agent process gets: the allowlist with the agent's own variables,
 * and as its own user's where it runs as another.
 */
export function agentProcessEnv(
  source: EnvSource,
  allowPrefixes: readonly string[],
  options: { secrets?: readonly string[]; user?: AgentUser | null } = {},
): Record<string, string> {
  const env = agentEnv(source, { allowPrefixes, secrets: options.secrets ?? configuredSecrets() });
  return options.user ? asUserEnv(env, options.user) : env;
}

/** The environment Claude Code gets, on any road. */
export function claudeAgentEnv(source: EnvSource, options: { secrets?: readonly string[]; user?: AgentUser | null } = {}): Record<string, string> {
  return agentProcessEnv(source, CLAUDE_ENV_PREFIXES, options);
}
