import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Sql } from '../../db/sql.js';
import type { PermissionAsk, PermissionDecision } from '../../agents/contract/driver.js';
import type { AgentEvent, PermissionOption, PermissionRequestData, PermissionResolvedData } from '../../api/events.js';
import {
  optionFor,
  type PermissionAnswer,
  type PermissionOutcome,
  type PermissionRequestView,
  type PermissionRuleView,
  type PermissionStatus,
} from '../../api/permissions.js';
import { withoutUndefined } from '../../api/without-undefined.js';
import { HearthError } from '../errors.js';
import { NothingChanged, type EventLog } from '../event-log.js';
import { matchingRule, type Rule } from './permission-rules.js';

export interface PermissionRelayDeps {
  sql: Sql;
  log: Logger;
  events: EventLog;
  nodeId: string;
  /** How long a request waits for a person before it is denied; null: as long as its turn lives. */
  timeoutMs: number | null;
}

/** The turn a request arises in, as the relay needs it. */
export interface PermissionTurn {
  chatId: string;
  turnId: string;
  agent: string;
  /** Fires when the turn stops: its pending requests are cancelled. */
  signal: AbortSignal;
  /** Takes into the turn's reply an event the relay has logged. */
  folded(event: AgentEvent): void;
  /** Reports a notice of the turn (logged by the turn, not the relay). */
  notice(message: string): void;
}

interface RequestRow {
  id: string;
  chat_id: string;
  turn_id: string;
  agent: string;
  kind: PermissionRequestView['kind'];
  tool: string;
  tool_call_id: string | null;
  input: string;
  options: string;
  details: string | null;
  questions: string | null;
  plan: string | null;
  rule: string | null;
  status: PermissionStatus;
  option_id: string | null;
  message: string | null;
  answers: string | null;
  created_at: Date;
  answered_at: Date | null;
}

/** A request this node's turn waits on, and how to wake it once the request is resolved. */
interface Waiting {
  chatId: string;
  turnId: string;
  /** The request as stored, pending: an answer given here needs no read of it. */
  row: RequestRow;
  settle(resolved: PermissionResolvedData): void;
}

/** The channel answers are announced on. */
const ANSWERED = 'hearth_permission_answered';

const STOPPED = 'the turn was stopped before anyone answered';
const ENDED = 'the turn ended before anyone answered';
const EXPIRED = 'the server stopped while this request waited; its turn was interrupted';

/**
 * Puts agents' requests to people. Each request is a row in PostgreSQL and an event in its
 * chat's log, committed together, so every client sees it at once and after a reload.
 * Whoever answers first wins, decided by a conditional update in the database: the
 * answer, the turn's stop, the timeout and a restart's expiry race on the same row, and
 * the loser learns the winner's outcome. A chat's "always" answers become rules, applied
 * to later requests of the same agent without asking.
 */
export class PermissionRelay {
  private readonly waiting = new Map<string, Waiting>();
  private listening: { unlisten(): Promise<void> } | null = null;

  constructor(private readonly deps: PermissionRelayDeps) {}

  /**
   * Hears answers given through other nodes: each answer is announced when it commits, and
   * a turn of this node that waits on the request is woken with the stored outcome.
   */
  async start(): Promise<void> {
    this.listening = await this.deps.sql.listen(ANSWERED, (requestId) => void this.answeredElsewhere(requestId));
  }

  async close(): Promise<void> {
    await this.listening?.unlisten().catch(() => {});
    this.listening = null;
  }

  private async answeredElsewhere(requestId: string): Promise<void> {
    const waiting = this.waiting.get(requestId);
    if (!waiting) return;
    try {
      const row = await this.stored(requestId);
      if (row && row.status !== 'pending') waiting.settle(resolvedOf(row));
    } catch (err) {
      this.deps.log.warn({ err, requestId }, 'an answer given elsewhere could not be read; the turn waits on');
    }
  }

  /** Asks a person on the turn's behalf and waits for the answer, a rule's, the turn's stop, or the timeout. */
  async ask(turn: PermissionTurn, ask: PermissionAsk): Promise<PermissionDecision> {
    if (turn.signal.aborted) return { outcome: 'cancelled', message: STOPPED };
    const ruled = await this.byRule(turn, ask);
    if (ruled) return ruled;
    const id = randomUUID();
    const createdAt = new Date();
    const request: PermissionRequestData = withoutUndefined({
      turnId: turn.turnId,
      requestId: id,
      kind: ask.kind,
      tool: ask.tool,
      toolCallId: ask.toolCallId,
      input: ask.input,
      options: ask.options,
      details: ask.details,
      questions: ask.questions,
      plan: ask.plan,
      createdAt: createdAt.toISOString(),
    });
    const row: RequestRow = {
      id,
      chat_id: turn.chatId,
      turn_id: turn.turnId,
      agent: turn.agent,
      kind: ask.kind,
      tool: ask.tool,
      tool_call_id: ask.toolCallId,
      input: JSON.stringify(ask.input ?? null),
      options: JSON.stringify(ask.options),
      details: json(ask.details),
      questions: json(ask.questions),
      plan: ask.plan ?? null,
      rule: json(ask.rule),
      status: 'pending',
      option_id: null,
      message: null,
      answers: null,
      created_at: createdAt,
      answered_at: null,
    };
    let wake!: (resolved: PermissionResolvedData) => void;
    const resolved = new Promise<PermissionResolvedData>((r) => (wake = r));
    // Waiting before the request is visible: an answer may come the moment it is.
    this.waiting.set(id, {
      chatId: turn.chatId,
      turnId: turn.turnId,
      row,
      // Once only, and into the reply at once: the turn's stored reply is taken right after it ends.
      settle: (outcome) => {
        if (!this.waiting.delete(id)) return;
        turn.folded({ kind: 'permission_resolved', ...withoutTurn(outcome) });
        wake(outcome);
      },
    });
    try {
      await this.deps.events.appendWith(turn.chatId, 'permission_request', request, (tx) => tx`
        INSERT INTO permission_requests
          (id, chat_id, turn_id, agent, node_id, kind, tool, tool_call_id, input, options, details, questions, plan, rule, created_at)
        VALUES (${id}, ${row.chat_id}, ${row.turn_id}, ${row.agent}, ${this.deps.nodeId}, ${row.kind}, ${row.tool},
          ${row.tool_call_id}, ${row.input}, ${row.options}, ${row.details}, ${row.questions}, ${row.plan}, ${row.rule}, ${createdAt})
        RETURNING id`);
    } catch (err) {
      this.waiting.delete(id);
      this.deps.log.error({ err, chatId: turn.chatId, turnId: turn.turnId, tool: ask.tool }, 'a permission request could not be kept');
      return { outcome: 'cancelled', message: 'the request could not be put to anyone: it could not be stored' };
    }
    const { requestId: _, ...shown } = request;
    turn.folded({ kind: 'permission_request', request: { requestId: id, ...shown } });

    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = this.deps.timeoutMs;
    if (timeoutMs !== null) {
      const seconds = timeoutMs / 1000;
      timer = setTimeout(() => void this.end(turn.chatId, turn.turnId, id, 'timed_out', `nobody answered within ${seconds} s`), timeoutMs);
    }
    const onAbort = () => void this.end(turn.chatId, turn.turnId, id, 'cancelled', STOPPED);
    turn.signal.addEventListener('abort', onAbort, { once: true });
    // Stopped while the request was being stored: no abort event is coming.
    if (turn.signal.aborted) onAbort();
    try {
      return decision(ask.options, await resolved, turn.signal.aborted);
    } finally {
      clearTimeout(timer);
      turn.signal.removeEventListener('abort', onAbort);
      this.waiting.delete(id);
    }
  }

  /** A person's answer. Exactly one answer, stop or timeout wins; the others get 409 with its outcome. */
  async answer(chatId: string, requestId: string, answer: PermissionAnswer): Promise<PermissionRequestView> {
    // A request this node waits on is known here as stored; the update below decides whether it is still pending.
    const local = this.waiting.get(requestId);
    const row = local?.chatId === chatId ? local.row : await this.row(chatId, requestId);
    if (row.status !== 'pending') throw alreadyResolved(row);
    const { option, outcome } = fitAnswer(row, answer);
    const always = option.kind === 'allow_always';
    const rule = always && row.rule ? (JSON.parse(row.rule) as { tool: string; prefix: string | null }) : null;
    const answeredAt = new Date();
    const message = answer.message?.trim() || null;
    const resolved: PermissionResolvedData = withoutUndefined({
      turnId: row.turn_id,
      requestId,
      outcome,
      optionId: option.id,
      message: message ?? undefined,
      answers: answer.answers,
      answeredAt: answeredAt.toISOString(),
    });
    try {
      await this.deps.events.appendWith(
        chatId,
        'permission_resolved',
        resolved,
        (tx) => tx`
          WITH answered AS (
            UPDATE permission_requests
            SET status = ${outcome}, option_id = ${option.id}, message = ${message}, answers = ${json(answer.answers)},
              answered_at = ${answeredAt}
            WHERE id = ${requestId} AND status = 'pending'
            RETURNING id, chat_id, agent
          ),
          kept AS (
            INSERT INTO permission_rules (chat_id, agent, tool, prefix, request_id)
            SELECT chat_id, agent, ${rule?.tool ?? ''}, ${rule?.prefix ?? ''}, id FROM answered WHERE ${rule !== null}
            ON CONFLICT (chat_id, agent, tool, prefix) DO NOTHING
          )
          -- Delivered when the answer commits, to the node whose turn waits.
          SELECT id, pg_notify(${ANSWERED}, id::text) FROM answered`,
        { onlyIfRows: true },
      );
    } catch (err) {
      if (err instanceof NothingChanged) throw alreadyResolved(await this.row(chatId, requestId));
      throw err;
    }
    this.waiting.get(requestId)?.settle(resolved);
    return view({ ...row, status: outcome, option_id: option.id, message, answers: json(answer.answers), answered_at: answeredAt });
  }

  /**
   * Ends a pending request without an answer (stop, timeout, end of turn) and wakes its
   * turn with whatever won: this end, or an answer that came first.
   */
  private async end(chatId: string, turnId: string, requestId: string, outcome: 'cancelled' | 'timed_out', message: string): Promise<void> {
    const answeredAt = new Date();
    const resolved: PermissionResolvedData = { turnId, requestId, outcome, message, answeredAt: answeredAt.toISOString() };
    try {
      await this.deps.events.appendWith(
        chatId,
        'permission_resolved',
        resolved,
        (tx) => tx`
          UPDATE permission_requests SET status = ${outcome}, message = ${message}, answered_at = ${answeredAt}
          WHERE id = ${requestId} AND status = 'pending'
          RETURNING id`,
        { onlyIfRows: true },
      );
      this.waiting.get(requestId)?.settle(resolved);
    } catch (err) {
      // Something else ended it first (an answer, or a restart's expiry seen from here): the turn gets that.
      if (err instanceof NothingChanged) {
        const ended = await this.stored(requestId).catch(() => undefined);
        if (ended && ended.status !== 'pending') this.waiting.get(requestId)?.settle(resolvedOf(ended));
        return;
      }
      // The row could not be ended (the chat is gone, the database); the turn is not kept waiting for it.
      this.deps.log.warn({ err, chatId, requestId, outcome }, 'a permission request could not be ended in the database');
      this.waiting.get(requestId)?.settle(resolved);
    }
  }

  /** Ends whatever the turn still waits on: called once the turn is over, whatever its driver did. */
  async endTurn(turnId: string): Promise<void> {
    const ending = [...this.waiting.entries()].filter(([, w]) => w.turnId === turnId);
    await Promise.all(ending.map(([id, w]) => this.end(w.chatId, turnId, id, 'cancelled', ENDED)));
  }

  /** After a restart: the requests this node's turns waited on when it died are expired, each with its event. */
  async recover(): Promise<number> {
    const rows = await this.deps.sql<{ id: string; chat_id: string; turn_id: string; answered_at: Date }[]>`
      UPDATE permission_requests SET status = 'expired', message = ${EXPIRED}, answered_at = clock_timestamp()
      WHERE node_id = ${this.deps.nodeId} AND status = 'pending'
      RETURNING id, chat_id, turn_id, answered_at`;
    for (const r of rows) {
      await this.deps.events.append(r.chat_id, 'permission_resolved', {
        turnId: r.turn_id,
        requestId: r.id,
        outcome: 'expired',
        message: EXPIRED,
        answeredAt: r.answered_at.toISOString(),
      } satisfies PermissionResolvedData);
    }
    return rows.length;
  }

  /** Requests this node's turns wait on now. */
  waitingCount(): number {
    return this.waiting.size;
  }

  /** A chat's requests, oldest first; only those in one state when `status` is given. */
  async list(chatId: string, status?: PermissionStatus): Promise<PermissionRequestView[]> {
    const rows = await this.deps.sql<RequestRow[]>`
      SELECT * FROM permission_requests
      WHERE chat_id = ${chatId} ${status ? this.deps.sql`AND status = ${status}` : this.deps.sql``}
      ORDER BY created_at, id`;
    return rows.map(view);
  }

  /** Requests of every chat in one state (pending: what waits for a person), oldest first. */
  async listAll(status: PermissionStatus, limit = 500): Promise<PermissionRequestView[]> {
    const rows = await this.deps.sql<RequestRow[]>`
      SELECT * FROM permission_requests WHERE status = ${status} ORDER BY created_at, id LIMIT ${limit}`;
    return rows.map(view);
  }

  async rules(chatId: string): Promise<PermissionRuleView[]> {
    const rows = await this.deps.sql<{ id: string; chat_id: string; agent: string; tool: string; prefix: string; request_id: string | null; created_at: Date }[]>`
      SELECT id, chat_id, agent, tool, prefix, request_id, created_at FROM permission_rules
      WHERE chat_id = ${chatId} ORDER BY created_at, id`;
    return rows.map((r) => ({
      ruleId: r.id,
      chatId: r.chat_id,
      agent: r.agent,
      tool: r.tool,
      prefix: r.prefix === '' ? null : r.prefix,
      requestId: r.request_id,
      createdAt: r.created_at.toISOString(),
    }));
  }

  async deleteRule(chatId: string, ruleId: string): Promise<void> {
    const gone = await this.deps.sql`DELETE FROM permission_rules WHERE chat_id = ${chatId} AND id = ${ruleId} RETURNING id`;
    if (gone.length === 0) throw new HearthError(404, 'rule_not_found', `no rule ${ruleId} in chat ${chatId}`);
  }

  /** A chat's rule that answers the request, as the decision it gives; null when a person must be asked. */
  private async byRule(turn: PermissionTurn, ask: PermissionAsk): Promise<PermissionDecision | null> {
    if (ask.kind !== 'permission') return null;
    const option = ask.options.find((o) => o.kind === 'allow_always') ?? ask.options.find((o) => o.kind === 'allow_once');
    if (!option) return null;
    let rules: Rule[];
    try {
      rules = await this.deps.sql<Rule[]>`
        SELECT id, tool, prefix FROM permission_rules WHERE chat_id = ${turn.chatId} AND agent = ${turn.agent} AND tool = ${ask.tool}`;
    } catch (err) {
      // Without its rules, the chat asks.
      this.deps.log.warn({ err, chatId: turn.chatId }, "the chat's permission rules could not be read");
      return null;
    }
    const rule = matchingRule(rules, ask);
    if (!rule) return null;
    turn.notice(`${ask.tool} allowed by a rule of this chat${rule.prefix ? ` (${rule.prefix})` : ''}`);
    return { outcome: 'selected', optionId: option.id, kind: option.kind, byRule: rule.id };
  }

  /** The request as stored, wherever it arose; undefined once its chat is gone. */
  private async stored(requestId: string): Promise<RequestRow | undefined> {
    const [row] = await this.deps.sql<RequestRow[]>`SELECT * FROM permission_requests WHERE id = ${requestId}`;
    return row;
  }

  private async row(chatId: string, requestId: string): Promise<RequestRow> {
    const [row] = await this.deps.sql<RequestRow[]>`SELECT * FROM permission_requests WHERE id = ${requestId} AND chat_id = ${chatId}`;
    if (!row) throw new HearthError(404, 'permission_not_found', `no permission request ${requestId} in chat ${chatId}`);
    return row;
  }
}

/** The option an answer picks and the outcome it gives, or 400 when the answer does not fit the request. */
function fitAnswer(row: RequestRow, answer: PermissionAnswer): { option: PermissionOption; outcome: PermissionOutcome } {
  const bad = (message: string) => new HearthError(400, 'invalid_answer', message);
  if (answer.answers !== undefined && row.kind !== 'question') throw bad(`only a question takes answers; this request is a ${row.kind}`);
  if (answer.scope === 'always' && row.kind !== 'permission') throw bad(`a ${row.kind} is answered once; "always" is for permission requests`);
  const options = JSON.parse(row.options) as PermissionOption[];
  if (answer.scope === 'always' && !options.some((o) => o.kind === (answer.decision === 'allow' ? 'allow_always' : 'reject_always'))) {
    if (answer.decision === 'allow') throw bad(`this request offers no "always" answer`);
  }
  if (row.kind === 'question' && answer.decision === 'allow') {
    const questions = JSON.parse(row.questions ?? '[]') as { question: string }[];
    const missing = questions.filter((q) => !answer.answers?.[q.question]?.trim());
    if (missing.length > 0) throw bad(`answers are missing for: ${missing.map((q) => JSON.stringify(q.question)).join(', ')}`);
    const asked = new Set(questions.map((q) => q.question));
    const extra = Object.keys(answer.answers ?? {}).filter((q) => !asked.has(q));
    if (extra.length > 0) throw bad(`no such question: ${extra.map((q) => JSON.stringify(q)).join(', ')}`);
  }
  const option = optionFor(options, answer);
  if (!option) throw bad(`this request offers no way to ${answer.decision}`);
  const outcome: PermissionOutcome = answer.decision === 'deny' ? 'denied' : row.kind === 'question' ? 'answered' : 'allowed';
  return { option, outcome };
}

/** What the driver is told. A turn that is stopping is told so, whatever else won. */
function decision(options: PermissionOption[], resolved: PermissionResolvedData, stopping: boolean): PermissionDecision {
  if (stopping || resolved.outcome === 'cancelled' || resolved.outcome === 'expired') {
    return { outcome: 'cancelled', message: resolved.message ?? STOPPED };
  }
  const chosen =
    (resolved.optionId !== undefined ? options.find((o) => o.id === resolved.optionId) : undefined) ??
    // A request nobody answered is rejected, once.
    options.find((o) => o.kind === 'reject_once') ??
    options.find((o) => o.kind === 'reject_always');
  if (!chosen) return { outcome: 'cancelled', message: resolved.message ?? 'nobody answered' };
  return withoutUndefined({ outcome: 'selected', optionId: chosen.id, kind: chosen.kind, message: resolved.message, answers: resolved.answers });
}

function alreadyResolved(row: RequestRow): HearthError {
  return new HearthError(409, 'already_resolved', `the request was already resolved: ${row.status}`, {
    details: { outcome: row.status, request: view(row) },
  });
}

function view(row: RequestRow): PermissionRequestView {
  return withoutUndefined({
    requestId: row.id,
    chatId: row.chat_id,
    turnId: row.turn_id,
    agent: row.agent,
    kind: row.kind,
    tool: row.tool,
    toolCallId: row.tool_call_id,
    input: JSON.parse(row.input) as unknown,
    options: JSON.parse(row.options) as PermissionOption[],
    details: parsed(row.details),
    questions: parsed(row.questions),
    plan: row.plan ?? undefined,
    status: row.status,
    optionId: row.option_id ?? undefined,
    message: row.message ?? undefined,
    answers: parsed(row.answers),
    createdAt: row.created_at.toISOString(),
    answeredAt: row.answered_at?.toISOString(),
  });
}

/** How a resolved row ended, as its event says. */
function resolvedOf(row: RequestRow): PermissionResolvedData {
  return withoutUndefined({
    turnId: row.turn_id,
    requestId: row.id,
    outcome: row.status as PermissionOutcome,
    optionId: row.option_id ?? undefined,
    message: row.message ?? undefined,
    answers: parsed<Record<string, string>>(row.answers),
    answeredAt: (row.answered_at ?? new Date()).toISOString(),
  });
}

function withoutTurn(resolved: PermissionResolvedData): Omit<PermissionResolvedData, 'turnId'> {
  const { turnId: _, ...rest } = resolved;
  return rest;
}

function json(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

function parsed<T>(text: string | null): T | undefined {
  return text === null ? undefined : (JSON.parse(text) as T);
}
