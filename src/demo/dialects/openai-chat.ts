// The OpenAI chat-completions API as the scripted model speaks it, good enough for
// the real OpenCode (a provider of its config on `@ai-sdk/openai-compatible`, whose
// `baseURL` is the scripted model's `/v1`) to hold a conversation with it over loopback.
//
// What OpenCode 1.18.33 sends
// ---------------------------
// Everything goes to `POST /v1/chat/completions`, streamed with
// `stream_options.include_usage`, the key as `Authorization: Bearer`, OpenCode's
// session id in `x-session-id` (and `x-session-affinity`), `max_tokens` the model's
// output limit:
//   - the agent's own steps: its system prompt, the conversation, and `tools` (bash,
//     edit, glob, grep, read, skill, task, todowrite, webfetch, write) with
//     `tool_choice: "auto"`. A prompt is a user message whose content is a string
//     (`opencode run` quotes an argument that holds a space before it joins them);
//     a tool's output comes back as a `role: "tool"` message with the call's
//     `tool_call_id` and the output as a string (bash's is what the command printed).
//   - the title, at a session's first prompt unless one is given: to `small_model`,
//     a "title generator" system prompt, the prompt quoted, `reasoning_effort: "low"`,
//     and no tools.
// So the rule is: a main turn is a `POST /v1/chat/completions` that offers tools.
// Auxiliary calls never touch the queue and get plain text with zero usage.
//
// What OpenCode reads of a stream
// -------------------------------
// Chunks of one choice: `delta.content` is the reply's text, `delta.reasoning_content`
// its reasoning (a `reasoning` part, shown by `opencode run --thinking`), and
// `delta.tool_calls` a call: id, name and the first arguments in its first delta,
// more arguments under the same `index` after. `finish_reason` is `tool_calls` or
// `stop`; then, asked for, a chunk with no choices carries the usage, then `[DONE]`.
//
// Usage and cost
// --------------
// `prompt_tokens` counts the cached tokens too (here: input + cache read + cache
// write, since the API has no cache-write field), detailed in
// `prompt_tokens_details.cached_tokens`; `completion_tokens` counts the reasoning
// too, detailed in `completion_tokens_details.reasoning_tokens`. OpenCode records a
// step's `tokens` as input = prompt - cached, output = completion - reasoning,
// reasoning, cache.read = cached, cache.write = 0, and its `cost` from the model's
// `cost` in the config (dollars per million tokens): input, output and reasoning at
// the output price, cache read and write at theirs.
//
// Errors and stalls
// -----------------
// An error is the HTTP status with an OpenAI error body. A 400 ends the turn at once
// with an `APIError` carrying the status and the body's message; a 429 or 5xx
// OpenCode retries itself, without end, after about 2, 5, 10, 16 s and so on, so a
// test that wants a failed turn scripts a 400. A stall sends its text and then keeps
// the stream open with SSE comments: OpenCode waits on it until it is stopped.

import type http from 'node:http';
import { sendJson, ZERO_USAGE, type ModelDialect, type RecordedRequest, type ReplyTools, type ServedReply, type UnclassifiedRequest, type Usage } from '../model-dialect.js';

const PATH = '/v1/chat/completions';

const DEFAULT_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_exceeded',
  500: 'server_error',
  529: 'server_error',
};

interface ChatMessage {
  role?: string;
  content?: unknown;
  tool_call_id?: string;
}

function messages(req: { body?: any }): ChatMessage[] {
  return Array.isArray(req.body?.messages) ? (req.body.messages as ChatMessage[]) : [];
}

/** A message's text: its content string, or its text parts joined, leaving out the agent's own reminders. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((c: { type?: string; text?: unknown }) => c.type === 'text' && typeof c.text === 'string' && !c.text.trimStart().startsWith('<system-reminder>'))
    .map((c: { text: string }) => c.text)
    .join('\n');
}

function offersTools(body: any): boolean {
  return Array.isArray(body?.tools) && body.tools.length > 0;
}

export function chatIsMain(req: UnclassifiedRequest): boolean {
  if (req.method !== 'POST' || req.path !== PATH) return false;
  const body = req.body;
  if (body === null || typeof body !== 'object') return false;
  return offersTools(body);
}

function lastUserText(req: RecordedRequest): string {
  const all = messages(req);
  for (let i = all.length - 1; i >= 0; i--) {
    const m = all[i]!;
    if (m.role !== 'user') continue;
    const text = textOf(m.content);
    if (text) return text;
  }
  return '';
}

/** The output of the tool call the request ends with: its last message, when that is a tool's. */
function lastToolResult(req: RecordedRequest): string | null {
  const last = messages(req).at(-1);
  if (!last || last.role !== 'tool') return null;
  if (typeof last.content === 'string') return last.content;
  if (Array.isArray(last.content)) return textOf(last.content);
  return last.content === undefined || last.content === null ? '' : JSON.stringify(last.content);
}

// The title (and any other helper call) offers no tools and asks for plain text.
function auxReply(): ServedReply {
  return { kind: 'text', chunks: ['Fake session'], usage: ZERO_USAGE };
}

export const openaiChat: ModelDialect = {
  name: 'openai-chat',
  serves: (r) => r.path === PATH,
  isMain: chatIsMain,
  lastUserText,
  lastToolResult,
  auxReply,
  respond,
};

/** The scripted figures in OpenAI's terms: the prompt count includes the cached tokens read and written, which it details apart. */
function chatUsage(u: Usage): Record<string, unknown> {
  const read = u.cache_read_input_tokens ?? 0;
  const written = u.cache_creation_input_tokens ?? 0;
  const prompt = u.input_tokens + read + written;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.output_tokens,
    total_tokens: prompt + u.output_tokens,
    prompt_tokens_details: { cached_tokens: read },
    completion_tokens_details: { reasoning_tokens: u.reasoning_tokens ?? 0 },
  };
}

/** A reply as the deltas of one choice, each as it streams, and the reason it finishes. */
function deltasOf(reply: ServedReply, n: string): { deltas: Array<Record<string, unknown>>; finish: string } {
  switch (reply.kind) {
    case 'text':
      return { deltas: reply.chunks.map((content) => ({ content })), finish: 'stop' };
    case 'thinking':
      return { deltas: [...reply.thinking.map((reasoning_content) => ({ reasoning_content })), ...reply.text.map((content) => ({ content }))], finish: 'stop' };
    case 'tool_use': {
      const args = JSON.stringify(reply.input);
      // The arguments in two deltas, so the client has to join them.
      const cut = Math.ceil(args.length / 2);
      const call = [
        { tool_calls: [{ index: 0, id: `call_fake_${n}`, type: 'function', function: { name: reply.name, arguments: args.slice(0, cut) } }] },
        { tool_calls: [{ index: 0, function: { arguments: args.slice(cut) } }] },
      ];
      return { deltas: reply.text === undefined ? call : [{ content: reply.text }, ...call], finish: 'tool_calls' };
    }
    case 'stall':
      return { deltas: (reply.chunks ?? []).map((content) => ({ content })), finish: 'stop' };
    case 'error':
      return { deltas: [], finish: 'stop' };
  }
}

/** The whole message a non-streamed answer carries. */
function messageOf(reply: ServedReply, n: string): Record<string, unknown> {
  switch (reply.kind) {
    case 'text':
      return { role: 'assistant', content: reply.chunks.join('') };
    case 'thinking':
      return { role: 'assistant', content: reply.text.join(''), reasoning_content: reply.thinking.join('') };
    case 'tool_use':
      return {
        role: 'assistant',
        content: reply.text ?? null,
        tool_calls: [{ id: `call_fake_${n}`, type: 'function', function: { name: reply.name, arguments: JSON.stringify(reply.input) } }],
      };
    default:
      return { role: 'assistant', content: '' };
  }
}

async function respond(reply: ServedReply, r: RecordedRequest, res: http.ServerResponse, tools: ReplyTools): Promise<void> {
  if (reply.kind === 'error') {
    const type = reply.errorType ?? DEFAULT_ERROR_TYPES[reply.status] ?? 'server_error';
    sendJson(res, reply.status, { error: { message: reply.message ?? `scripted ${reply.status} ${type}`, type, param: null, code: type } });
    return;
  }
  const n = tools.nextId();
  const model: string = typeof r.body?.model === 'string' ? r.body.model : 'gpt-fake';
  const usage = reply.kind === 'stall' ? tools.fallbackUsage : (reply.usage ?? tools.fallbackUsage);
  const base = { id: `chatcmpl_fake_${n}`, created: Math.floor(Date.now() / 1000), model };
  const { deltas, finish } = deltasOf(reply, n);

  if (r.body?.stream !== true) {
    if (reply.kind === 'stall') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      return; // left open until the client gives up or close() runs
    }
    sendJson(res, 200, {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: messageOf(reply, n), finish_reason: finish }],
      usage: chatUsage(usage),
    });
    return;
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (data: Record<string, unknown>): void => {
    if (!res.destroyed) res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', ...data })}\n\n`);
  };
  const choice = (delta: Record<string, unknown>, finishReason: string | null = null) => ({ choices: [{ index: 0, delta, finish_reason: finishReason }] });

  send(choice({ role: 'assistant', content: '' }));
  for (const delta of deltas) {
    if (!(await tools.pace(res))) return;
    send(choice(delta));
  }
  if (reply.kind === 'stall') {
    // An SSE comment: the client's parser skips it, the socket stays busy.
    tools.keepAlive(res, () => {
      if (!res.destroyed) res.write(': ping\n\n');
    });
    return; // left open until the client gives up or close() runs
  }
  send(choice({}, finish));
  // With `stream_options.include_usage` the usage comes last, in a chunk of no choices.
  const usageChunk = { choices: [], usage: chatUsage(usage) };
  if (r.body?.stream_options?.include_usage === true) send(usageChunk);
  res.write('data: [DONE]\n\n');
  res.end();
}
