import type http from 'node:http';

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  /** Of the output tokens, those spent reasoning; reported where an API details them. */
  reasoning_tokens?: number;
}

/**
 * What the scripted model answers, in no API's words: each dialect says it in its own.
 * A tool call names the tool as the agent that gets it knows it.
 */
export type ServedReply =
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
  /** The name of the dialect that serves it; null for a request no dialect serves. */
  dialect: string | null;
}

export type UnclassifiedRequest = Omit<RecordedRequest, 'main' | 'dialect'>;

/** What the server lends a dialect while it answers: fresh ids, paced streaming, and open streams it may leave hanging. */
export interface ReplyTools {
  /** An id part that never repeats, across servers either. */
  nextId(): string;
  /** Waits the configured pause before a streamed delta; false once the response or the server is closing. */
  pace(res: http.ServerResponse): Promise<boolean>;
  /** Keeps a stalled stream's socket from looking idle to the client, until it closes. */
  keepAlive(res: http.ServerResponse, ping: () => void): void;
  /** Usage for a reply that scripts none: a main turn's default, or zero for an auxiliary call. */
  fallbackUsage: Usage;
}

/** One model API the scripted model speaks. */
export interface ModelDialect {
  name: string;
  /** Whether the request is addressed to this API at all. */
  serves(req: UnclassifiedRequest): boolean;
  /** A main turn, answered from the script; anything else is an auxiliary call, answered by `auxReply`. */
  isMain(req: UnclassifiedRequest): boolean;
  /** The text of the last user message: what the model is answering. */
  lastUserText(req: RecordedRequest): string;
  /** The output of the tool call the request ends with; null when it ends with a prompt. */
  lastToolResult(req: RecordedRequest): string | null;
  auxReply(req: RecordedRequest): ServedReply;
  /** Answers a request of its own outside the script (a probe, token counting); false when it has none such. */
  answerDirect?(req: RecordedRequest, res: http.ServerResponse): boolean;
  respond(reply: ServedReply, req: RecordedRequest, res: http.ServerResponse, tools: ReplyTools): Promise<void>;
}

export function sendJson(res: http.ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** An answer for a request that asks for JSON matching a schema: a value of the right shape. */
export function sampleFor(schema: any): unknown {
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

export const ZERO_USAGE: Usage = { input_tokens: 0, output_tokens: 0 };
