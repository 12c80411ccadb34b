import type { FastifyError, FastifyInstance } from 'fastify';
import { isDatabaseUnreachable } from '../db/unreachable.js';
import { HearthError } from '../runtime/errors.js';

/** Every error leaves as `{ error: { code, message } }` with a status that says whose fault it was. */
export function handleErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HearthError | Error, req, reply) => {
    if (err instanceof HearthError) {
      return reply.code(err.status).send({ error: { ...err.details, code: err.code, message: err.message } });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      return reply.code(400).send({ error: { code: 'invalid_request', message: fe.message } });
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send({ error: { code: fe.code ?? 'bad_request', message: fe.message } });
    }
    if (isDatabaseUnreachable(err)) {
      req.log.warn({ err }, 'request failed: the database cannot be reached');
      return reply.code(503).send({
        error: { code: 'database_unavailable', message: 'the database cannot be reached; try again shortly', requestId: req.id },
      });
    }
    // What went wrong inside stays in the log; the client gets the id that finds it there.
    req.log.error({ err, requestId: req.id }, 'request failed');
    return reply.code(500).send({ error: { code: 'internal', message: `internal error (request ${req.id})`, requestId: req.id } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } }),
  );
}
