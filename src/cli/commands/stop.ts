import type { HearthApi } from '../api-client.js';
import { resolveChatId } from '../chat-ref.js';

/** Stops the chat's running turn and drops its queued ones. */
export async function stopChat(api: HearthApi, ref: string, options: { json: boolean }): Promise<number> {
  const chatId = await resolveChatId(api, ref);
  const result = await api.abort(chatId);
  if (options.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else if (result.stopped === 0) {
    process.stdout.write('nothing to stop: no turn was running or waiting\n');
  } else {
    process.stdout.write(`stopped ${result.stopped} turn${result.stopped === 1 ? '' : 's'}\n`);
  }
  return 0;
}
