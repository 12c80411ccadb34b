// The Anthropic Messages API as the scripted model speaks it, good enough for
// the real Claude Code binary (on every road: SDK, terminal, ACP adapter) to
// hold a conversation with it over loopback.
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

import type http from 'node:http';
import { sampleFor, sendJson, ZERO_USAGE, type ModelDialect, type RecordedRequest, type ReplyTools, type ServedReply, type UnclassifiedRequest, type Usage } from '../model-dialect.js';

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
function lastUserText(req: RecordedRequest): string {
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

export function defaultIsMain(req: UnclassifiedRequest): boolean {
  if (req.method !== 'POST' || req.path !== '/v1/messages') return false;
  const body = req.body;
  if (body === null || typeof body !== 'object') return false;
  if (!Array.isArray(body.tools) || body.tools.length === 0) return false;
  return body.output_config?.format === undefined;
}

/** The text of the tool result the request ends with, or null when it ends with a prompt. */
function lastToolResult(req: RecordedRequest): string | null {
  const messages = (req.body?.messages ?? []) as Array<{ role: string; content: unknown }>;
  const last = messages[messages.length - 1];
  if (!last || last.role !== 'user' || !Array.isArray(last.content)) return null;
  const result = (last.content as Array<{ type?: string; content?: unknown }>).find((b) => b.type === 'tool_result');
  if (!result) return null;
  if (typeof result.content === 'string') return result.content;
  if (Array.isArray(result.content)) return result.content.map((c: { text?: string }) => c.text ?? '').join('\n');
  return '';
}

/** Probes and token counting, which Claude Code sends beside its turns. */
function answerDirect(r: RecordedRequest, res: http.ServerResponse): boolean {
  if (r.method === 'HEAD' || (r.method === 'GET' && (r.path === '/' || r.path === '/api/hello'))) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(r.method === 'HEAD' ? undefined : '{}');
    return true;
  }
  if (r.method === 'POST' && r.path === '/v1/messages/count_tokens') {
    // A rough four-characters-a-token guess is all a client needs here.
    const size = JSON.stringify(r.body?.messages ?? '').length + JSON.stringify(r.body?.system ?? '').length;
    sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(size / 4)) });
    return true;
  }
  return false;
}

export const anthropicMessages: ModelDialect = {
  name: 'anthropic',
  serves: (r) => r.method === 'HEAD' || r.path === '/' || r.path === '/api/hello' || r.path.startsWith('/v1/messages'),
  isMain: defaultIsMain,
  lastUserText,
  lastToolResult,
  auxReply: (r) => auxReply(r.body),
  answerDirect,
  respond,
};

async function respond(reply: ServedReply, r: RecordedRequest, res: http.ServerResponse, tools: ReplyTools): Promise<void> {
  if (reply.kind === 'error') {
    const type = reply.errorType ?? DEFAULT_ERROR_TYPES[reply.status] ?? 'api_error';
    sendError(res, reply.status, type, reply.message ?? `scripted ${reply.status} ${type}`);
    return;
  }
  const n = tools.nextId();
  const model: string = typeof r.body?.model === 'string' ? r.body.model : 'claude-fake';
  const msgId = `msg_fake_${n}`;
  const usage = reply.kind === 'stall' ? tools.fallbackUsage : (reply.usage ?? tools.fallbackUsage);
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
        if (!(await tools.pace(res))) return;
        send('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
      }
    }
    tools.keepAlive(res, () => send('ping', {}));
    return; // left open until the client gives up or close() runs
  }

  for (let index = 0; index < blocks.length; index++) {
    const block = blocks[index]!;
    send('content_block_start', { index, content_block: block.start });
    for (const delta of block.deltas) {
      if (!(await tools.pace(res))) return;
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

function fullUsage(u: Usage): Required<Omit<Usage, 'reasoning_tokens'>> {
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


function sendError(res: http.ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { type: 'error', error: { type, message } });
}
