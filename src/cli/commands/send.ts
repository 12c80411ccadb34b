import type { HearthApi } from '../api-client.js';
import { resolveChatId } from '../chat-ref.js';
import { UsageError } from '../errors.js';
import { LiveTurnPrinter } from '../live-turn.js';
import { styleFor } from '../render.js';
import { TurnPermissions } from '../turn-permissions.js';

export interface SendOptions {
  /** The agent the message is for; the chat's own when absent. */
  agent?: string;
  backend?: string;
  json: boolean;
}

/** How long Ctrl-C waits for the stopped turn's turn_end before leaving anyway. */
const STOP_GRACE_MS = 5_000;

export const EXIT_ABORTED = 130;

/**
 * Sends a message and streams the reply until its turn ends. The chat's last event number
 * is read before posting, so following from there shows this turn whole and nothing older.
 * The agent's permission requests are asked on the terminal where there is one (stdin and
 * stderr both a terminal); elsewhere they are shown on stderr and the turn waits for an
 * answer from any client.
 */
export async function sendMessage(api: HearthApi, ref: string, words: string[], options: SendOptions): Promise<number> {
  const text = await messageText(words);
  const chatId = await resolveChatId(api, ref);
  const { lastEventId } = await api.getChat(chatId);
  if (!options.json && (await api.demo())) process.stderr.write('(demo mode: the reply comes from a scripted model, not from Claude)\n');
  const { turnId } = await api.sendMessage(chatId, {
    text,
    ...(options.agent ? { agent: options.agent } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
  });
  return followTurn(api, chatId, lastEventId, turnId, new LiveTurnPrinter(process.stdout, process.stderr, options.json));
}

/** Whether a person can be asked here: keys come from a terminal, and questions reach one. */
function atTerminal(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** The text from the arguments, or from stdin for `-` or for no text with stdin piped in. */
async function messageText(words: string[]): Promise<string> {
  const fromStdin = words.length === 0 || (words.length === 1 && words[0] === '-');
  if (fromStdin && words.length === 0 && process.stdin.isTTY) {
    throw new UsageError('no message: give its text as arguments, or pipe it in (hearth send <chat> - < file)');
  }
  let text = words.join(' ');
  if (fromStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8').replace(/\n+$/, '');
  }
  if (text.trim() === '') throw new UsageError('the message is empty');
  return text;
}

/**
 * Prints the turn's events until its turn_end; returns 0 when it succeeded, 1 when it
 * failed, 130 when it was stopped. The first Ctrl-C stops the turn on the server and
 * waits for it to end; a second one leaves at once.
 */
async function followTurn(api: HearthApi, chatId: string, after: number, turnId: string, printer: LiveTurnPrinter): Promise<number> {
  const leave = new AbortController();
  let interrupted = false;
  let grace: NodeJS.Timeout | undefined;
  const onSigint = () => {
    if (interrupted) return leave.abort();
    interrupted = true;
    printer.note('· stopping the turn (Ctrl-C again to leave at once)');
    api.abort(chatId).catch((err: Error) => printer.note(`· could not stop the turn: ${err.message}`));
    grace = setTimeout(() => leave.abort(), STOP_GRACE_MS);
  };
  process.on('SIGINT', onSigint);
  const permissions = new TurnPermissions(
    api,
    chatId,
    atTerminal() ? { kind: 'terminal', terminal: { input: process.stdin, output: process.stderr }, onInterrupt: onSigint } : { kind: 'elsewhere' },
    printer,
    styleFor(process.stderr),
  );
  try {
    for await (const event of api.events(chatId, after, leave.signal)) {
      if (event.data.turnId !== turnId) continue;
      printer.handle(event);
      if (event.event === 'permission_request') permissions.requested(event.data);
      else if (event.event === 'permission_resolved') permissions.resolved(event.data);
      if (event.event !== 'turn_end') continue;
      if (interrupted || (!event.data.ok && event.data.code === 'aborted')) return EXIT_ABORTED;
      return event.data.ok === true ? 0 : 1;
    }
    return 1;
  } catch (err) {
    if (leave.signal.aborted) return EXIT_ABORTED;
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    clearTimeout(grace);
    await permissions.close();
    printer.finish();
  }
}
