import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime/hearth-runtime.js';
import type { ChatEvent } from '../runtime/event-log.js';
import { HearthError } from '../runtime/errors.js';
import { isUuid } from '../api/ids.js';

export interface EventStreamOptions {
  runtime: Runtime;
  /** Unsent bytes a client may fall behind by before it is cut off (it reconnects and replays). */
  maxBufferedBytes?: number;
  heartbeatMs?: number;
  /** How long a replay waits on a client that takes nothing before cutting it off. */
  stallMs?: number;
  /** Payload bytes read from the database per replay page (beyond its first event). */
  pageBytes?: number;
}

/** Live events held while the replay runs; past this the replay simply reads on. */
const MAX_PENDING = 10_000;

/**
 * `GET /api/chats/:id/events`: Server-Sent Events, `id:` the chat's sequence number.
 * `Last-Event-ID` (or `?after=`) replays what the client missed from the database, then
 * the stream goes live. A client that falls too far behind is disconnected rather than
 * buffered without bound, and so is one that stops taking its replay; its reconnect
 * replays the rest. The replay reads small pages at the client's pace, so a slow client
 * holds one page at most. Closing the server ends every stream.
 */
export async function eventStreamRoute(app: FastifyInstance, options: EventStreamOptions): Promise<void> {
  const { runtime } = options;
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const stallMs = options.stallMs ?? 60_000;
  const pageBytes = options.pageBytes ?? 256 * 1024;
  /** Ends each open stream. */
  const open = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of [...open]) end();
    done();
  });

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
      // The client may have gone while the chat was looked up: its close has been and
      // gone, so nothing must be set up that waits for it.
      if (res.destroyed || req.raw.socket.destroyed) {
        res.destroy();
        return;
      }
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
        open.delete(end);
        unsubscribe();
        clearInterval(heartbeat);
        if (drop) res.destroy();
        else res.end();
      };
      /** On shutdown: a client that has taken everything gets a clean end, any other is dropped. */
      const end = () => close(res.writableLength > 0);
      /** Writes one event; false when the socket wants a pause. */
      const write = (seq: number, kind: string, json: string): boolean => {
        last = seq;
        return res.write(`id: ${seq}\nevent: ${kind}\ndata: ${json}\n\n`);
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
        write(event.seq, event.kind, JSON.stringify(event.data));
      };
      // Set up in one tick with the check above: every way the stream ends undoes all of it.
      const unsubscribe = runtime.events.subscribe(chatId, (event) => {
        if (live) return send(event);
        if (pending.length < MAX_PENDING) pending.push(event);
        else overflowed = true;
      });
      const heartbeat = setInterval(() => !closed && res.write(': keep-alive\n\n'), heartbeatMs);
      open.add(end);
      res.once('close', () => close());

      try {
        for (;;) {
          const page = await runtime.events.page(chatId, last, { maxBytes: pageBytes });
          // The replay goes at the client's pace: it waits for the socket to drain.
          for (const event of page.events) {
            if (closed) return;
            if (event.seq <= last || write(event.seq, event.kind, event.json)) continue;
            if (!(await drained(res, stallMs))) {
              if (!closed) req.log.warn({ chatId, stallMs }, 'SSE client took nothing of its replay; disconnecting it');
              close(true);
              return;
            }
          }
          if (closed) return;
          if (!page.more && !overflowed) break;
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

/**
 * Waits until the response has handed its backlog to the client. False when the client
 * went, or took nothing at all for `stallMs`. Both listeners go, whichever fires.
 */
function drained(res: ServerResponse, stallMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let backlog = res.writableLength;
    let movedAt = Date.now();
    const watch = setInterval(() => {
      const now = res.writableLength;
      if (now < backlog) movedAt = Date.now();
      backlog = now;
      if (Date.now() - movedAt >= stallMs) finish(false);
    }, Math.max(10, stallMs / 4));
    const onDrain = () => finish(true);
    const onClose = () => finish(false);
    const finish = (ok: boolean) => {
      clearInterval(watch);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
