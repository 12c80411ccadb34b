import type { PermissionRequestData, PermissionResolvedData } from '../api/events.js';
import type { PermissionAnswer, PermissionRequestView } from '../api/permissions.js';
import type { HearthApi } from './api-client.js';
import { answerCommands, outcomeLine, requestHeadline, requestLines, type OutcomeShown } from './permission-lines.js';
import { promptAnswer, type Terminal } from './permission-prompt.js';
import { printable, type Style } from './render.js';

/** Where the person is: at this terminal, asked here; or elsewhere, told how to answer from any client. */
export type AskWhere = { kind: 'terminal'; terminal: Terminal; onInterrupt: () => void } | { kind: 'elsewhere' };

/** Where the turn is printed: lines apart from anything else, and whether a tool call's changes are on the screen already. */
export interface Notices {
  block(lines: string[]): void;
  showedChanges(toolCallId: string | null): boolean;
}

/**
 * Each request of a turn on its way: waiting its turn to be asked, being asked, its answer
 * on its way to the server, waiting for an answer from any client (or for the stop
 * Ctrl-C asked for), or over.
 */
type Entry =
  | { state: 'queued'; request: PermissionRequestData }
  | { state: 'asking'; request: PermissionRequestData; stop: AbortController; elsewhere: PermissionResolvedData | null }
  | { state: 'posting'; request: PermissionRequestData; elsewhere: PermissionResolvedData | null }
  | { state: 'waiting'; request: PermissionRequestData }
  | { state: 'done'; request: PermissionRequestData };

/**
 * The permission requests of one turn as `hearth send` meets them. On a terminal each is
 * asked in turn and the answer posted; elsewhere each is shown with the commands that
 * answer it, and the turn waits for an answer from any client. Whatever answers first,
 * the outcome is shown once: a request resolved elsewhere ends its question, and an
 * answer that lost (409) says what it lost to.
 */
export class TurnPermissions {
  private readonly entries = new Map<string, Entry>();
  private readonly queue: string[] = [];
  private asking: Promise<void> | null = null;

  constructor(
    private readonly api: Pick<HearthApi, 'answerPermission'>,
    private readonly chatId: string,
    private readonly where: AskWhere,
    private readonly notices: Notices,
    private readonly style: Style,
  ) {}

  requested(request: PermissionRequestData): void {
    if (this.entries.has(request.requestId)) return;
    if (this.where.kind === 'elsewhere') {
      this.entries.set(request.requestId, { state: 'waiting', request });
      this.notices.block([...this.lines(request), ...this.howToAnswer(request)]);
      return;
    }
    this.entries.set(request.requestId, { state: 'queued', request });
    this.queue.push(request.requestId);
    this.startAsking();
  }

  resolved(resolved: PermissionResolvedData): void {
    const entry = this.entries.get(resolved.requestId);
    if (!entry) return;
    switch (entry.state) {
      case 'queued':
        // Never asked here, so never shown: its headline goes with its outcome.
        this.entries.set(resolved.requestId, { state: 'done', request: entry.request });
        this.notices.block([this.style.bold(requestHeadline(entry.request)), this.outcome(entry.request, resolved, true)]);
        break;
      case 'waiting':
        this.entries.set(resolved.requestId, { state: 'done', request: entry.request });
        this.notices.block([this.outcome(entry.request, resolved, false)]);
        break;
      case 'asking':
      case 'posting':
        // The question's end or the answer's reply shows it, so nothing is printed over the question.
        entry.elsewhere = resolved;
        if (entry.state === 'asking') entry.stop.abort();
        break;
      case 'done':
        break;
    }
  }

  /** Stops asking: the turn is over, or `hearth send` leaves before its end. */
  async close(): Promise<void> {
    this.queue.length = 0;
    for (const entry of this.entries.values()) if (entry.state === 'asking') entry.stop.abort();
    await this.asking;
  }

  private startAsking(): void {
    this.asking ??= this.askQueued()
      .catch((err: unknown) => this.notices.block([this.style.red(`✗ could not ask here: ${printable(err instanceof Error ? err.message : String(err))}`)]))
      .finally(() => {
        this.asking = null;
        // A request that came as the last question ended.
        if (this.queue.length > 0) this.startAsking();
      });
  }

  private async askQueued(): Promise<void> {
    if (this.where.kind !== 'terminal') return;
    const { terminal, onInterrupt } = this.where;
    for (let id = this.queue.shift(); id !== undefined; id = this.queue.shift()) {
      const queued = this.entries.get(id);
      if (queued?.state !== 'queued') continue;
      const { request } = queued;
      const entry: Entry & { state: 'asking' } = { state: 'asking', request, stop: new AbortController(), elsewhere: null };
      this.entries.set(id, entry);
      this.notices.block(this.lines(request));
      const result = await promptAnswer(request, terminal, this.style, entry.stop.signal, onInterrupt);
      if (entry.elsewhere) {
        this.entries.set(id, { state: 'done', request });
        this.notices.block([this.outcome(request, entry.elsewhere, true)]);
      } else if (result.state === 'answered') {
        await this.post(request, result.answer);
      } else if (result.state === 'left' || result.state === 'interrupted') {
        this.entries.set(id, { state: 'waiting', request });
        // Interrupted, the turn is stopping: its end says how the request ended.
        if (result.state === 'left') this.notices.block(this.howToAnswer(request));
      }
    }
  }

  private async post(request: PermissionRequestData, answer: PermissionAnswer): Promise<void> {
    const entry: Entry & { state: 'posting' } = { state: 'posting', request, elsewhere: null };
    this.entries.set(request.requestId, entry);
    try {
      const result = await this.api.answerPermission(this.chatId, request.requestId, answer);
      this.entries.set(request.requestId, { state: 'done', request });
      const ended = outcomeOf(result.request);
      if (!ended) return;
      const line = outcomeLine(request, ended, this.style);
      this.notices.block([result.state === 'taken' ? line : `${line}${this.style.dim(' (answered elsewhere first)')}`]);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (entry.elsewhere) {
        this.entries.set(request.requestId, { state: 'done', request });
        this.notices.block([this.outcome(request, entry.elsewhere, true)]);
        return;
      }
      this.entries.set(request.requestId, { state: 'waiting', request });
      this.notices.block([this.style.red(`✗ the answer could not be given: ${printable(why)}`), ...this.howToAnswer(request)]);
    }
  }

  private lines(request: PermissionRequestData): string[] {
    return requestLines(request, this.style, this.notices.showedChanges(request.toolCallId));
  }

  private outcome(request: PermissionRequestData, resolved: PermissionResolvedData, elsewhere: boolean): string {
    const line = outcomeLine(request, resolved, this.style);
    const byPerson = resolved.outcome === 'allowed' || resolved.outcome === 'denied' || resolved.outcome === 'answered';
    return elsewhere && byPerson ? `${line}${this.style.dim(' (answered elsewhere)')}` : line;
  }

  private howToAnswer(request: PermissionRequestData): string[] {
    return [
      this.style.dim(`  waiting for an answer from any client (chat ${printable(this.chatId)}, request ${printable(request.requestId)}):`),
      ...answerCommands(this.chatId, request.requestId, request).map((c) => `    ${c}`),
    ];
  }
}

/** How an answered request ended, as its view says; null while it still waits. */
export function outcomeOf(view: PermissionRequestView): OutcomeShown | null {
  if (view.status === 'pending') return null;
  return { outcome: view.status, optionId: view.optionId, message: view.message, answers: view.answers };
}
