import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { claudeConfigDir } from './pty/local-transcript.js';

/**
 * What Claude Code says when it has no usable credentials: not logged in, a key the API
 * refused, a login that expired or was revoked. Its advice (`/login`) is a command of its
 * own terminal, which a person using Hearth has nowhere to type.
 */
const LOGIN_FAILURE = /Not logged in|Please run \/login|Invalid API key|OAuth token (has expired|has been revoked|revoked)/i;

export function isLoginFailure(message: string): boolean {
  return LOGIN_FAILURE.test(message);
}

/**
 * Where Claude Code on Linux keeps its login: `.credentials.json` in its configuration
 * directory, or in CLAUDE_SECURESTORAGE_CONFIG_DIR when that is set (`~/.claude` when empty).
 */
export function claudeLoginFile(env: Record<string, string | undefined>): string {
  const secure = env.CLAUDE_SECURESTORAGE_CONFIG_DIR;
  const dir = secure === undefined ? claudeConfigDir(env) : secure || path.join(env.HOME || homedir(), '.claude');
  return path.join(dir, '.credentials.json');
}

/** The ways to give the agents credentials that work from Hearth, for agents with this environment. */
export function credentialsHelp(env: Record<string, string | undefined>): string {
  const user = env.USER || env.LOGNAME || userInfo().username;
  const file = claudeLoginFile(env);
  return (
    "What works from Hearth: ANTHROPIC_API_KEY in the server's environment; " +
    'a long-lived token from `claude setup-token` in CLAUDE_CODE_OAUTH_TOKEN; ' +
    `or \`claude\` logged in on this machine as ${user}, the user the agents run as (the login is kept in ${file}). ` +
    'Restart Hearth after setting a variable; `hearth serve --demo` runs without any.'
  );
}

/** A login failure in words a person using Hearth can act on; any other message as it is. */
export function explainLoginFailure(message: string, env: Record<string, string | undefined>): string {
  if (!isLoginFailure(message) || message.includes(credentialsHelp(env))) return message;
  return `Claude Code has no usable credentials (it says: ${message}). ${credentialsHelp(env)}`;
}
