import { useCallback, useEffect, useMemo, useState } from 'react';
import { Api, ApiError, type Chat, type Health } from './api';
import { ChatList } from './ChatList';
import { ChatView } from './ChatView';
import { NewChatForm } from './NewChatForm';
import { TokenPrompt } from './TokenPrompt';

const TOKEN_KEY = 'hearth.token';

/** The selected chat lives in the address (#/chat/<id>), so a reload keeps it. */
function chatFromHash(): string | null {
  const m = /^#\/chat\/([0-9a-f-]{36})$/i.exec(window.location.hash);
  return m ? m[1]! : null;
}

export function App() {
  const [token, setToken] = useState<string | null>(() => localStorage.getItem(TOKEN_KEY));
  const [refused, setRefused] = useState(false);
  if (!token) {
    return (
      <TokenPrompt
        refused={refused}
        onToken={(t) => {
          localStorage.setItem(TOKEN_KEY, t);
          setRefused(false);
          setToken(t);
        }}
      />
    );
  }
  return (
    <Main
      token={token}
      onRefused={() => {
        localStorage.removeItem(TOKEN_KEY);
        setRefused(true);
        setToken(null);
      }}
    />
  );
}

function Main({ token, onRefused }: { token: string; onRefused: () => void }) {
  const api = useMemo(() => new Api(token), [token]);
  const [chats, setChats] = useState<Chat[]>([]);
  const [health, setHealth] = useState<Health | null>(null);
  const [selected, setSelected] = useState<string | null>(chatFromHash);
  const [error, setError] = useState<string | null>(null);
  const [menuOpen, setMenuOpen] = useState(selected === null);

  const fail = useCallback(
    (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) onRefused();
      else setError((err as Error).message);
    },
    [onRefused],
  );
  const refresh = useCallback(async () => {
    try {
      setChats(await api.chats());
      setHealth(await api.health());
      setError(null);
    } catch (err) {
      fail(err);
    }
  }, [api, fail]);

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), 5_000);
    const onHash = () => setSelected(chatFromHash());
    window.addEventListener('hashchange', onHash);
    return () => {
      clearInterval(timer);
      window.removeEventListener('hashchange', onHash);
    };
  }, [refresh]);

  const open = (id: string | null) => {
    window.location.hash = id ? `#/chat/${id}` : '';
    setSelected(id);
    setMenuOpen(false);
  };

  return (
    <div className="app">
      {health?.demo && (
        <div className="demo-banner" data-testid="demo-banner">
          Demo mode: replies come from a scripted model on this machine, not from Claude.
        </div>
      )}
      <header className="topbar">
        <button className="menu-button" aria-label="Chats" onClick={() => setMenuOpen(!menuOpen)}>
          ☰
        </button>
        <h1>Hearth</h1>
        {health && <BackendBadges health={health} />}
      </header>
      {error && (
        <div className="error-banner" role="alert">
          {error}
        </div>
      )}
      <div className="layout">
        <aside className={menuOpen ? 'sidebar open' : 'sidebar'}>
          <NewChatForm
            api={api}
            onCreate={async (body) => {
              const chat = await api.createChat(body);
              await refresh();
              open(chat.id);
            }}
          />
          <ChatList
            chats={chats}
            selected={selected}
            onOpen={open}
            onDelete={async (id) => {
              try {
                await api.deleteChat(id);
                if (selected === id) open(null);
                await refresh();
              } catch (err) {
                fail(err);
              }
            }}
          />
        </aside>
        <main className="main">
          {selected ? (
            <ChatView key={selected} api={api} chatId={selected} onError={fail} onTurnEnd={refresh} />
          ) : (
            <div className="empty">Pick a chat, or start one on a repository.</div>
          )}
        </main>
      </div>
    </div>
  );
}

function BackendBadges({ health }: { health: Health }) {
  const names: Record<string, string> = { claude_sdk: 'SDK', claude_pty: 'PTY' };
  return (
    <div className="badges">
      {Object.entries(names).map(([kind, label]) => {
        const up = health.backends?.[kind] === 'up';
        return (
          <span key={kind} className={up ? 'badge up' : 'badge down'} title={health.backendErrors?.[kind] ?? `${label} path ${up ? 'up' : 'down'}`}>
            {label} {up ? 'up' : 'down'}
          </span>
        );
      })}
    </div>
  );
}
