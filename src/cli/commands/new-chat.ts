import path from 'node:path';
import { PERMISSION_MODES, type PermissionMode } from '../../api/views.js';
import type { HearthApi } from '../api-client.js';
import { UsageError } from '../errors.js';
import { printable } from '../render.js';

export interface NewChatOptions {
  agent?: string;
  model?: string;
  title?: string;
  permissionMode?: string;
  json: boolean;
}

/** Creates a chat on a repository (its path taken from the working directory) and prints its id. */
export async function newChat(api: HearthApi, repo: string, options: NewChatOptions): Promise<number> {
  const mode = options.permissionMode ? permissionMode(options.permissionMode) : undefined;
  const chat = await api.createChat({
    repoPath: path.resolve(repo),
    ...(options.agent ? { agent: options.agent } : {}),
    ...(options.model ? { model: options.model } : {}),
    ...(options.title !== undefined ? { title: options.title } : {}),
    ...(mode ? { permissionMode: mode } : {}),
  });
  if (options.json) {
    process.stdout.write(JSON.stringify(chat) + '\n');
    return 0;
  }
  // The id alone on the first line, for `id=$(hearth new . | head -1)`.
  process.stdout.write(`${printable(chat.id)}\n`);
  if (chat.branch) process.stdout.write(`branch    ${printable(chat.branch)}\n`);
  if (chat.worktreePath) process.stdout.write(`worktree  ${printable(chat.worktreePath)}\n`);
  return 0;
}

function permissionMode(mode: string): PermissionMode {
  const known = PERMISSION_MODES.find((m) => m === mode);
  if (!known) throw new UsageError(`no permission mode "${mode}": give one of ${PERMISSION_MODES.join(', ')}`);
  return known;
}
