import { createInterface } from 'node:readline/promises';
import type { HearthApi } from '../api-client.js';
import { resolveChatId } from '../chat-ref.js';
import { CliError, UsageError } from '../errors.js';
import { oneLine, printable, shortPath } from '../render.js';

/**
 * Deletes a chat: its running turn is stopped, its history and worktree removed; its
 * branch stays in the repository. Asked first on a terminal; elsewhere (a script, a pipe)
 * only with --yes, so it neither waits for an answer nobody gives nor deletes unasked.
 */
export async function deleteChat(api: HearthApi, ref: string, options: { yes: boolean; json: boolean }): Promise<number> {
  const chatId = await resolveChatId(api, ref);
  if (!options.yes) {
    if (!process.stdin.isTTY || !process.stderr.isTTY) {
      throw new UsageError(`not deleting chat ${chatId} unasked: confirm with --yes (there is no terminal to ask on)`);
    }
    const chat = await api.getChat(chatId);
    const what = [
      `Delete chat ${chatId.slice(0, 8)} "${oneLine(chat.title || shortPath(chat.repoPath), 60)}"?`,
      chat.busy ? 'Its running turn is stopped; its' : 'Its',
      chat.worktreePath
        ? `history and its worktree ${printable(chat.worktreePath)} are removed, uncommitted changes included;`
        : 'history is removed;',
      chat.branch ? `the branch ${printable(chat.branch)} stays.` : '',
    ].join(' ');
    if (!(await confirm(`${what.trimEnd()} [y/N] `))) throw new CliError('not deleted');
  }
  await api.deleteChat(chatId);
  process.stdout.write(options.json ? JSON.stringify({ id: chatId, deleted: true }) + '\n' : `deleted chat ${chatId}\n`);
  return 0;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    // Ctrl-C and Ctrl-D answer no rather than leaving the question open.
    rl.on('SIGINT', () => rl.close());
    const answer = await new Promise<string>((resolve) => {
      rl.once('close', () => resolve(''));
      rl.question(question).then(resolve, () => resolve(''));
    });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
