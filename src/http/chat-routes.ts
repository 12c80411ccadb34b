import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime/hearth-runtime.js';
import { HearthError } from '../runtime/errors.js';
import { isUuid } from '../api/ids.js';
import { BACKEND_KINDS, PERMISSION_MODES, type BackendKind, type PermissionMode } from '../api/views.js';

export interface ChatRoutesOptions {
  runtime: Runtime;
  /** Largest message text accepted, in UTF-8 bytes. */
  maxPromptBytes: number;
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

function chatId(id: string): string {
  if (!isUuid(id)) throw new HearthError(404, 'chat_not_found', `no chat ${id}`);
  return id;
}

/** Chats, their messages, and stopping a turn. */
export async function chatRoutes(app: FastifyInstance, { runtime, maxPromptBytes }: ChatRoutesOptions): Promise<void> {
  app.post<{ Body: { repoPath: string; agent?: string; model?: string; title?: string; permissionMode?: PermissionMode } }>(
    '/api/chats',
    {
      schema: {
        body: {
          type: 'object',
          required: ['repoPath'],
          additionalProperties: false,
          properties: {
            repoPath: { type: 'string', minLength: 1, maxLength: 4096 },
            agent: { type: 'string', minLength: 1, maxLength: 100 },
            model: { type: 'string', minLength: 1, maxLength: 200 },
            title: { type: 'string', maxLength: 500 },
            permissionMode: { type: 'string', enum: PERMISSION_MODES },
          },
        },
      },
    },
    async (req, reply) => {
      const chat = await runtime.chats.create(req.body);
      return reply.code(201).send(chat);
    },
  );

  app.get('/api/chats', async () => ({ chats: await runtime.chats.list() }));

  app.get('/api/repos/recent', async () => ({ repos: await runtime.chats.recentRepos() }));

  app.get<{ Params: { id: string } }>('/api/chats/:id', { schema: { params: idParams } }, async (req) => {
    const chat = await runtime.chats.get(chatId(req.params.id));
    if (!chat) throw new HearthError(404, 'chat_not_found', `no chat ${req.params.id}`);
    return chat;
  });

  app.patch<{ Params: { id: string }; Body: { title?: string; permissionMode?: PermissionMode | null } }>(
    '/api/chats/:id',
    {
      schema: {
        params: idParams,
        body: {
          type: 'object',
          minProperties: 1,
          additionalProperties: false,
          properties: {
            title: { type: 'string', maxLength: 500 },
            // null goes back to the agent's own default.
            permissionMode: { anyOf: [{ type: 'string', enum: PERMISSION_MODES }, { type: 'null' }] },
          },
        },
      },
    },
    async (req) => runtime.chats.update(chatId(req.params.id), req.body),
  );

  app.delete<{ Params: { id: string } }>('/api/chats/:id', { schema: { params: idParams } }, async (req, reply) => {
    await runtime.chats.delete(chatId(req.params.id));
    return reply.code(204).send();
  });

  app.post<{ Params: { id: string }; Body: { text: string; agent?: string; backend?: BackendKind } }>(
    '/api/chats/:id/messages',
    {
      // The JSON around the text may take a little more than the text itself.
      bodyLimit: maxPromptBytes * 2 + 4096,
      schema: {
        params: idParams,
        body: {
          type: 'object',
          required: ['text'],
          additionalProperties: false,
          properties: {
            text: { type: 'string', minLength: 1 },
            agent: { type: 'string', minLength: 1, maxLength: 100 },
            backend: { type: 'string', enum: BACKEND_KINDS },
          },
        },
      },
    },
    async (req, reply) => {
      const bytes = Buffer.byteLength(req.body.text, 'utf8');
      if (bytes > maxPromptBytes) {
        throw new HearthError(413, 'prompt_too_large', `the message is ${bytes} bytes; the limit is ${maxPromptBytes}`);
      }
      if (req.body.text.trim() === '') throw new HearthError(400, 'empty_message', 'the message is empty');
      const accepted = await runtime.dispatcher.submit(chatId(req.params.id), req.body.text, {
        agent: req.body.agent,
        backend: req.body.backend,
      });
      return reply.code(202).send(accepted);
    },
  );

  app.get<{ Params: { id: string } }>('/api/chats/:id/messages', { schema: { params: idParams } }, async (req) => {
    const messages = await runtime.chats.history(chatId(req.params.id));
    if (!messages) throw new HearthError(404, 'chat_not_found', `no chat ${req.params.id}`);
    return { messages };
  });

  // A client opening a chat asks for its warm session, so the message being typed finds it started.
  app.post<{ Params: { id: string } }>('/api/chats/:id/prewarm', { schema: { params: idParams } }, async (req, reply) => {
    const report = await runtime.dispatcher.prewarm(chatId(req.params.id));
    return reply.code(202).send(report);
  });

  app.post<{ Params: { id: string } }>('/api/chats/:id/abort', { schema: { params: idParams } }, async (req) => {
    const stopped = await runtime.dispatcher.abort(chatId(req.params.id));
    return { stopped };
  });
}
