import type { ChatView } from './api';
import { knownCost, money } from './format';
import { ago } from './relative-time';

export function ChatList({
  chats,
  selected,
  onOpen,
  onDelete,
}: {
  chats: ChatView[];
  selected: string | null;
  onOpen: (id: string) => void;
  onDelete: (id: string) => void;
}) {
  if (chats.length === 0) return <p className="hint">No chats yet.</p>;
  return (
    <ul className="chat-list" aria-label="Chats">
      {chats.map((c) => {
        const cost = knownCost(c.sessions ?? []) ?? 0;
        return (
          <li key={c.id} className={[c.id === selected && 'selected', c.pendingPermissions > 0 && 'waiting'].filter(Boolean).join(' ') || undefined} data-testid="chat-item" data-waiting={c.pendingPermissions}>
            <button className="chat-open" onClick={() => onOpen(c.id)}>
              <span className="chat-title">
                {c.pendingPermissions > 0 && (
                  <span className="waiting-mark" data-testid="waiting-mark" title={`${c.pendingPermissions} ${c.pendingPermissions === 1 ? 'request waits' : 'requests wait'} for you`}>
                    {c.pendingPermissions}
                  </span>
                )}
                {c.title || c.repoPath.split('/').pop() || c.repoPath}
              </span>
              <span className="chat-meta">
                {c.agent} · <ChatState chat={c} />
                {cost > 0 && <> · {money(cost)}</>} · <time dateTime={c.updatedAt} title={`last active ${new Date(c.updatedAt).toLocaleString()}`}>{ago(c.updatedAt)}</time>
              </span>
            </button>
            <button
              className="chat-delete"
              aria-label={`Delete chat ${c.title || c.id}`}
              onClick={() => {
                if (window.confirm('Delete this chat and its worktree? The branch stays.')) onDelete(c.id);
              }}
            >
              ✕
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** What the chat is doing: waiting for a person comes before working, since only a person can move it on. */
function ChatState({ chat }: { chat: ChatView }) {
  if (chat.pendingPermissions > 0) return <span className="status waiting">waits for you</span>;
  return <span className={chat.busy ? 'status busy' : 'status'}>{chat.busy ? 'working' : 'idle'}</span>;
}
