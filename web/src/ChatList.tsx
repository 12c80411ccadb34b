import type { ChatView } from './api';
import { money } from './format';
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
        const cost = (c.sessions ?? []).reduce((sum, s) => sum + s.cost, 0);
        return (
          <li key={c.id} className={c.id === selected ? 'selected' : undefined} data-testid="chat-item">
            <button className="chat-open" onClick={() => onOpen(c.id)}>
              <span className="chat-title">{c.title || c.repoPath.split('/').pop() || c.repoPath}</span>
              <span className="chat-meta">
                {c.agent} · <span className={c.busy ? 'status busy' : 'status'}>{c.busy ? 'working' : 'idle'}</span>
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
