// The OpenAI Responses API as the scripted model speaks it, good enough for the
// real Codex (codex-acp and the `codex app-server` it runs) to hold a
// conversation with it over loopback.
//
// Main turns versus auxiliary requests
// ------------------------------------
// Codex sends everything to `POST /v1/responses`, streamed. Seen from Codex 0.166
// behind codex-acp 2.6:
//   - the agent's own turns, which offer the agent its tools and set no
//     `text.format` schema;
//   - the thread title: a `text.format` JSON schema (`{ title }`), on another
//     model of the catalog;
//   - in codex-acp's default `agent` mode, the "guardian" that reviews an action
//     before it runs instead of asking a person: a JSON-schema `text.format` too
//     (`risk_level`, `outcome`, ...), whose sampled answer approves it.
// Codex's catalog models get their tools in `additional_tools` input items
// rather than in `tools`, grouped in namespaces: in its "code mode" the model
// has one freeform tool, `exec`, whose input is JavaScript calling the real
// tools (`await tools.exec_command({ cmd })`, `tools.apply_patch(patch)`); a
// model outside the catalog gets plain function tools (`exec_command`, ...).
// So the rule is: a main turn is a `POST /v1/responses` that offers tools in
// either place and asks for no `text.format` of type `json_schema`.
// Auxiliary requests never touch the queue and get an answer with zero usage
// (a sample of the schema where one is asked for).
//
// What Codex reads of a stream
// ----------------------------
// Items come whole in `response.output_item.done`; the deltas only stream the
// text (`response.output_text.delta`) and the reasoning summary
// (`response.reasoning_summary_text.delta`, needing a `summary_index`). A
// function call's item carries `name`, `arguments` (a JSON string) and a
// `call_id`, which the tool's output comes back under as a
// `function_call_output` input item; a freeform tool's call is a
// `custom_tool_call` whose `input` is the raw text (a scripted `tool_use` gives
// it as `input.input`), answered by a `custom_tool_call_output`.
//
// Usage, errors, stalls
// ---------------------
// `response.completed` carries the usage, in OpenAI's terms: `input_tokens`
// counts the cached tokens too, detailed in `input_tokens_details` as
// `cached_tokens` (read) and `cache_write_tokens`; Codex requires
// `total_tokens`. codex-acp takes the cached ones back out, so the turn reports
// the scripted figures unchanged. A stall sends its text and never completes:
// a stopped turn has no usage. Codex tells an error by the HTTP status and an
// OpenAI error body; it retries 429 and 5xx by its provider's
// `request_max_retries` and `stream_max_retries`, which the tests set to 0.

import type http from 'node:http';
import { sampleFor, sendJson, ZERO_USAGE, type ModelDialect, type RecordedRequest, type ReplyTools, type ServedReply, type UnclassifiedRequest, type Usage } from '../model-dialect.js';

const DEFAULT_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_exceeded',
  500: 'server_error',
  529: 'server_error',
};

type InputItem = { type?: string; role?: string; content?: unknown; output?: unknown; call_id?: string };

function inputItems(req: RecordedRequest): InputItem[] {
  const input = req.body?.input;
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return Array.isArray(input) ? (input as InputItem[]) : [];
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((c: { type?: string; text?: unknown }) => (c.type === 'input_text' || c.type === 'output_text' || c.type === 'text') && typeof c.text === 'string')
    .map((c: { text: string }) => c.text)
    .join('\n');
}

/**
 * Codex puts its own context (the environment, the AGENTS.md instructions) into user
 * messages of their own, each one tag-wrapped: those are not the person's words.
 */
function isContext(text: string): boolean {
  const t = text.trimStart();
  return /^<(environment_context|user_instructions|permissions instructions|turn_aborted|user_shell_command|collaboration_mode|skills_instructions)\b/.test(t) || t.startsWith('# AGENTS.md instructions');
}

function lastUserText(req: RecordedRequest): string {
  const items = inputItems(req);
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i]!;
    if (item.role !== 'user' || (item.type !== undefined && item.type !== 'message')) continue;
    const text = textOf(item.content);
    if (text && !isContext(text)) return text;
  }
  return '';
}

/**
 * The output of the tool call the request ends with: its last input item, when that is a
 * call's output. Code mode answers an `exec` call with a status of its own first ("Script
 * completed", the wall time), then what the script gave: only the script's part is the output.
 */
function lastToolResult(req: RecordedRequest): string | null {
  const last = inputItems(req).at(-1);
  if (!last || (last.type !== 'function_call_output' && last.type !== 'custom_tool_call_output')) return null;
  const output = last.output;
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) {
    const status = /^Script (completed|failed|running)/.test(textOf(output.slice(0, 1)));
    return textOf(status ? output.slice(1) : output);
  }
  if (output && typeof output === 'object' && typeof (output as { content?: unknown }).content === 'string') return (output as { content: string }).content;
  return output === undefined || output === null ? '' : JSON.stringify(output);
}

function schemaFormat(body: any): { schema: unknown } | null {
  const format = body?.text?.format;
  return format?.type === 'json_schema' && format.schema ? { schema: format.schema } : null;
}

/**
 * The tools a request offers, by name, with their type (`function`, or `custom` for a
 * freeform one): in `tools`, or in the `additional_tools` input items Codex sends its
 * catalog models instead, grouped in namespaces.
 */
export function offeredTools(body: any): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (tools: unknown): void => {
    if (!Array.isArray(tools)) return;
    for (const t of tools as Array<{ type?: string; name?: string; tools?: unknown }>) {
      if (t.type === 'namespace') walk(t.tools);
      else if (typeof t.name === 'string') out.set(t.name, t.type ?? 'function');
    }
  };
  walk(body?.tools);
  if (Array.isArray(body?.input)) for (const item of body.input as Array<{ type?: string; tools?: unknown }>) if (item.type === 'additional_tools') walk(item.tools);
  return out;
}

export function responsesIsMain(req: UnclassifiedRequest): boolean {
  if (req.method !== 'POST' || req.path !== '/v1/responses') return false;
  const body = req.body;
  if (body === null || typeof body !== 'object') return false;
  if (schemaFormat(body) !== null) return false;
  return offeredTools(body).size > 0;
}

function auxReply(r: RecordedRequest): ServedReply {
  const format = schemaFormat(r.body);
  if (format) return { kind: 'text', chunks: [JSON.stringify(sampleFor(format.schema))], usage: ZERO_USAGE };
  return { kind: 'text', chunks: ['Fake session'], usage: ZERO_USAGE };
}

export const openaiResponses: ModelDialect = {
  name: 'openai-responses',
  serves: (r) => r.path === '/v1/responses' || r.path.startsWith('/v1/responses/'),
  isMain: responsesIsMain,
  lastUserText,
  lastToolResult,
  auxReply,
  respond,
};

interface OutputItem {
  /** The item as `response.output_item.added` announces it. */
  added: Record<string, unknown>;
  /** The events between added and done, each a payload without its sequence number. */
  deltas: Array<Record<string, unknown>>;
  /** The whole item, as `response.output_item.done` gives it. */
  done: Record<string, unknown>;
}

function outputItems(reply: ServedReply, n: string, custom: boolean): OutputItem[] {
  const message = (parts: string[], index: number): OutputItem => {
    const id = `msg_fake_${n}_${index}`;
    const text = parts.join('');
    return {
      added: { type: 'message', id, status: 'in_progress', role: 'assistant', content: [] },
      deltas: [
        { type: 'response.content_part.added', item_id: id, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } },
        ...parts.map((delta) => ({ type: 'response.output_text.delta', item_id: id, content_index: 0, delta })),
        { type: 'response.output_text.done', item_id: id, content_index: 0, text },
        { type: 'response.content_part.done', item_id: id, content_index: 0, part: { type: 'output_text', text, annotations: [] } },
      ],
      done: { type: 'message', id, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] },
    };
  };
  switch (reply.kind) {
    case 'text':
      return [message(reply.chunks, 0)];
    case 'thinking': {
      const id = `rs_fake_${n}`;
      const summary = reply.thinking.join('');
      return [
        {
          added: { type: 'reasoning', id, summary: [] },
          deltas: [
            ...reply.thinking.map((delta) => ({ type: 'response.reasoning_summary_text.delta', item_id: id, summary_index: 0, delta })),
            { type: 'response.reasoning_summary_text.done', item_id: id, summary_index: 0, text: summary },
          ],
          done: { type: 'reasoning', id, summary: [{ type: 'summary_text', text: summary }] },
        },
        message(reply.text, 1),
      ];
    }
    case 'tool_use': {
      if (custom) {
        const id = `ctc_fake_${n}`;
        const callId = `call_fake_${n}`;
        const input = typeof reply.input.input === 'string' ? reply.input.input : JSON.stringify(reply.input);
        const cut = Math.ceil(input.length / 2);
        const call: OutputItem = {
          added: { type: 'custom_tool_call', id, status: 'in_progress', name: reply.name, input: '', call_id: callId },
          deltas: [
            { type: 'response.custom_tool_call_input.delta', item_id: id, delta: input.slice(0, cut) },
            { type: 'response.custom_tool_call_input.delta', item_id: id, delta: input.slice(cut) },
            { type: 'response.custom_tool_call_input.done', item_id: id, input },
          ],
          done: { type: 'custom_tool_call', id, status: 'completed', name: reply.name, input, call_id: callId },
        };
        return reply.text === undefined ? [call] : [message([reply.text], 0), call];
      }
      const id = `fc_fake_${n}`;
      const callId = `call_fake_${n}`;
      const args = JSON.stringify(reply.input);
      // Split the arguments in two so the client has to join them.
      const cut = Math.ceil(args.length / 2);
      const call: OutputItem = {
        added: { type: 'function_call', id, status: 'in_progress', name: reply.name, arguments: '', call_id: callId },
        deltas: [
          { type: 'response.function_call_arguments.delta', item_id: id, delta: args.slice(0, cut) },
          { type: 'response.function_call_arguments.delta', item_id: id, delta: args.slice(cut) },
          { type: 'response.function_call_arguments.done', item_id: id, arguments: args },
        ],
        done: { type: 'function_call', id, status: 'completed', name: reply.name, arguments: args, call_id: callId },
      };
      return reply.text === undefined ? [call] : [message([reply.text], 0), call];
    }
    case 'stall':
    case 'error':
      return [];
  }
}

/** The scripted figures in OpenAI's terms: its input count includes the cached tokens read and written, which it details apart. */
function responseUsage(u: Usage): Record<string, unknown> {
  const read = u.cache_read_input_tokens ?? 0;
  const written = u.cache_creation_input_tokens ?? 0;
  const input = u.input_tokens + read + written;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: read, cache_write_tokens: written },
    output_tokens: u.output_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + u.output_tokens,
  };
}

async function respond(reply: ServedReply, r: RecordedRequest, res: http.ServerResponse, tools: ReplyTools): Promise<void> {
  if (reply.kind === 'error') {
    const type = reply.errorType ?? DEFAULT_ERROR_TYPES[reply.status] ?? 'server_error';
    sendJson(res, reply.status, { error: { message: reply.message ?? `scripted ${reply.status} ${type}`, type, param: null, code: type } });
    return;
  }
  const n = tools.nextId();
  const responseId = `resp_fake_${n}`;
  const model: string = typeof r.body?.model === 'string' ? r.body.model : 'gpt-fake';
  const usage = reply.kind === 'stall' ? tools.fallbackUsage : (reply.usage ?? tools.fallbackUsage);
  const items = outputItems(reply, n, reply.kind === 'tool_use' && offeredTools(r.body).get(reply.name) === 'custom');
  const base = { id: responseId, object: 'response', created_at: Math.floor(Date.now() / 1000), model };

  if (r.body?.stream !== true) {
    if (reply.kind === 'stall') {
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_fake_${n}` });
      res.flushHeaders();
      return; // left open until the client gives up or close() runs
    }
    sendJson(res, 200, { ...base, status: 'completed', output: items.map((i) => i.done), usage: responseUsage(usage) });
    return;
  }

  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': `req_fake_${n}`,
  });
  let sequence = 0;
  const send = (data: Record<string, unknown>): void => {
    if (!res.destroyed) res.write(`event: ${String(data.type)}\ndata: ${JSON.stringify({ ...data, sequence_number: sequence++ })}\n\n`);
  };

  send({ type: 'response.created', response: { ...base, status: 'in_progress', output: [] } });
  send({ type: 'response.in_progress', response: { ...base, status: 'in_progress', output: [] } });
  if (reply.kind === 'stall') {
    // The text so far, and then nothing more: no item is done and the response never completes.
    const parts = reply.chunks ?? [];
    if (parts.length > 0) {
      const id = `msg_fake_${n}_0`;
      send({ type: 'response.output_item.added', output_index: 0, item: { type: 'message', id, status: 'in_progress', role: 'assistant', content: [] } });
      send({ type: 'response.content_part.added', item_id: id, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
      for (const delta of parts) {
        if (!(await tools.pace(res))) return;
        send({ type: 'response.output_text.delta', item_id: id, output_index: 0, content_index: 0, delta });
      }
    }
    // A comment line keeps the socket busy without saying anything to the client.
    tools.keepAlive(res, () => {
      if (!res.destroyed) res.write(': ping\n\n');
    });
    return; // left open until the client gives up or close() runs
  }
  for (let index = 0; index < items.length; index++) {
    const item = items[index]!;
    send({ type: 'response.output_item.added', output_index: index, item: item.added });
    for (const delta of item.deltas) {
      const streamed = typeof delta.type === 'string' && delta.type.endsWith('.delta');
      if (streamed && !(await tools.pace(res))) return;
      send({ ...delta, output_index: index });
    }
    send({ type: 'response.output_item.done', output_index: index, item: item.done });
  }
  send({ type: 'response.completed', response: { ...base, status: 'completed', output: items.map((i) => i.done), usage: responseUsage(usage) } });
  res.end();
}
