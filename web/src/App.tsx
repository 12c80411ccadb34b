import { useCallback, useEffect, useMemo, useState } from 'react';
// The chat component takes the view's name; the chats it lists are Chats here.
import { BACKEND_KINDS, BACKEND_SHORT_NAMES } from '../../src/api/views.js';
import { Api, ApiError, type ChatView as Chat, type HealthReport, type PermissionRequestView } from './api';
import { NotifyButton, useAttention } from './Attention';
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

/**
 * What the UI knows of the server: not heard from yet, answering (with its last health
 * report), or not reachable. The header's status and the backend badges come from this
 * alone, so they never claim more than the last answer said.
 */
type Connection =
  | { state: 'connecting' }
  | { state: 'up'; health: HealthReport }
  | { state: 'unreachable'; message: string };

function Main({ token, onRefused }: { token: string; onRefused: () => void }) {
  const api = useMemo(() => new Api(token), [token]);
  const [chats, setChats] = useState<Chat[]>([]);
  // What waits for a person in every chat; null until the server has said.
  const [pending, setPending] = useState<PermissionRequestView[] | null>(null);
  const [connection, setConnection] = useState<Connection>({ state: 'connecting' });
  const [selected, setSelected] = useState<string | null>(chatFromHash);
  const [error, setError] = useState<string | null>(null);
  const [menuOpen, setMenuOpen] = useState(selected === null);

  const fail = useCallback(
    (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) onRefused();
      else if (err instanceof ApiError && err.status === 0) setConnection({ state: 'unreachable', message: err.message });
      else setError((err as Error).message);
    },
    [onRefused],
  );
  const refresh = useCallback(async () => {
    try {
      const health = await api.health();
      setConnection({ state: 'up', health });
      const [list, waiting] = await Promise.all([api.chats(), api.pendingPermissions()]);
      setChats(list);
      setPending(waiting);
      setError(null);
    } catch (err) {
      fail(err);
    }
  }, [api, fail]);

  // While a turn runs or a request waits, the list looks more often: a request in another chat shows soon.
  const lively = chats.some((c) => c.busy || c.pendingPermissions > 0);
  useEffect(() => {
    const timer = setInterval(() => void refresh(), lively ? 2_000 : 5_000);
    return () => clearInterval(timer);
  }, [refresh, lively]);

  useEffect(() => {
    void refresh();
    // A chat picked or left through the address closes the menu, as picking it there does.
    const onHash = () => {
      setSelected(chatFromHash());
      setMenuOpen(false);
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [refresh]);

  const open = (id: string | null) => {
    window.location.hash = id ? `#/chat/${id}` : '';
    setSelected(id);
    setMenuOpen(false);
  };
  useAttention(chats, pending, open);
  const health = connection.state === 'up' ? connection.health : null;

  return (
    <div className="app">
      {health?.demo && (
        <div className="demo-banner" data-testid="demo-banner">
          Demo mode: replies come from a scripted model on this machine, not from Claude.
        </div>
      )}
      {health && <HealthWarnings health={health} />}
      <header className="topbar">
        <button
          className="menu-button"
          aria-label="Chats"
          aria-expanded={menuOpen}
          onClick={() => setMenuOpen(!menuOpen)}
        >
          ☰
        </button>
        <h1>Hearth</h1>
        <NotifyButton />
        <BackendBadges health={health} />
      </header>
      {connection.state === 'unreachable' && (
        <div className="error-banner" role="alert" data-testid="unreachable">
          {capitalized(connection.message)}; trying again every few seconds.
        </div>
      )}
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
            <ChatView
              key={selected}
              api={api}
              chatId={selected}
              reachable={connection.state !== 'unreachable'}
              onError={fail}
              onTurnEnd={refresh}
              onRenamed={refresh}
              onStreamChange={refresh}
              onPermissionsChange={refresh}
            />
          ) : (
            <div className="empty">Pick a chat, or start one on a repository.</div>
          )}
        </main>
      </div>
    </div>
  );
}

function capitalized(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** What the server says is wrong with its setup, and a database that does not answer. */
function HealthWarnings({ health }: { health: HealthReport }) {
  const warnings = [...(health.warnings ?? [])];
  if (health.database && !health.database.up) {
    warnings.push({
      code: 'database_down',
      message: `The server's database is not answering${health.database.error ? ` (${health.database.error})` : ''}; chats cannot load or run until it is back.`,
    });
  }
  if (warnings.length === 0) return null;
  return (
    <div className="warning-banners">
      {warnings.map((w) => (
        <div key={w.code} className="warning-banner" role="status" data-testid="warning" data-code={w.code}>
          {w.message}
        </div>
      ))}
    </div>
  );
}

/** Each claude path as the last health report has it; unknown while there is no report to go by. */
function BackendBadges({ health }: { health: HealthReport | null }) {
  return (
    <div className="badges" data-testid="backend-badges">
      {BACKEND_KINDS.map((kind) => {
        const label = BACKEND_SHORT_NAMES[kind];
        const state = health?.backends?.[kind] ?? 'unknown';
        const title =
          state === 'unknown' ? `${label} path: unknown, the server has not answered` : (health?.backendErrors?.[kind] ?? `${label} path ${state}`);
        return (
          <span key={kind} className={`badge ${state}`} data-state={state} title={title}>
            {label} {state === 'unknown' ? '?' : state}
          </span>
        );
      })}
    </div>
  );
}
