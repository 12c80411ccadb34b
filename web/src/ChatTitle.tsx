import { useState } from 'react';
import type { Api, ChatView } from './api';

/** The chat's name, with a way to rename it in place: Enter keeps the new name, Esc keeps the old. */
export function ChatTitle({ api, chat, onRenamed }: { api: Api; chat: ChatView | null; onRenamed: (chat: ChatView) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const shown = chat?.title || chat?.repoPath || '…';

  if (!chat || draft === null) {
    return (
      <>
        <strong data-testid="chat-title">{shown}</strong>
        {chat && (
          <button type="button" className="rename" onClick={() => setDraft(chat.title ?? '')} aria-label="Rename chat" title="Rename chat">
            ✎
          </button>
        )}
      </>
    );
  }
  const save = async () => {
    try {
      onRenamed(await api.renameChat(chat.id, draft));
      setDraft(null);
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <form
      className="rename-form"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <input
        aria-label="Chat title"
        value={draft}
        maxLength={500}
        autoFocus
        aria-invalid={error ? 'true' : undefined}
        onChange={(e) => setDraft(e.target.value)}
        onKeyDown={(e) => {
          if (e.key !== 'Escape') return;
          // Esc here leaves the name as it was; it must not also stop the running turn.
          e.stopPropagation();
          e.preventDefault();
          setDraft(null);
          setError(null);
        }}
      />
      <button type="submit">Save</button>
      {error && (
        <span role="alert" className="field-error">
          {error}
        </span>
      )}
    </form>
  );
}
