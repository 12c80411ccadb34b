// A scriptable stand-in for the Anthropic Messages API, good enough for the
// real Claude Code binary to hold a conversation with it over loopback: the
// model behind `hearth serve --demo`, and the fake model of the tests.
//
// Main turns versus auxiliary requests
// ------------------------------------
// Claude Code sends more than the agent's own turns to the API. Seen from
// Claude Code 2.1.x:
//   - `HEAD /api/hello`: a connectivity probe (only without
//     CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC).
//   - `POST /v1/messages` for the session title: the main or a haiku model,
//     the same `max_tokens`, streamed, but `tools: []` and a structured-output
//     `output_config.format` (JSON schema `{ title }`). Also only without
//     CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC.
//   - `POST /v1/messages/count_tokens`: token counting (answered, though
//     plain runs do not send it).
// Model, `max_tokens` and streaming are no help in telling them apart, so the
// rule is: a main turn is a `POST /v1/messages` whose `tools` array is not
// empty and which asks for no structured-output format. Every agent turn
// (and every subagent turn) offers the agent its tools; helper calls offer
// none. A run that gives the agent no tools at all needs `isMain` to say
// otherwise. Auxiliary requests never touch the queue and get an answer
// with zero usage, so cost figures reflect only the scripted replies.
//
// Usage as the SDK reports it
// ---------------------------
// message_start carries the scripted input and cache figures (output 0);
// message_delta carries the scripted output_tokens. The SDK's `result`
// then shows them unchanged: `usage` is the sum over the turn's main-loop
// calls (a tool call plus its follow-up adds both replies), `modelUsage`
// holds the same figures per model, cumulative over the session. And
// `total_cost_usd` is Claude Code's list-price estimate from those figures;
// for claude-opus-5-5 that is $4 per million input tokens, $20 output,
// $0.20 cache read, $5 cache write. A stall reports DEFAULT_USAGE input
// tokens, and on interrupt Claude Code estimates output from the text sent.
//
// Errors and retries
// ------------------
// Each error reply answers one request. Claude Code retries 429/5xx itself
// (ten times by default, waiting about 0.5 s, 1 s, 2 s, ... with jitter; the
// base delay cannot go below 500 ms), so the tests' agent environment sets
// CLAUDE_CODE_MAX_RETRIES=0; a retry test raises it and queues the errors
// followed by the reply that succeeds.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

/**
 * A reply to a main request. `from_request` makes it from the request it answers, for
 * what only the request says (the plan file Claude Code names in plan mode).
 */
export type ScriptedReply = ServedReply | { kind: 'from_request'; reply: (req: RecordedRequest) => ServedReply };

type ServedReply =
  | { kind: 'text'; chunks: string[]; usage?: Usage }
  | { kind: 'thinking'; thinking: string[]; text: string[]; usage?: Usage }
  | { kind: 'tool_use'; name: string; input: Record<string, unknown>; text?: string; usage?: Usage }
  | { kind: 'error'; status: 429 | 500 | 529 | number; errorType?: string; message?: string }
  | { kind: 'stall'; chunks?: string[] };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  main: boolean;
}

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
  /** Overrides the main-turn rule above. */
  isMain?: (req: Omit<RecordedRequest, 'main'>) => boolean;
  /** Called for every request once recorded; handy when debugging a test. */
  onRequest?: (req: RecordedRequest) => void;
}

/** Usage reported when a reply does not script its own. */
export const DEFAULT_USAGE: Usage = { input_tokens: 10, output_tokens: 5 };

const ZERO_USAGE: Usage = { input_tokens: 0, output_tokens: 0 };

// Keeps a stalled stream's socket from looking idle to the client's watchdog.
const STALL_PING_MS = 5_000;

const DEFAULT_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

/** The text of the last user message of a request: what the model is answering. */
export function lastUserText(req: RecordedRequest): string {
  const messages = (req.body?.messages ?? []) as Array<{ role: string; content: unknown }>;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      const texts = m.content
        .filter((b: { type?: string; text?: string }) => b.type === 'text' && !b.text?.startsWith('<system-reminder>'))
        .map((b: { text: string }) => b.text);
      if (texts.length) return texts.join('\n');
    }
  }
  return '';
}

export function defaultIsMain(req: Omit<RecordedRequest, 'main'>): boolean {
  if (req.method !== 'POST' || req.path !== '/v1/messages') return false;
  const body = req.body;
  if (body === null || typeof body !== 'object') return false;
  if (!Array.isArray(body.tools) || body.tools.length === 0) return false;
  return body.output_config?.format === undefined;
}

export async function startScriptedModel(opts: ScriptedModelOptions = {}): Promise<ScriptedModelServer> {
  const defaultReply: ScriptedReply = opts.defaultReply ?? { kind: 'text', chunks: ['ok'] };
  const chunkDelayMs = opts.chunkDelayMs ?? 0;
  const isMain = opts.isMain ?? defaultIsMain;
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
      const base = { method: req.method ?? 'GET', path: url.pathname, headers: { ...req.headers }, body };
      const recorded: RecordedRequest = { ...base, main: isMain(base) };
      requests.push(recorded);
      opts.onRequest?.(recorded);
      openResponses.add(res);
      res.on('close', () => openResponses.delete(res));
      handle(recorded, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.destroy();
      });
    });
  });

  async function handle(r: RecordedRequest, res: http.ServerResponse): Promise<void> {
    if (r.method === 'HEAD' || (r.method === 'GET' && (r.path === '/' || r.path === '/api/hello'))) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(r.method === 'HEAD' ? undefined : '{}');
      return;
    }
    if (r.method === 'POST' && r.path === '/v1/messages/count_tokens') {
      // A rough four-characters-a-token guess is all a client needs here.
      const size = JSON.stringify(r.body?.messages ?? '').length + JSON.stringify(r.body?.system ?? '').length;
      sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(size / 4)) });
      return;
    }
    if (r.method === 'POST' && r.path === '/v1/messages') {
      const next = r.main ? (opts.reply?.(r) ?? queue.shift() ?? defaultReply) : auxReply(r.body);
      const reply = next.kind === 'from_request' ? next.reply(r) : next;
      await respond(r, reply, res, r.main ? DEFAULT_USAGE : ZERO_USAGE);
      return;
    }
    sendError(res, 404, 'not_found_error', `fake model server has no route ${r.method} ${r.path}`);
  }

  async function respond(
    r: RecordedRequest,
    reply: ServedReply,
    res: http.ServerResponse,
    fallbackUsage: Usage,
  ): Promise<void> {
    if (reply.kind === 'error') {
      const type = reply.errorType ?? DEFAULT_ERROR_TYPES[reply.status] ?? 'api_error';
      sendError(res, reply.status, type, reply.message ?? `scripted ${reply.status} ${type}`);
      return;
    }
    const n = `${idPrefix}_${++ids}`;
    const model: string = typeof r.body?.model === 'string' ? r.body.model : 'claude-fake';
    const msgId = `msg_fake_${n}`;
    const usage = reply.kind === 'stall' ? fallbackUsage : (reply.usage ?? fallbackUsage);
    const blocks = contentBlocks(reply, n);
    const stopReason = reply.kind === 'tool_use' ? 'tool_use' : 'end_turn';

    if (r.body?.stream !== true) {
      if (reply.kind === 'stall') {
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_fake_${n}` });
        res.flushHeaders();
        return; // left open until the client gives up or close() runs
      }
      sendJson(res, 200, {
        id: msgId,
        type: 'message',
        role: 'assistant',
        model,
        content: blocks.map((b) => b.final),
        stop_reason: stopReason,
        stop_sequence: null,
        usage: fullUsage(usage),
      });
      return;
    }

    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'request-id': `req_fake_${n}`,
    });
    const send = (event: string, data: Record<string, unknown>): void => {
      if (!res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
    };

    send('message_start', {
      message: {
        id: msgId,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...fullUsage(usage), output_tokens: 0 },
      },
    });

    if (reply.kind === 'stall') {
      const parts = reply.chunks ?? [];
      if (parts.length > 0) {
        send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
        for (const text of parts) {
          if (chunkDelayMs > 0) await sleep(chunkDelayMs);
          send('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
        }
      }
      const ping = setInterval(() => send('ping', {}), STALL_PING_MS);
      timers.add(ping);
      res.on('close', () => {
        clearInterval(ping);
        timers.delete(ping);
      });
      return; // left open until the client gives up or close() runs
    }

    for (let index = 0; index < blocks.length; index++) {
      const block = blocks[index]!;
      send('content_block_start', { index, content_block: block.start });
      for (const delta of block.deltas) {
        if (chunkDelayMs > 0) await sleep(chunkDelayMs);
        if (res.destroyed || closing) return;
        send('content_block_delta', { index, delta });
      }
      send('content_block_stop', { index });
    }
    send('message_delta', {
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    });
    send('message_stop', {});
    res.end();
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

interface Block {
  start: Record<string, unknown>;
  deltas: Record<string, unknown>[];
  final: Record<string, unknown>;
}

function contentBlocks(reply: ServedReply, n: string): Block[] {
  const text = (parts: string[]): Block => ({
    start: { type: 'text', text: '' },
    deltas: parts.map((t) => ({ type: 'text_delta', text: t })),
    final: { type: 'text', text: parts.join('') },
  });
  switch (reply.kind) {
    case 'text':
      return [text(reply.chunks)];
    case 'thinking': {
      // The signature is opaque to the client; it only has to be echoed back.
      const signature = Buffer.from(`fake-signature-${n}`).toString('base64');
      return [
        {
          start: { type: 'thinking', thinking: '', signature: '' },
          deltas: [
            ...reply.thinking.map((t) => ({ type: 'thinking_delta', thinking: t })),
            { type: 'signature_delta', signature },
          ],
          final: { type: 'thinking', thinking: reply.thinking.join(''), signature },
        },
        text(reply.text),
      ];
    }
    case 'tool_use': {
      const json = JSON.stringify(reply.input);
      // Split the arguments in two so the client has to join partial JSON.
      const cut = Math.ceil(json.length / 2);
      const tool: Block = {
        start: { type: 'tool_use', id: `toolu_fake_${n}`, name: reply.name, input: {} },
        deltas: [json.slice(0, cut), json.slice(cut)].map((p) => ({ type: 'input_json_delta', partial_json: p })),
        final: { type: 'tool_use', id: `toolu_fake_${n}`, name: reply.name, input: reply.input },
      };
      return reply.text === undefined ? [tool] : [text([reply.text]), tool];
    }
    case 'stall':
    case 'error':
      return [];
  }
}

function fullUsage(u: Usage): Required<Usage> {
  return {
    input_tokens: u.input_tokens,
    output_tokens: u.output_tokens,
    cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
    cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
  };
}

// Helper calls ask either for free text or for JSON matching a schema (the
// session title does); answer each in the shape it asks for.
function auxReply(body: any): ServedReply {
  const format = body?.output_config?.format;
  if (format?.type === 'json_schema' && format.schema) {
    return { kind: 'text', chunks: [JSON.stringify(sampleFor(format.schema))], usage: ZERO_USAGE };
  }
  return { kind: 'text', chunks: ['Fake session'], usage: ZERO_USAGE };
}

function sampleFor(schema: any): unknown {
  if (schema === null || typeof schema !== 'object') return null;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ('const' in schema) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(schema.properties ?? {})) out[key] = sampleFor(sub);
      return out;
    }
    case 'array':
      return [];
    case 'string':
      return 'Fake session';
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

function sendJson(res: http.ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { type: 'error', error: { type, message } });
}
