import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Sql } from '../db/sql.js';
import type { AgentRegistry } from './routing/agent-registry.js';
import type { SessionPool } from './sessions/session-pool.js';
import type { Dispatcher } from './turns/dispatcher.js';
import type { BackendKind, ChatView, PermissionMode, SessionStatus, SessionView, StoredMessage, TurnStatus } from '../api/views.js';
import { HearthError } from './errors.js';
import { isUuid } from '../api/ids.js';
import { createWorktree, removeWorktree, resolveRepo, withinRepoRoots, type Worktree, type WorktreeConfig } from './worktrees.js';

export interface ChatsDeps {
  sql: Sql;
  log: Logger;
  registry: AgentRegistry;
  pool: SessionPool;
  dispatcher: Dispatcher;
  worktrees: WorktreeConfig;
}

export interface NewChat {
  repoPath: string;
  agent?: string;
  model?: string | null;
  title?: string | null;
  permissionMode?: PermissionMode | null;
}

interface ChatRow {
  id: string;
  title: string | null;
  repo_path: string;
  default_agent: string;
  model: string | null;
  permission_mode: PermissionMode | null;
  worktree_path: string | null;
  branch: string | null;
  last_seq: string;
  pending_permissions: number;
  created_at: Date;
  updated_at: Date;
}

/** Chats and their worktrees: made together, removed together (the branch stays). */
export class Chats {
  constructor(private readonly deps: ChatsDeps) {}

  async create(input: NewChat): Promise<ChatView> {
    const repo = await resolveRepo(this.deps.worktrees, input.repoPath);
    const agent = input.agent ? this.deps.registry.get(input.agent) : this.deps.registry.defaultAgent();
    // A chat without a title takes one from its first message.
    const title = input.title?.trim() || null;
    const [chat] = await this.deps.sql<{ id: string }[]>`
      INSERT INTO chats (title, repo_path, default_agent, model, permission_mode)
      VALUES (${title}, ${repo}, ${agent.agent}, ${input.model ?? null}, ${input.permissionMode ?? null})
      RETURNING id`;
    const id = chat!.id;
    let wt: Worktree | null = null;
    try {
      wt = await createWorktree(this.deps.worktrees, repo, id, title);
      const made = wt;
      await this.deps.sql.begin(async (tx) => {
        const [w] = await tx<{ id: string }[]>`
          INSERT INTO worktrees (repo_path, path, branch, base_ref)
          VALUES (${repo}, ${made.path}, ${made.branch}, ${made.baseRef}) RETURNING id`;
        await tx`UPDATE chats SET worktree_id = ${w!.id} WHERE id = ${id}`;
      });
    } catch (err) {
      // Undo what can be undone; the error that stopped the chat is the one reported.
      const undo = (what: string) => (undoErr: unknown) =>
        this.deps.log.error({ err: undoErr, chatId: id }, `a chat that could not be made: ${what} left behind`);
      if (wt) await removeWorktree(repo, wt.path).catch(undo(`worktree ${wt.path}`));
      await this.deps.sql`DELETE FROM chats WHERE id = ${id}`.catch(undo('its row'));
      throw err;
    }
    await this.prewarm(id);
    return (await this.get(id, false))!;
  }

  /** Starts opening the chat's warm session ahead of its first message; a chat is made whatever becomes of that. */
  private async prewarm(id: string): Promise<void> {
    try {
      const report = await this.deps.dispatcher.prewarm(id);
      this.deps.log.debug({ chatId: id, ...report }, 'prewarm of a new chat');
    } catch (err) {
      this.deps.log.warn({ err, chatId: id }, 'a new chat could not be prewarmed');
    }
  }

  /** Every chat, most recently active first, each with its agent sessions (backend, tokens, cost). */
  async list(): Promise<ChatView[]> {
    const rows = await this.deps.sql<ChatRow[]>`${this.select()} ORDER BY c.updated_at DESC`;
    const sessions = await this.sessions(rows.map((r) => r.id));
    return rows.map((r) => ({ ...this.view(r), sessions: sessions.get(r.id) ?? [] }));
  }

  async get(id: string, withSessions = true): Promise<ChatView | null> {
    if (!isUuid(id)) return null;
    const [row] = await this.deps.sql<ChatRow[]>`${this.select()} WHERE c.id = ${id}`;
    if (!row) return null;
    const view = this.view(row);
    if (withSessions) view.sessions = (await this.sessions([id])).get(id) ?? [];
    return view;
  }

  /**
   * Changes what a chat may change: its title (a blank one is refused, since an untitled
   * chat would take the next message's) and its permission mode, which the next turn takes
   * (a turn that runs keeps the mode it started with).
   */
  async update(id: string, change: { title?: string; permissionMode?: PermissionMode | null }): Promise<ChatView> {
    const title = change.title?.trim();
    if (title === '') throw new HearthError(400, 'empty_title', 'the title is empty');
    if (title === undefined && change.permissionMode === undefined) throw new HearthError(400, 'nothing_to_change', 'give a title or a permissionMode');
    const sql = this.deps.sql;
    const [row] = isUuid(id)
      ? await sql`UPDATE chats SET
          title = ${title !== undefined ? sql`${title}` : sql`title`},
          permission_mode = ${change.permissionMode !== undefined ? sql`${change.permissionMode}` : sql`permission_mode`}
        WHERE id = ${id} RETURNING id`
      : [];
    if (!row) throw new HearthError(404, 'chat_not_found', `no chat ${id}`);
    return (await this.get(id))!;
  }

  /**
   * Repositories chats were made on, the most recently active first, also of chats since
   * deleted; only those still there and under the roots, where a new chat could go.
   */
  async recentRepos(limit = 10): Promise<string[]> {
    const rows = await this.deps.sql<{ repo_path: string }[]>`
      SELECT repo_path FROM (
        SELECT repo_path, updated_at AS at FROM chats
        UNION ALL SELECT repo_path, created_at FROM worktrees
      ) used GROUP BY repo_path ORDER BY max(at) DESC LIMIT 50`;
    const usable = await Promise.all(
      rows.map(async (r) => (await withinRepoRoots(this.deps.worktrees, r.repo_path)) && (await isDirectory(r.repo_path))),
    );
    return rows.filter((_, i) => usable[i]).slice(0, limit).map((r) => r.repo_path);
  }

  /** The agent sessions of these chats, by chat. */
  private async sessions(chatIds: string[]): Promise<Map<string, SessionView[]>> {
    const rows = await this.deps.sql<
      { chat_id: string; agent: string; backend: BackendKind; status: SessionStatus; input_tokens: string; output_tokens: string; cost: string | null; last_active_at: Date }[]
    >`SELECT chat_id, agent, backend, status, input_tokens, output_tokens, cost, last_active_at
      FROM agent_sessions WHERE chat_id = ANY(${chatIds}::uuid[]) ORDER BY agent`;
    const byChat = new Map<string, SessionView[]>();
    for (const s of rows) {
      const list = byChat.get(s.chat_id) ?? [];
      list.push({
        agent: s.agent,
        backend: s.backend,
        status: s.status,
        inputTokens: Number(s.input_tokens),
        outputTokens: Number(s.output_tokens),
        cost: s.cost === null ? null : Number(s.cost),
        lastActiveAt: s.last_active_at.toISOString(),
      });
      byChat.set(s.chat_id, list);
    }
    return byChat;
  }

  /** The durable history: user and assistant messages with their parts, oldest first. */
  async history(id: string): Promise<StoredMessage[] | null> {
    if (!(await this.get(id, false))) return null;
    const rows = await this.deps.sql<
      { id: string; turn_id: string | null; role: 'user' | 'assistant'; agent: string | null; parts: string; created_at: Date; status: TurnStatus | null; error: string | null }[]
    >`SELECT m.id, m.turn_id, m.role, m.agent, m.parts, m.created_at, t.status, t.error
      FROM messages m LEFT JOIN turns t ON t.id = m.turn_id
      WHERE m.chat_id = ${id} ORDER BY m.ord`;
    return rows.map((r) => ({
      id: r.id,
      turnId: r.turn_id,
      role: r.role,
      agent: r.agent,
      parts: JSON.parse(r.parts),
      turnStatus: r.status,
      turnError: r.error,
      createdAt: r.created_at.toISOString(),
    }));
  }

  /**
   * Stops the chat's turns, ends its agents, removes its worktree and forgets it. From the
   * moment it starts, the chat refuses new messages, so none is accepted only to be lost.
   */
  async delete(id: string): Promise<void> {
    const release = this.deps.dispatcher.beginDelete(id);
    try {
      const chat = await this.get(id, false);
      if (!chat) throw new HearthError(404, 'chat_not_found', `no chat ${id}`);
      await this.deps.dispatcher.stop(id);
      await this.deps.pool.removeChat(id);
      if (chat.worktreePath) await removeWorktree(chat.repoPath, chat.worktreePath);
      await this.deps.sql.begin(async (tx) => {
        await tx`UPDATE worktrees SET status = 'removed', removed_at = now()
                 WHERE id = (SELECT worktree_id FROM chats WHERE id = ${id})`;
        await tx`DELETE FROM chats WHERE id = ${id}`;
      });
    } finally {
      release();
    }
  }

  private select() {
    return this.deps.sql`
      SELECT c.id, c.title, c.repo_path, c.default_agent, c.model, c.permission_mode, c.last_seq, c.created_at, c.updated_at,
             w.path AS worktree_path, w.branch,
             (SELECT count(*)::int FROM permission_requests p WHERE p.chat_id = c.id AND p.status = 'pending') AS pending_permissions
      FROM chats c LEFT JOIN worktrees w ON w.id = c.worktree_id`;
  }

  private view(r: ChatRow): ChatView {
    return {
      id: r.id,
      title: r.title,
      repoPath: r.repo_path,
      agent: r.default_agent,
      model: r.model,
      permissionMode: r.permission_mode,
      worktreePath: r.worktree_path,
      branch: r.branch,
      busy: this.deps.dispatcher.busy(r.id),
      pendingPermissions: r.pending_permissions,
      lastEventId: Number(r.last_seq),
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
    };
  }
}

function isDirectory(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}
