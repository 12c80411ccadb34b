import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config, PermissionRuleset } from '@opencode-ai/sdk/v2';
import { writeAtomically } from '../../util/write-atomically.js';
import { packageVersion } from '../installed-package.js';
import type { PermissionMode } from '../../api/views.js';

/**
 * What Hearth makes of OpenCode's configuration: the server's (through
 * `OPENCODE_CONFIG_CONTENT`), and each session's permission rules and agent for the
 * chat's permission mode.
 */

/** Variables OpenCode reads that the node's environment may set (its own, and its providers' keys through its config). */
export const OPENCODE_ENV_PREFIXES = ['OPENCODE_'] as const;

/**
 * Variables that would bring in configuration, permissions or a database other than
 * Hearth's: OpenCode is given its whole configuration in OPENCODE_CONFIG_CONTENT.
 */
const STRAYS = ['OPENCODE_CONFIG', 'OPENCODE_CONFIG_DIR', 'OPENCODE_PERMISSION', 'OPENCODE_DB', 'OPENCODE_TUI_CONFIG', 'OPENCODE_TEST_HOME', 'OPENCODE_TEST_MANAGED_CONFIG_DIR'];

/** OpenCode's data, config, state and cache directories, all in the agent's home: the SQLite database of its sessions among them. */
export function opencodeDirs(home: string): { XDG_DATA_HOME: string; XDG_CONFIG_HOME: string; XDG_STATE_HOME: string; XDG_CACHE_HOME: string } {
  return {
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_STATE_HOME: path.join(home, 'state'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
  };
}

/**
 * Readies OpenCode's own configuration directory so that it downloads nothing. At each
 * start OpenCode installs its plugin SDK (`@opencode-ai/plugin`) into that directory
 * from the npm registry, unless the directory has a `node_modules` and its
 * `package.json` and `package-lock.json` both name the package. Hearth loads no plugins,
 * so the SDK is never needed; the files say it is there. Returns what it wrote, for a
 * caller that must give it to the agents' user.
 */
export async function seedConfigDir(home: string): Promise<string[]> {
  const dir = path.join(opencodeDirs(home).XDG_CONFIG_HOME, 'opencode');
  const modules = path.join(dir, 'node_modules');
  await mkdir(modules, { recursive: true, mode: 0o700 });
  const dependencies = { '@opencode-ai/plugin': packageVersion('opencode-ai') ?? '*' };
  const manifest = path.join(dir, 'package.json');
  const lock = path.join(dir, 'package-lock.json');
  await writeAtomically(manifest, JSON.stringify({ private: true, dependencies }, null, 2));
  await writeAtomically(lock, JSON.stringify({ lockfileVersion: 3, requires: true, packages: { '': { dependencies } } }, null, 2));
  return [path.dirname(dir), dir, modules, manifest, lock];
}

/**
 * The environment of an OpenCode process, on either road: the allowlisted one without the
 * strays, its directories in the agent's home, Hearth's configuration, and nothing
 * fetched (models, plugins, language servers, updates). A repository's own
 * `opencode.json` and `.opencode/` count for nothing: they could grant themselves what
 * the chat's mode asks about, or add a provider or a plugin that runs unasked.
 */
export function opencodeEnv(base: Record<string, string>, home: string, config: string): Record<string, string> {
  const rest = Object.fromEntries(Object.entries(base).filter(([name]) => !STRAYS.includes(name)));
  return {
    ...rest,
    ...opencodeDirs(home),
    OPENCODE_CONFIG_CONTENT: config,
    OPENCODE_DISABLE_PROJECT_CONFIG: '1',
    OPENCODE_DISABLE_AUTOUPDATE: '1',
    OPENCODE_DISABLE_MODELS_FETCH: '1',
    OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
    OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
  };
}

/**
 * The server's configuration: the node's own (`OPENCODE_CONFIG_CONTENT` where the node
 * sets one: its providers and default model) under Hearth's settings, which always win.
 * Sharing and updates are off, and every tool that changes something asks: a session's
 * rules (`sessionPermission`) open up what its chat's mode allows.
 */
export function serverConfig(nodeConfig: string | undefined): Config {
  const base = parseNodeConfig(nodeConfig);
  return {
    ...base,
    share: 'disabled',
    autoshare: false,
    autoupdate: false,
    permission: { ...objectOf(base.permission), edit: 'ask', bash: 'ask', webfetch: 'ask', external_directory: 'ask', doom_loop: 'ask' },
  };
}

/** The node's configuration JSON; a value that is not a JSON object is refused with what is wrong with it. */
export function parseNodeConfig(text: string | undefined): Config {
  if (text === undefined || text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`OPENCODE_CONFIG_CONTENT is not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('OPENCODE_CONFIG_CONTENT is not a JSON object');
  return parsed as Config;
}

function objectOf(permission: Config['permission']): Record<string, unknown> {
  return permission && typeof permission === 'object' ? permission : {};
}

/**
 * A session's permission rules for Hearth's mode. OpenCode takes the last rule that
 * matches, and a session's rules come after the server's and the agent's: each set
 * starts with a rule for everything, so it replaces whatever set came before it.
 * `default` asks before edits and commands; `acceptEdits` and `auto` let edits through;
 * `bypassPermissions` lets everything through (the agent's questions still go to a
 * person: the rule lets the question tool run); `dontAsk` refuses what would ask; `plan` leaves OpenCode's
 * plan agent its own rules (edits refused but to its plan), and asks before commands.
 */
export function sessionPermission(mode: PermissionMode | null): PermissionRuleset {
  const all = (action: 'allow' | 'ask' | 'deny'): PermissionRuleset => [{ permission: '*', pattern: '*', action }];
  const rule = (permission: string, action: 'allow' | 'ask' | 'deny') => ({ permission, pattern: '*', action });
  const asking = [rule('edit', 'ask'), rule('bash', 'ask'), rule('webfetch', 'ask'), rule('external_directory', 'ask'), rule('doom_loop', 'ask')];
  switch (mode ?? 'default') {
    case 'bypassPermissions':
      return all('allow');
    case 'acceptEdits':
    case 'auto':
      return [...all('allow'), ...asking.filter((r) => r.permission !== 'edit'), rule('question', 'allow')];
    case 'dontAsk':
      return [...all('allow'), ...asking.map((r) => ({ ...r, action: 'deny' as const })), rule('question', 'deny')];
    case 'plan':
      return [];
    default:
      return [...all('allow'), ...asking, rule('question', 'allow')];
  }
}

/** OpenCode's agent for Hearth's mode: its `plan` agent for plan mode, its `build` agent otherwise. */
export function agentFor(mode: PermissionMode | null): 'plan' | 'build' {
  return mode === 'plan' ? 'plan' : 'build';
}

/** A chat's model as OpenCode names it (`provider/model`); null for the server's default, a bad name refused. */
export function modelRef(model: string | null): { providerID: string; modelID: string } | null {
  if (model === null || model === '') return null;
  const slash = model.indexOf('/');
  if (slash <= 0 || slash === model.length - 1) throw new Error(`OpenCode names a model provider/model; "${model}" is not such a name`);
  return { providerID: model.slice(0, slash), modelID: model.slice(slash + 1) };
}
