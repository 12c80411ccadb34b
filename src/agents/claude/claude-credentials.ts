import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { claudeConfigDir } from './pty/local-transcript.js';
import { claudeLoginFile, credentialsHelp } from './claude-login.js';

/** Something about the server a person should fix, shown in /health and by the web UI. */
export interface RuntimeWarning {
  code: 'no_credentials';
  message: string;
}

/** Variables that carry a credential Claude Code uses as it is. */
const CREDENTIAL_VARS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'] as const;
/** Switches to a cloud provider, which brings credentials of its own. */
const PROVIDER_SWITCHES = ['CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX', 'CLAUDE_CODE_USE_FOUNDRY'] as const;

/**
 * Where Claude Code, started with this environment, finds credentials, in words for the
 * log; null when it finds none and every turn would fail with "Not logged in". A login
 * is a file on Linux (claudeLoginFile); on macOS it is kept in the Keychain, which is not
 * looked into, so a login is assumed there.
 */
export async function claudeCredentialSource(
  env: Record<string, string | undefined>,
  platform: NodeJS.Platform = process.platform,
): Promise<string | null> {
  const named = CREDENTIAL_VARS.find((name) => env[name]);
  if (named) return named;
  const provider = PROVIDER_SWITCHES.find((name) => truthy(env[name]));
  if (provider) return provider;
  const login = claudeLoginFile(env);
  if (await isFile(login)) return `the claude login in ${login}`;
  const settings = path.join(claudeConfigDir(env), 'settings.json');
  const fromSettings = await settingsCredential(settings);
  if (fromSettings) return `${fromSettings} in ${settings}`;
  if (platform === 'darwin') return 'a claude login in the macOS Keychain, if there is one';
  return null;
}

/** The warning about the agents' credentials, or none when Claude Code has some. */
export async function credentialWarnings(env: Record<string, string | undefined>): Promise<RuntimeWarning[]> {
  if (await claudeCredentialSource(env)) return [];
  return [{ code: 'no_credentials', message: noCredentialsMessage(env) }];
}

export function noCredentialsMessage(env: Record<string, string | undefined>): string {
  return `The agents have no Claude credentials: every turn will fail with "Not logged in". ${credentialsHelp(env)}`;
}

/** Claude Code's own settings can name a key helper or set a credential variable. */
async function settingsCredential(file: string): Promise<string | null> {
  let settings: { apiKeyHelper?: unknown; env?: Record<string, unknown> };
  try {
    settings = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
  if (typeof settings?.apiKeyHelper === 'string' && settings.apiKeyHelper) return 'apiKeyHelper';
  const env = settings?.env && typeof settings.env === 'object' ? settings.env : {};
  const text = (name: string) => (typeof env[name] === 'string' ? env[name] : undefined);
  return CREDENTIAL_VARS.find((name) => text(name)) ?? PROVIDER_SWITCHES.find((name) => truthy(text(name))) ?? null;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && !['', '0', 'false', 'no'].includes(value.trim().toLowerCase());
}
