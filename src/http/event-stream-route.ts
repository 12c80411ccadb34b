import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime/hearth-runtime.js';
import type { ChatEvent } from '../runtime/event-log.js';
import { HearthError } from '../runtime/errors.js';
import { isUuid } from '../runtime/chats.js';

export interface EventStreamOptions {
  runtime: Runtime;
  /** Unsent bytes a client may fall behind by before it is cut off (it reconnects and replays). */
  maxBufferedBytes?: number;
  heartbeatMs?: number;
}

const PAGE = 1_000;
/** Live events held while the replay runs; past this the replay simply reads on. */
const MAX_PENDING = 10_000;

/**
 * `GET /api/chats/:id/events`: Server-Sent Events, `id:` the chat's sequence number.
 * `Last-Event-ID` (or `?after=`) replays what the client missed from the database, then
 * the stream goes live. A client that falls too far behind is disconnected rather than
 * buffered without bound; its reconnect replays the rest.
 */
export async function eventStreamRoute(app: FastifyInstance, options: EventStreamOptions): Promise<void> {
  const { runtime } = options;
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const heartbeatMs = options.heartbeatMs ?? 15_000;

  app.get<{ Params: { id: string }; Querystring: { after?: string } }>(
    '/api/chats/:id/events',
    {
      config: { access: 'token-or-query' },
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
        querystring: { type: 'object', properties: { after: { type: 'string', pattern: '^[0-9]{1,15}$' }, token: { type: 'string' } } },
      },
    },
    async (req, reply) => {
      const chatId = req.params.id;
      if (!isUuid(chatId) || !(await runtime.chats.get(chatId, false))) {
        throw new HearthError(404, 'chat_not_found', `no chat ${chatId}`);
      }
      const header = req.headers['last-event-id'];
      const from = typeof header === 'string' && header !== '' ? header : (req.query.after ?? '0');
      if (!/^[0-9]{1,15}$/.test(from)) throw new HearthError(400, 'invalid_last_event_id', `Last-Event-ID must be a sequence number, got ${JSON.stringify(from)}`);

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write('retry: 1000\n\n');

      let last = Number(from);
      let live = false;
      let closed = false;
      let overflowed = false;
      const pending: ChatEvent[] = [];
      /** Ends the stream; `drop` also throws away what the client has not taken yet. */
      const close = (drop = false) => {
        if (closed) return;
        closed = true;
        unsubscribe();
        clearInterval(heartbeat);
        if (drop) res.destroy();
        else res.end();
      };
      /** Writes one event; false when the socket wants a pause. */
      const write = (event: ChatEvent): boolean => {
        last = event.seq;
        return res.write(`id: ${event.seq}\nevent: ${event.kind}\ndata: ${JSON.stringify(event.data)}\n\n`);
      };
      /**
       * Live events are pushed as they come; a client whose backlog passes the limit is cut
       * off. The backlog is checked before writing, so one event larger than the limit
       * still goes out to a client that keeps up: what is held is the limit plus one event.
       */
      const send = (event: ChatEvent) => {
        if (closed || event.seq <= last) return;
        if (res.writableLength > maxBuffered) {
          req.log.warn({ chatId, buffered: res.writableLength }, 'SSE client too slow; disconnecting it');
          close(true);
          return;
        }
        write(event);
      };
      const unsubscribe = runtime.events.subscribe(chatId, (event) => {
        if (live) return send(event);
        if (pending.length < MAX_PENDING) pending.push(event);
        else overflowed = true;
      });
      const heartbeat = setInterval(() => !closed && res.write(': keep-alive\n\n'), heartbeatMs);
      req.raw.on('close', () => close());

      try {
        for (;;) {
          const page = await runtime.events.read(chatId, last, PAGE);
          // The replay goes at the client's pace: it waits for the socket to drain.
          for (const event of page) {
            if (closed) return;
            if (event.seq > last && !write(event)) await new Promise((r) => res.once('drain', r).once('close', r));
          }
          if (page.length < PAGE && !overflowed) break;
          overflowed = false;
          pending.length = 0;
        }
        live = true;
        for (const event of pending.splice(0)) send(event);
      } catch (err) {
        req.log.error({ err, chatId }, 'SSE replay failed');
        close();
      }
    },
  );
}
