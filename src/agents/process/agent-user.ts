import { execFileSync } from 'node:child_process';
import { accessSync, constants, lchownSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { chown, lchown, readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * The operating-system user agents run as when it is not the server's own: a server
 * running as root hands its agents to an unprivileged user, so what an agent runs can
 * read neither the server's files (its token, the database password) nor its
 * environment, nor leave the cgroup it was put in.
 */
export interface AgentUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

const SETPRIV = '/usr/bin/setpriv';

/** Looks the user up in the system's user database; refuses root and unknown names. */
export function findAgentUser(name: string): AgentUser {
  let entry: string;
  try {
    entry = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split('\n')[0] ?? '';
  } catch {
    throw new Error(`no user "${name}" on this machine`);
  }
  const [login, , uid, gid, , home] = entry.split(':');
  if (!login || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) {
    throw new Error(`the user database gives no usable entry for "${name}"`);
  }
  if (Number(uid) === 0) throw new Error(`"${name}" is root: agents gain nothing by running as it`);
  try {
    accessSync(SETPRIV, constants.X_OK);
  } catch {
    throw new Error(`running agents as another user needs ${SETPRIV} (util-linux)`);
  }
  return { name: login, uid: Number(uid), gid: Number(gid), home: home || '/' };
}

/**
 * The command that runs `command` as the user: setpriv sets the user's ids and groups
 * and then runs it, so whatever wraps this (a cgroup's entry) still runs as root first.
 */
export function runAs(user: AgentUser, command: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: SETPRIV, args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', command, ...args] };
}

/** The agent's environment as that user's: its own home and name, none of the server's per-user directories. */
export function asUserEnv<V extends string | undefined>(env: Record<string, V>, user: AgentUser): Record<string, V | string> {
  const out: Record<string, V | string> = {};
  for (const [name, value] of Object.entries(env)) if (!name.startsWith('XDG_')) out[name] = value;
  return { ...out, HOME: user.home, USER: user.name, LOGNAME: user.name };
}

/** Gives the user these paths themselves (not what is below them). */
export async function giveTo(user: AgentUser, ...paths: string[]): Promise<void> {
  for (const p of paths) await chown(p, user.uid, user.gid);
}

/** Gives the user a directory and everything below it; links are changed, never followed. */
export async function giveTreeTo(user: AgentUser, dir: string): Promise<void> {
  await lchown(dir, user.uid, user.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await giveTreeTo(user, p);
    else await lchown(p, user.uid, user.gid);
  }
}

/** The same, for a spawn that cannot wait. */
export function giveTreeToSync(user: AgentUser, dir: string): void {
  lchownSync(dir, user.uid, user.gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) giveTreeToSync(user, p);
    else lchownSync(p, user.uid, user.gid);
  }
}

/**
 * Whether a configuration directory is one the Agent SDK made for a resume (it writes the
 * stored transcript into a private temporary directory as the server's user and points
 * the agent at it): the agent must own it to read and extend it.
 */
export function isSdkResumeDir(dir: string | undefined): dir is string {
  return dir !== undefined && path.dirname(dir) === tmpdir() && path.basename(dir).startsWith('claude-resume-');
}
