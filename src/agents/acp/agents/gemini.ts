// Gemini CLI as an ACP agent (`gemini --acp`).
//
// Its home is the agent's own directory on this node: HOME points there, and
// `.gemini/settings.json` in it is Hearth's, rewritten at every launch (through a
// temporary file and a rename, since concurrent chats share the home): API-key auth,
// no telemetry, no usage statistics, no auto-update, no session clean-up, and the
// default approval mode, in which edits and shell commands are asked about through
// `session/request_permission`. The same file is also gemini's system settings
// (GEMINI_CLI_SYSTEM_SETTINGS_PATH), which win over any other, a machine's or a
// repository's.
//
// The worktree is an untrusted folder to it (GEMINI_CLI_TRUST_WORKSPACE=false), so a
// repository's own `.gemini` (settings, policies that allow tools unasked, hooks, agents)
// counts for nothing, except in a session that opens in `acceptEdits` or
// `bypassPermissions`: gemini refuses its `autoEdit` and `yolo` in an untrusted folder, so
// such a session trusts the worktree. A chat that moves into one of those modes gets a new
// process (the running one refuses the mode); one that moves back out keeps its trusted
// process until it next starts.
//
// What is mirrored
// ----------------
// Gemini CLI keeps a conversation in `tmp/<project>/chats/session-<minute>-<id8>.jsonl`
// under `.gemini`, where `<project>` is a slug it picks for the working directory and
// marks with `tmp/<project>/.project_root` (the directory's path), `<minute>` the
// minute the file was made, and `<id8>` the session id's first eight characters; a
// subagent's chats lie in `chats/<session id>/`. All of these, and the marker, are
// mirrored: on an empty home the restored marker is how gemini finds its slug again
// (its `projects.json` registry is shared by every chat and not mirrored).
//
// What its load does
// ------------------
// It offers `session/load` only. The load first starts a recording of its own, in a
// file named for the current minute: when that is the minute the history file was made,
// the two are one file, the new recording's start is appended to it and wipes the
// history, and the load answers "No previous sessions found for this project."
// `prepare` therefore moves the newest history file of the session, before every load,
// to a name of a minute that never comes (1970-01-01T00:00), where the load appends to
// it and the load's own empty file stays beside it, unread. The replay of the history
// goes on after the load answers; the driver waits for it to go quiet. A load that
// still fails fails the session's start.

import { readdir, readFile, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { installedFile } from '../../installed-package.js';
import { writeAtomically } from '../../../util/write-atomically.js';
import { nodeScript, type AcpAgent, type AcpSessionFiles } from '../acp-agent.js';

/** The model when the chat names none: pinned, so gemini's router sends no model call of its own to choose one. */
export const GEMINI_DEFAULT_MODEL = 'gemini-2.5-pro';

/** The entry script of Gemini CLI, installed as one of Hearth's own packages, if it is. */
export function geminiPath(): string | null {
  return installedFile('@google/gemini-cli', 'bundle', 'gemini.js');
}

/** Hearth's settings for gemini. */
export const GEMINI_SETTINGS = {
  security: { auth: { selectedType: 'gemini-api-key' } },
  privacy: { usageStatisticsEnabled: false },
  telemetry: { enabled: false },
  general: {
    enableAutoUpdate: false,
    enableAutoUpdateNotification: false,
    defaultApprovalMode: 'default',
    checkpointing: { enabled: false },
    // Its clean-up deletes a loaded session's history file at the next start.
    sessionRetention: { enabled: false },
  },
  // Where no ripgrep is installed it would fetch one; its own grep serves.
  tools: { useRipgrep: false },
} as const;

function settingsPath(home: string): string {
  return path.join(home, '.gemini', 'settings.json');
}

/** The settings file, written whole through a temporary file, its directory and it owned as the home is. */
async function writeSettings(home: string): Promise<void> {
  const file = settingsPath(home);
  const text = `${JSON.stringify(GEMINI_SETTINGS, null, 2)}\n`;
  if ((await readFile(file, 'utf8').catch(() => null)) === text) return;
  await writeAtomically(file, text, { owner: await stat(home) });
}

const SESSION_PREFIX = 'session-';
/** A minute no recording is ever made in: the history lives under it once a load has been readied. */
const KEPT_MINUTE = '1970-01-01T00-00';

/** The project slugs under `tmp` whose marker names the worktree. */
async function projectsOf(root: string, worktree: string): Promise<string[]> {
  const tmp = path.join(root, 'tmp');
  const wanted = path.resolve(worktree);
  const found: string[] = [];
  for (const slug of await readdir(tmp).catch((): string[] => [])) {
    const marker = await readFile(path.join(tmp, slug, '.project_root'), 'utf8').catch(() => null);
    if (marker !== null && path.resolve(marker.trim()) === wanted) found.push(slug);
  }
  return found;
}

interface ChatFile {
  /** Relative to the root. */
  rel: string;
  /** The newest `lastUpdated` it records. */
  lastUpdated: string;
  /** Whether it holds a reply of the model: a history to go on from. */
  hasReply: boolean;
}

/** Reads a chat file of the session; null when it is another session's (its id's first eight characters are all the name says). */
async function chatFile(root: string, rel: string, sessionId: string): Promise<ChatFile | null> {
  const text = await readFile(path.join(root, rel), 'utf8').catch(() => null);
  if (text === null) return null;
  let mine = false;
  let lastUpdated = '';
  let hasReply = false;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let record: { sessionId?: unknown; lastUpdated?: unknown; type?: unknown; $set?: { lastUpdated?: unknown } };
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof record.sessionId === 'string') mine = record.sessionId === sessionId;
    const updated = record.lastUpdated ?? record.$set?.lastUpdated;
    if (typeof updated === 'string' && updated > lastUpdated) lastUpdated = updated;
    if (record.type === 'gemini') hasReply = true;
  }
  return mine ? { rel, lastUpdated, hasReply } : null;
}

/** The session's chat files (the main one and those of its subagents), relative to the root. */
async function chatFiles(root: string, sessionId: string, worktree: string): Promise<{ main: ChatFile[]; sub: string[]; markers: string[] }> {
  const short = sessionId.slice(0, 8);
  const main: ChatFile[] = [];
  const sub: string[] = [];
  const markers: string[] = [];
  for (const slug of await projectsOf(root, worktree)) {
    markers.push(path.join('tmp', slug, '.project_root'));
    const chats = path.join('tmp', slug, 'chats');
    for (const name of await readdir(path.join(root, chats)).catch((): string[] => [])) {
      if (!name.startsWith(SESSION_PREFIX) || !(name.endsWith(`-${short}.jsonl`) || name.endsWith(`-${short}.json`))) continue;
      const file = await chatFile(root, path.join(chats, name), sessionId);
      if (file) main.push(file);
    }
    const below: string[] = await readdir(path.join(root, chats, sessionId), { recursive: true }).catch(() => []);
    for (const rel of below) if (rel.endsWith('.jsonl') || rel.endsWith('.json')) sub.push(path.join(chats, sessionId, rel));
  }
  return { main, sub, markers };
}

export const geminiSessionFiles: AcpSessionFiles = {
  root: (env) => path.join(env.HOME ?? '', '.gemini'),
  list: async (root, sessionId, worktree) => {
    const { main, sub, markers } = await chatFiles(root, sessionId, worktree);
    return main.length || sub.length ? [...markers, ...main.map((f) => f.rel), ...sub] : [];
  },
  prepare: async (root, sessionId, worktree) => {
    const { main } = await chatFiles(root, sessionId, worktree);
    const newest = main.filter((f) => f.hasReply).sort((a, b) => (a.lastUpdated < b.lastUpdated ? 1 : a.lastUpdated > b.lastUpdated ? -1 : 0))[0];
    if (!newest) return;
    const kept = path.join(path.dirname(newest.rel), `${SESSION_PREFIX}${KEPT_MINUTE}-${sessionId.slice(0, 8)}.jsonl`);
    if (newest.rel.endsWith('.jsonl') && newest.rel !== kept) await rename(path.join(root, newest.rel), path.join(root, kept));
  },
};

/** Gemini CLI names a call `<tool>__<id>`; the title it shows is the call's description, not the tool. */
function toolName({ toolCallId }: { toolCallId: string }): string | null {
  const cut = toolCallId.lastIndexOf('__');
  return cut > 0 ? toolCallId.slice(0, cut) : null;
}

export const gemini: AcpAgent = {
  envPrefixes: ['GEMINI_', 'GOOGLE_'],
  launch: async ({ installPath, env, home, model, permissionMode }) => {
    await writeSettings(home);
    // Its own home variable would move `.gemini` away from the home given here.
    const rest = Object.fromEntries(Object.entries(env).filter(([name]) => name !== 'GEMINI_CLI_HOME'));
    return nodeScript(
      installPath,
      {
        ...rest,
        HOME: home,
        GEMINI_CLI_SYSTEM_SETTINGS_PATH: settingsPath(home),
        GEMINI_CLI_TRUST_WORKSPACE: permissionMode === 'acceptEdits' || permissionMode === 'bypassPermissions' ? 'true' : 'false',
        // One process: without it gemini starts a second Node with more memory and relays to it.
        GEMINI_CLI_NO_RELAUNCH: 'true',
        GEMINI_MODEL: model ?? GEMINI_DEFAULT_MODEL,
      },
      ['--acp'],
    );
  },
  sessionFiles: geminiSessionFiles,
  modes: { default: 'default', acceptEdits: 'autoEdit', bypassPermissions: 'yolo', plan: 'plan' },
  toolName,
  // Its prompt answer has no `usage`; the turn's tokens are in `_meta.quota`, with no cache figures.
  usage: (response) => {
    const count = (response._meta?.quota as { token_count?: { input_tokens?: unknown; output_tokens?: unknown } } | undefined)?.token_count;
    if (!count) return null;
    return { inputTokens: Number(count.input_tokens) || 0, outputTokens: Number(count.output_tokens) || 0 };
  },
  replaysAfterLoad: true,
  // It reads through its own file system: an error of the client's read reaches it as no
  // Error, so it never takes a missing file for one and cannot write a new file. Its
  // writes inside the worktree still come through the client, confined there.
  clientFs: { readTextFile: false, writeTextFile: true },
};
