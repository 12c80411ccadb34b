// A scriptable stand-in for the model APIs the agents call, good enough for the real
// agent programs to hold a conversation with it over loopback: the model behind
// `hearth serve --demo`, and the fake model of the tests.
//
// One server speaks every dialect (src/demo/dialects/), told apart by the request's
// path, and all of them answer from one script: replies say what the model does (text,
// thinking, a tool call, an error, a stall) and each dialect says it in its API's words.
// A main turn is answered from the script; an auxiliary call (a title, a probe) gets an
// answer of its own with zero usage, so cost figures reflect only the scripted replies.
// Each dialect's file says what its agents send and how it tells the two apart.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { anthropicMessages } from './dialects/anthropic-messages.js';
import { openaiResponses } from './dialects/openai-responses.js';
import { geminiApi } from './dialects/gemini-api.js';
import { openaiChat } from './dialects/openai-chat.js';
import { sendJson, ZERO_USAGE, type ModelDialect, type RecordedRequest, type ReplyTools, type ServedReply, type UnclassifiedRequest, type Usage } from './model-dialect.js';

export type { RecordedRequest, Usage } from './model-dialect.js';
export { defaultIsMain } from './dialects/anthropic-messages.js';

/** The APIs the scripted model speaks, the first that serves a request answering it. */
export const DIALECTS: readonly ModelDialect[] = [anthropicMessages, openaiResponses, geminiApi, openaiChat];

/**
 * A reply to a main request. `from_request` makes it from the request it answers, for
 * what only the request says (the plan file Claude Code names in plan mode).
 */
export type ScriptedReply = ServedReply | { kind: 'from_request'; reply: (req: RecordedRequest) => ServedReply };

export interface ScriptedModelServer {
  url: string;
  requests: RecordedRequest[];
  mainRequests(): RecordedRequest[];
  enqueue(...replies: ScriptedReply[]): void;
  /** Replies still waiting for a main request. */
  pending(): number;
  close(): Promise<void>;
}

export interface ScriptedModelOptions {
  /** Answer for a main request when the queue is empty; text "ok" by default. */
  defaultReply?: ScriptedReply;
  /**
   * Answers main requests from their content, before the queue is consulted; returning
   * undefined falls through to the queue. For tests that run many conversations at once,
   * where the order of requests is not known.
   */
  reply?: (req: RecordedRequest) => ScriptedReply | undefined;
  /** Pause before each streamed content delta, to make streaming observable. */
  chunkDelayMs?: number;
  /** Overrides the dialects' own main-turn rules. */
  isMain?: (req: UnclassifiedRequest) => boolean;
  /** Called for every request once recorded; handy when debugging a test. */
  onRequest?: (req: RecordedRequest) => void;
}

/** Usage reported when a reply does not script its own. */
export const DEFAULT_USAGE: Usage = { input_tokens: 10, output_tokens: 5 };

// Keeps a stalled stream's socket from looking idle to the client's watchdog.
const STALL_PING_MS = 5_000;

function dialectOf(req: RecordedRequest): ModelDialect | undefined {
  return DIALECTS.find((d) => d.name === req.dialect);
}

/** The text of the last user message of a request: what the model is answering. */
export function lastUserText(req: RecordedRequest): string {
  return dialectOf(req)?.lastUserText(req) ?? '';
}

/** The output of the tool call a request ends with; null when it ends with a prompt. */
export function lastToolResult(req: RecordedRequest): string | null {
  return dialectOf(req)?.lastToolResult(req) ?? null;
}

export async function startScriptedModel(opts: ScriptedModelOptions = {}): Promise<ScriptedModelServer> {
  const defaultReply: ScriptedReply = opts.defaultReply ?? { kind: 'text', chunks: ['ok'] };
  const chunkDelayMs = opts.chunkDelayMs ?? 0;
  const queue: ScriptedReply[] = [];
  const requests: RecordedRequest[] = [];
  const openResponses = new Set<http.ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  // Message and tool-use ids must never repeat across servers: Claude Code merges
  // transcript entries that share a message id, so a chat resumed after a restart would
  // lose turns to ids the previous server already handed out.
  const idPrefix = randomBytes(6).toString('hex');
  let ids = 0;
  let closing = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const tools = (fallbackUsage: Usage): ReplyTools => ({
    nextId: () => `${idPrefix}_${++ids}`,
    pace: async (res) => {
      if (chunkDelayMs > 0) await sleep(chunkDelayMs);
      return !res.destroyed && !closing;
    },
    keepAlive: (res, ping) => {
      const timer = setInterval(ping, STALL_PING_MS);
      timers.add(timer);
      res.on('close', () => {
        clearInterval(timer);
        timers.delete(timer);
      });
    },
    fallbackUsage,
  });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any = raw;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw);
        } catch {
          // Non-JSON bodies stay recorded as text.
        }
      } else {
        body = undefined;
      }
      const url = new URL(req.url ?? '/', 'http://fake');
      const base: UnclassifiedRequest = { method: req.method ?? 'GET', path: url.pathname, headers: { ...req.headers }, body };
      const dialect = DIALECTS.find((d) => d.serves(base)) ?? null;
      const main = opts.isMain ? opts.isMain(base) : (dialect?.isMain(base) ?? false);
      const recorded: RecordedRequest = { ...base, main, dialect: dialect?.name ?? null };
      requests.push(recorded);
      opts.onRequest?.(recorded);
      openResponses.add(res);
      res.on('close', () => openResponses.delete(res));
      handle(dialect, recorded, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.destroy();
      });
    });
  });

  async function handle(dialect: ModelDialect | null, r: RecordedRequest, res: http.ServerResponse): Promise<void> {
    if (!dialect) {
      sendJson(res, 404, { error: { type: 'not_found_error', message: `fake model server has no route ${r.method} ${r.path}` } });
      return;
    }
    if (dialect.answerDirect?.(r, res)) return;
    const next = r.main ? (opts.reply?.(r) ?? queue.shift() ?? defaultReply) : dialect.auxReply(r);
    const reply = next.kind === 'from_request' ? next.reply(r) : next;
    await dialect.respond(reply, r, res, tools(r.main ? DEFAULT_USAGE : ZERO_USAGE));
  }

  // Node closes a keep-alive connection idle for 5 s; a warm agent that sends its next turn
  // down that connection as it closes gets ECONNRESET, a failed turn (the tests allow no
  // retries). Idle connections stay open until close().
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    mainRequests: () => requests.filter((r) => r.main),
    enqueue: (...replies) => {
      queue.push(...replies);
    },
    pending: () => queue.length,
    close: async () => {
      closing = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const res of openResponses) res.destroy();
      openResponses.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
