import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime/hearth-runtime.js';
import { HearthError } from '../runtime/errors.js';
import { isUuid } from '../api/ids.js';
import type { PermissionAnswer, PermissionStatus } from '../api/permissions.js';

export interface PermissionRoutesOptions {
  runtime: Runtime;
}

const STATUSES = ['pending', 'allowed', 'denied', 'answered', 'cancelled', 'expired', 'timed_out'] as const satisfies readonly PermissionStatus[];

const statusQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { status: { type: 'string', enum: STATUSES } },
} as const;

const id = { type: 'string', minLength: 1, maxLength: 100 } as const;

/** An id that cannot be a row's is as unknown as one that is not there. */
function known(value: string, what: string, code: string): string {
  if (!isUuid(value)) throw new HearthError(404, code, `no ${what} ${value}`);
  return value;
}

/** Requests agents put to people, their answers, and the chats' standing rules. */
export async function permissionRoutes(app: FastifyInstance, { runtime }: PermissionRoutesOptions): Promise<void> {
  const chatExists = async (chatId: string) => {
    if (!(await runtime.chats.get(known(chatId, 'chat', 'chat_not_found'), false))) {
      throw new HearthError(404, 'chat_not_found', `no chat ${chatId}`);
    }
    return chatId;
  };

  // What waits for a person across every chat: a "needs you" view.
  app.get<{ Querystring: { status?: PermissionStatus } }>('/api/permissions', { schema: { querystring: statusQuery } }, async (req) => ({
    permissions: await runtime.permissions.listAll(req.query.status ?? 'pending'),
  }));

  app.get<{ Params: { id: string }; Querystring: { status?: PermissionStatus } }>(
    '/api/chats/:id/permissions',
    { schema: { params: { type: 'object', required: ['id'], properties: { id } }, querystring: statusQuery } },
    async (req) => ({ permissions: await runtime.permissions.list(await chatExists(req.params.id), req.query.status) }),
  );

  app.post<{ Params: { id: string; requestId: string }; Body: PermissionAnswer }>(
    '/api/chats/:id/permissions/:requestId',
    {
      schema: {
        params: { type: 'object', required: ['id', 'requestId'], properties: { id, requestId: id } },
        body: {
          type: 'object',
          required: ['decision'],
          additionalProperties: false,
          properties: {
            decision: { type: 'string', enum: ['allow', 'deny'] },
            scope: { type: 'string', enum: ['once', 'always'] },
            message: { type: 'string', maxLength: 10_000 },
            answers: {
              type: 'object',
              maxProperties: 50,
              additionalProperties: { type: 'string', maxLength: 10_000 },
            },
          },
        },
      },
    },
    async (req) => {
      const chatId = known(req.params.id, 'chat', 'chat_not_found');
      const requestId = known(req.params.requestId, 'permission request', 'permission_not_found');
      return runtime.permissions.answer(chatId, requestId, req.body);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/chats/:id/permission-rules',
    { schema: { params: { type: 'object', required: ['id'], properties: { id } } } },
    async (req) => ({ rules: await runtime.permissions.rules(await chatExists(req.params.id)) }),
  );

  app.delete<{ Params: { id: string; ruleId: string } }>(
    '/api/chats/:id/permission-rules/:ruleId',
    { schema: { params: { type: 'object', required: ['id', 'ruleId'], properties: { id, ruleId: id } } } },
    async (req, reply) => {
      const chatId = await chatExists(req.params.id);
      await runtime.permissions.deleteRule(chatId, known(req.params.ruleId, 'rule', 'rule_not_found'));
      return reply.code(204).send();
    },
  );
}
