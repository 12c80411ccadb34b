// The Gemini API (generativelanguage v1beta) as the scripted model speaks it, good
// enough for the real Gemini CLI (`gemini --acp`) to hold a conversation with it over
// loopback.
//
// What Gemini CLI 0.61 sends
// ---------------------------
// Everything goes to `POST /v1beta/models/{model}:<method>` under
// GOOGLE_GEMINI_BASE_URL, the key in `x-goog-api-key`:
//   - `:streamGenerateContent?alt=sse` for every turn of the agent (and of its
//     subagents): `contents`, `systemInstruction`, and `tools` with the
//     agent's `functionDeclarations`. Its first user content carries a
//     `<session_context>` part (date, OS, workspace listing) before the prompt.
//   - `:generateContent` for its helpers, all of which ask for JSON
//     (`generationConfig.responseMimeType: "application/json"` with a
//     `responseJsonSchema`): the model router's classifier (not sent once
//     GEMINI_MODEL pins the model), the next-speaker check, the LLM loop check,
//     the write_file content corrector. Compression and session summaries,
//     where they happen, offer no tools.
//   - `:countTokens`, answered here with a rough count.
// With the model pinned, plain turns, tool calls and loads send nothing but
// main turns.
//
// Main turns versus auxiliary requests
// ------------------------------------
// The rule: a main turn is a `POST ...:streamGenerateContent` that offers
// function declarations and asks for no JSON. Every agent turn offers the
// agent its tools; no helper does, and every helper asks for JSON or is not
// streamed. Auxiliary requests get an answer of the shape they ask for (a
// sample of the schema), with zero usage.
//
// How it streams and what gemini makes of it
// -----------------------------------------
// Each part goes out as one SSE chunk (`data: {candidates:[{content:{role:
// "model", parts:[part]}}]}`); the last carries `finishReason: "STOP"` and
// `usageMetadata { promptTokenCount, candidatesTokenCount,
// cachedContentTokenCount, totalTokenCount }`, where the prompt count includes
// the cached tokens, as the API's does. Thinking is parts with `thought: true`;
// gemini shows each as "**<subject>**\n<description>", the subject being the
// part's leading bold text. A tool call is a `functionCall { id, name, args }`
// part; gemini renames the call `<name>__<id>` and sends the result back as a
// `functionResponse { id, name, response: { output } }` (or `{ error }`), its
// shell's output wrapped as "<untrusted_context>\nOutput: ...\n...".
// Gemini returns only input and output tokens to its ACP client.
//
// Errors and retries
// ------------------
// An error reply is the HTTP status with Google's body, `{ error: { code,
// message, status } }` (status RESOURCE_EXHAUSTED for 429, and so on; a
// reply's `errorType` overrides it). Gemini retries 429 and 5xx itself, up to
// `general.maxAttempts` (10) with backoff; a 400 ends the prompt at once with
// a JSON-RPC error carrying the message. A stall sends its chunks and then
// keeps the stream open, with SSE comments to keep the socket busy.

import type http from 'node:http';
import { sampleFor, sendJson, ZERO_USAGE, type ModelDialect, type RecordedRequest, type ReplyTools, type ServedReply, type UnclassifiedRequest, type Usage } from '../model-dialect.js';

const MODEL_PATH = /^\/v1(?:beta|alpha|)\/models\/([^/:]+):(streamGenerateContent|generateContent|countTokens)$/;

/** Google's status names for the HTTP statuses an error reply may carry. */
const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

interface Part {
  text?: string;
  thought?: boolean;
  functionCall?: { id?: string; name: string; args?: Record<string, unknown> };
  functionResponse?: { id?: string; name: string; response?: unknown };
}
interface Content {
  role?: string;
  parts?: Part[];
}

function route(req: UnclassifiedRequest): { model: string; method: string } | null {
  const m = MODEL_PATH.exec(req.path);
  return m ? { model: decodeURIComponent(m[1]!), method: m[2]! } : null;
}

function contents(req: { body?: any }): Content[] {
  return Array.isArray(req.body?.contents) ? (req.body.contents as Content[]) : [];
}

function asksForJson(body: any): boolean {
  const config = body?.generationConfig ?? {};
  return config.responseMimeType === 'application/json' || config.responseJsonSchema !== undefined || config.responseSchema !== undefined;
}

function offersTools(body: any): boolean {
  const tools = Array.isArray(body?.tools) ? (body.tools as Array<{ functionDeclarations?: unknown[] }>) : [];
  return tools.some((t) => Array.isArray(t.functionDeclarations) && t.functionDeclarations.length > 0);
}

export function geminiIsMain(req: UnclassifiedRequest): boolean {
  if (req.method !== 'POST' || route(req)?.method !== 'streamGenerateContent') return false;
  return offersTools(req.body) && !asksForJson(req.body);
}

/** The text of the last user message that is no tool result: what the model is answering. */
function lastUserText(req: RecordedRequest): string {
  const all = contents(req);
  for (let i = all.length - 1; i >= 0; i--) {
    const c = all[i]!;
    if (c.role !== 'user') continue;
    // Gemini CLI sends its session context as a part of the first prompt's own.
    const texts = (c.parts ?? []).filter((p) => typeof p.text === 'string' && !p.thought && !p.text.startsWith('<session_context>')).map((p) => p.text!);
    if (texts.length) return texts.join('\n');
  }
  return '';
}

/** The output of the function call the request ends with, or null when it ends with a prompt. */
function lastToolResult(req: RecordedRequest): string | null {
  const last = contents(req).at(-1);
  if (!last || last.role !== 'user') return null;
  const response = (last.parts ?? []).find((p) => p.functionResponse)?.functionResponse;
  if (!response) return null;
  const r = response.response as { output?: unknown; error?: unknown } | undefined;
  if (typeof r?.output === 'string') return r.output;
  if (typeof r?.error === 'string') return r.error;
  return JSON.stringify(r ?? '');
}

function answerDirect(r: RecordedRequest, res: http.ServerResponse): boolean {
  if (r.method === 'POST' && route(r)?.method === 'countTokens') {
    // A rough four-characters-a-token guess is all a client needs here.
    const size = JSON.stringify(r.body?.contents ?? r.body?.generateContentRequest?.contents ?? '').length;
    sendJson(res, 200, { totalTokens: Math.max(1, Math.ceil(size / 4)) });
    return true;
  }
  return false;
}

// Helper calls ask for JSON matching a schema (routing, next speaker, loop checks) or
// for free text; each gets an answer in the shape it asks for.
function auxReply(r: RecordedRequest): ServedReply {
  const config = r.body?.generationConfig ?? {};
  const schema = config.responseJsonSchema ?? config.responseSchema;
  if (schema) return { kind: 'text', chunks: [JSON.stringify(sampleFor(lowerTypes(schema)))], usage: ZERO_USAGE };
  if (config.responseMimeType === 'application/json') return { kind: 'text', chunks: ['{}'], usage: ZERO_USAGE };
  return { kind: 'text', chunks: ['Fake session'], usage: ZERO_USAGE };
}

/** The API's older schemas name types in capitals (`OBJECT`); `sampleFor` reads JSON Schema's. */
function lowerTypes(schema: any): any {
  if (Array.isArray(schema)) return schema.map(lowerTypes);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'type' && typeof v === 'string' ? v.toLowerCase() : lowerTypes(v);
  return out;
}

export const geminiApi: ModelDialect = {
  name: 'gemini',
  serves: (r) => route(r) !== null,
  isMain: geminiIsMain,
  lastUserText,
  lastToolResult,
  auxReply,
  answerDirect,
  respond,
};

function usageMetadata(u: Usage): Record<string, number> {
  const prompt = u.input_tokens + (u.cache_read_input_tokens ?? 0);
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: u.output_tokens,
    cachedContentTokenCount: u.cache_read_input_tokens ?? 0,
    totalTokenCount: prompt + u.output_tokens,
  };
}

/** The reply's parts, each as it streams: one chunk a part. */
function partsOf(reply: ServedReply, n: string): Part[] {
  switch (reply.kind) {
    case 'text':
      return reply.chunks.map((text) => ({ text }));
    case 'thinking':
      return [...reply.thinking.map((text) => ({ text, thought: true })), ...reply.text.map((text) => ({ text }))];
    case 'tool_use': {
      const call: Part = { functionCall: { id: `call_fake_${n}`, name: reply.name, args: reply.input } };
      return reply.text === undefined ? [call] : [{ text: reply.text }, call];
    }
    case 'stall':
      return (reply.chunks ?? []).map((text) => ({ text }));
    case 'error':
      return [];
  }
}

async function respond(reply: ServedReply, r: RecordedRequest, res: http.ServerResponse, tools: ReplyTools): Promise<void> {
  if (reply.kind === 'error') {
    const status = STATUS_NAMES[reply.status] ?? (reply.status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
    sendJson(res, reply.status, { error: { code: reply.status, message: reply.message ?? `scripted ${reply.status} ${status}`, status: reply.errorType ?? status } });
    return;
  }
  const n = tools.nextId();
  const model = route(r)?.model ?? 'gemini-fake';
  const usage = reply.kind === 'stall' ? tools.fallbackUsage : (reply.usage ?? tools.fallbackUsage);
  const made = partsOf(reply, n);
  // A reply of no parts still ends with a chunk that says so.
  const parts = made.length || reply.kind === 'stall' ? made : [{ text: '' }];
  const responseId = `resp_fake_${n}`;
  const candidate = (p: Part[], finish: boolean) => ({
    content: { role: 'model', parts: p },
    index: 0,
    ...(finish ? { finishReason: 'STOP' } : {}),
  });

  if (route(r)?.method !== 'streamGenerateContent') {
    if (reply.kind === 'stall') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      return; // left open until the client gives up or close() runs
    }
    sendJson(res, 200, { candidates: [candidate(parts, true)], usageMetadata: usageMetadata(usage), modelVersion: model, responseId });
    return;
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (data: Record<string, unknown>): void => {
    if (!res.destroyed) res.write(`data: ${JSON.stringify(data)}\r\n\r\n`);
  };
  // The last part carries the finish reason and the usage, as the API's last chunk does.
  for (const [i, part] of parts.entries()) {
    if (!(await tools.pace(res))) return;
    const last = i === parts.length - 1 && reply.kind !== 'stall';
    send({ candidates: [candidate([part], last)], ...(last ? { usageMetadata: usageMetadata(usage) } : {}), modelVersion: model, responseId });
  }
  if (reply.kind === 'stall') {
    // An SSE comment: the client's parser skips it, the socket stays busy.
    tools.keepAlive(res, () => {
      if (!res.destroyed) res.write(': ping\r\n\r\n');
    });
    return; // left open until the client gives up or close() runs
  }
  res.end();
}
