import type { Sql } from '../db/sql.js';

/** One message of an OpenCode session as its export lists it. */
export interface OpencodeExportMessage {
  info: { id: string; time: { created: number } } & Record<string, unknown>;
  parts: unknown[];
}

/** An OpenCode session as `opencode export` gives it, and `opencode import` takes it. */
export interface OpencodeExport {
  info: { id: string } & Record<string, unknown>;
  messages: OpencodeExportMessage[];
}

/**
 * OpenCode's sessions kept in PostgreSQL, so that a node whose OpenCode lacks one (a
 * new node, a lost data directory) imports it. A turn stores the session and the
 * messages it added or changed; the messages before it are not written again.
 */
export class OpencodeSessions {
  constructor(private readonly sql: Sql) {}

  /** Stores the session as it is now, and these of its messages. */
  async keep(info: OpencodeExport['info'], messages: readonly OpencodeExportMessage[]): Promise<void> {
    await this.sql.begin(async (tx) => {
      await tx`
        INSERT INTO opencode_sessions (session_id, info) VALUES (${info.id}, ${JSON.stringify(info)})
        ON CONFLICT (session_id) DO UPDATE SET info = EXCLUDED.info, updated_at = now()`;
      for (const m of messages) {
        await tx`
          INSERT INTO opencode_messages (session_id, message_id, created, body)
          VALUES (${info.id}, ${m.info.id}, ${m.info.time.created}, ${JSON.stringify(m)})
          ON CONFLICT (session_id, message_id) DO UPDATE SET body = EXCLUDED.body, created = EXCLUDED.created`;
      }
    });
  }

  /** The session's export, or null when none is kept. */
  async export(sessionId: string): Promise<OpencodeExport | null> {
    const [session] = await this.sql<{ info: string }[]>`SELECT info FROM opencode_sessions WHERE session_id = ${sessionId}`;
    if (!session) return null;
    const rows = await this.sql<{ body: string }[]>`
      SELECT body FROM opencode_messages WHERE session_id = ${sessionId} ORDER BY created, message_id COLLATE "C"`;
    return { info: JSON.parse(session.info) as OpencodeExport['info'], messages: rows.map((r) => JSON.parse(r.body) as OpencodeExportMessage) };
  }
}
