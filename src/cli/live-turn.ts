import type { StreamEvent } from './api-client.js';
import { contextShare, diffBlock, diffFits, errorLine, modeLine, planLines, printable, PrintableStream, styleFor, toolCallLine, toolResultLine, type Style } from './render.js';

type Out = { write(chunk: string): unknown; isTTY?: boolean };

/**
 * Prints one turn's events as they arrive: the reply's text raw on stdout, tool calls (with
 * a short diff for edits), their results and the plan as compact lines between it,
 * thinking, status notices, mode changes and errors on
 * stderr. With `json`, every event is one line of JSON on stdout instead, exactly as sent.
 * Text from the server reaches the terminal only through `printable`.
 */
export class LiveTurnPrinter {
  /** Whether each stream has a line left open, to be ended before the next whole line. */
  private readonly open = { out: false, err: false };
  private readonly style: Style;
  private readonly errStyle: Style;
  /** When both go to one terminal, a line on one stream must first end the other's. */
  private readonly sharedTerminal: boolean;
  private readonly errorsShown = new Set<string>();
  /** Tool calls whose changes were shown whole on the terminal stderr shares. */
  private readonly changesShown = new Set<string>();
  private thinking = false;
  /** How full the agent's context window last was, shown once the turn ends. */
  private context: { used: number; size: number } | null = null;
  /** The reply's and the thinking's text, which arrive in pieces. */
  private readonly reply = new PrintableStream();
  private readonly thoughts = new PrintableStream();

  constructor(
    private readonly out: Out,
    private readonly err: Out,
    private readonly json: boolean,
  ) {
    this.style = styleFor(out);
    this.errStyle = styleFor(err);
    this.sharedTerminal = Boolean(out.isTTY && err.isTTY);
  }

  handle(event: StreamEvent): void {
    if (this.json) {
      this.out.write(JSON.stringify({ id: event.id, event: event.event, data: event.data }) + '\n');
      if (event.event === 'turn_end' && !event.data.ok && event.data.code !== 'aborted') {
        this.err.write(`hearth: the turn failed: ${printable(String(event.data.error))}\n`);
      }
      return;
    }
    if (event.event !== 'text_delta') this.raw('out', this.reply.end());
    if (this.thinking && event.event !== 'thinking_delta') this.endThinking();
    switch (event.event) {
      case 'text_delta':
        this.raw('out', this.reply.push(String(event.data.text ?? '')));
        break;
      case 'thinking_delta':
        if (!this.thinking) {
          this.thinking = true;
          this.end('err');
          this.raw('err', this.errStyle.dim('✻ '));
        }
        this.dimRaw(this.thoughts.push(String(event.data.text ?? '')));
        break;
      case 'tool_call': {
        const call = event.data;
        this.line('out', toolCallLine(String(call.name), call.input, call.title));
        for (const diff of call.diffs ?? []) for (const line of diffBlock(diff, this.style)) this.line('out', line);
        if (this.sharedTerminal && call.diffs?.length && call.diffs.every((d) => diffFits(d))) this.changesShown.add(call.id);
        break;
      }
      case 'tool_result':
        this.line('out', toolResultLine(String(event.data.output ?? ''), event.data.isError === true, this.style));
        break;
      case 'plan':
        for (const line of planLines(event.data.entries ?? [], event.data.text, this.style)) this.line('out', line);
        break;
      case 'mode':
        this.line('err', modeLine(String(event.data.mode), this.errStyle));
        break;
      case 'status': {
        const { message, position } = event.data;
        this.line('err', this.errStyle.dim(`· ${printable(String(message))}${typeof position === 'number' ? ` (position ${position})` : ''}`));
        break;
      }
      case 'error': {
        const message = String(event.data.message);
        // An agent may report one failure twice (as its reply and as its result).
        if (this.errorsShown.has(message)) break;
        this.errorsShown.add(message);
        this.line('err', errorLine(message, this.errStyle));
        break;
      }
      case 'context':
        this.context = { used: Number(event.data.used) || 0, size: Number(event.data.size) || 0 };
        break;
      case 'turn_end': {
        const end = event.data;
        if (end.ok) {
          if (this.context && this.context.size > 0) this.line('err', this.errStyle.dim(`· context ${contextShare(this.context)}`));
          break;
        }
        if (end.code === 'aborted') this.line('err', this.errStyle.dim('· stopped'));
        else if (!this.errorsShown.has(String(end.error))) this.line('err', errorLine(`the turn failed: ${String(end.error)}`, this.errStyle));
        else this.line('err', this.errStyle.dim(`· the turn failed (${printable(String(end.code))})`));
        break;
      }
      // The user's own message, partial tool input, tool updates, the assembled assistant
      // message and usage repeat what is shown already; permission requests and their
      // outcomes are shown by whoever asks the person (TurnPermissions), through `block`.
    }
  }

  /** Writes a line of its own, apart from anything else on the terminal. */
  note(text: string): void {
    this.line('err', this.errStyle.dim(printable(text)));
  }

  /** Whether the tool call's changes are on the screen whole already, where stderr's lines go too. */
  showedChanges(toolCallId: string | null): boolean {
    return toolCallId !== null && this.changesShown.has(toolCallId);
  }

  /** Lines on stderr of their own, apart from anything else on the terminal; made printable by the caller. */
  block(lines: string[]): void {
    for (const line of lines) this.line('err', line);
  }

  /** Ends whatever line is left open, so the shell prompt starts on its own line. */
  finish(): void {
    this.raw('out', this.reply.end());
    if (this.thinking) this.endThinking();
    this.end('out');
    this.end('err');
  }

  private endThinking(): void {
    this.dimRaw(this.thoughts.end());
    this.thinking = false;
    this.end('err');
  }

  private dimRaw(text: string): void {
    if (text) this.raw('err', this.errStyle.dim(text));
  }

  private raw(stream: 'out' | 'err', text: string): void {
    if (!text) return;
    this.endOther(stream);
    (stream === 'out' ? this.out : this.err).write(text);
    // Styling wraps the text; whether the line is open depends on the text itself.
    this.open[stream] = !text.replace(/\x1b\[\d+m/g, '').endsWith('\n');
  }

  private line(stream: 'out' | 'err', text: string): void {
    this.end(stream);
    this.endOther(stream);
    (stream === 'out' ? this.out : this.err).write(text + '\n');
  }

  private end(stream: 'out' | 'err'): void {
    if (!this.open[stream]) return;
    (stream === 'out' ? this.out : this.err).write('\n');
    this.open[stream] = false;
  }

  private endOther(stream: 'out' | 'err'): void {
    if (this.sharedTerminal) this.end(stream === 'out' ? 'err' : 'out');
  }
}
