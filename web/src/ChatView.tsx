import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
// The component takes the view's name; the chat it shows is a Chat here.
import type { AgentInfo, Api, ChatView as Chat } from './api';
import { ChatTitle } from './ChatTitle';
import { Composer } from './Composer';
import { count, knownCost, money, shortName } from './format';
import type { PermissionAnswer } from './api';
import { PermissionModeSelect } from './PermissionModeSelect';
import type { ChatEvent } from './api';
import { agentsOf, applyEvents, busy, emptyTranscript } from './transcript';
import { TurnView } from './TurnView';

/** One chat: its live transcript, what it has cost, and the composer. */
export function ChatView({
  api,
  chatId,
  reachable,
  onError,
  onTurnEnd,
  onRenamed,
  onStreamChange,
  onPermissionsChange,
}: {
  api: Api;
  chatId: string;
  /** Whether the server answered its last health check. */
  reachable: boolean;
  onError: (err: unknown) => void;
  onTurnEnd: () => void;
  /** The chat was renamed: the list shows the new name. */
  onRenamed: () => void;
  /** The event stream opened or broke: a moment to ask the server how it is. */
  onStreamChange: () => void;
  /** A request of this chat arose or ended: the list's marks and the tab's count change. */
  onPermissionsChange: () => void;
}) {
  const [transcript, dispatch] = useReducer(applyEvents, emptyTranscript);
  const [chat, setChat] = useState<Chat | null>(null);
  const [agents, setAgents] = useState<AgentInfo[]>([]);
  /** The agent picked for the next message; until one is, the last one spoken to, else the chat's own. */
  const [picked, setPicked] = useState<string | null>(null);
  const [connected, setConnected] = useState(false);
  const bottom = useRef<HTMLDivElement>(null);
  const follow = useRef(true);

  useEffect(() => {
    let ended: ReturnType<typeof setTimeout> | undefined;
    let asked: ReturnType<typeof setTimeout> | undefined;
    // Events go to the transcript once a frame: a replay or a fast stream renders at the
    // screen's pace, not once an event.
    const arrived: ChatEvent[] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      dispatch(arrived.splice(0));
    };
    const load = () => api.chat(chatId).then(setChat, onError);
    load();
    // An agent that left the pool since this chat was last used starts while its next message is typed; it is only a head start, so a failure stays quiet.
    api.prewarm(chatId).catch(() => {});
    api.agents().then(setAgents, onError);
    const stop = api.follow(
      chatId,
      (e) => {
        arrived.push(e);
        if (!frame) frame = requestAnimationFrame(flush);
        if (e.event === 'turn_end' || e.event === 'turn_start') {
          clearTimeout(ended);
          ended = setTimeout(() => {
            load();
            onTurnEnd();
          }, 100);
        }
        if (e.event === 'permission_request' || e.event === 'permission_resolved') {
          clearTimeout(asked);
          asked = setTimeout(onPermissionsChange, 50);
        }
      },
      (up) => {
        setConnected(up);
        onStreamChange();
      },
    );
    return () => {
      clearTimeout(ended);
      clearTimeout(asked);
      cancelAnimationFrame(frame);
      stop();
    };
  }, [api, chatId, onError, onTurnEnd, onStreamChange, onPermissionsChange]);

  const answer = useCallback((requestId: string, body: PermissionAnswer) => api.answerPermission(chatId, requestId, body), [api, chatId]);

  useEffect(() => {
    if (follow.current) bottom.current?.scrollIntoView({ block: 'end' });
  }, [transcript]);

  const sessions = chat?.sessions ?? [];
  const tokens = sessions.reduce((n, s) => n + s.inputTokens + s.outputTokens, 0);
  const cost = knownCost(sessions);
  const lastBackend = [...transcript.turns].reverse().find((t) => t.backend)?.backend ?? sessions[0]?.backend ?? null;
  const running = busy(transcript);
  const spoken = agentsOf(transcript);
  const installed = (name: string | null | undefined) => (name && agents.some((a) => a.name === name) ? name : null);
  const lastAgent = [...transcript.turns].reverse().find((t) => t.agent)?.agent;
  const agent = installed(picked) ?? installed(lastAgent) ?? installed(chat?.agent) ?? chat?.agent ?? null;
  const stop = async () => {
    await api.abort(chatId);
  };

  // Esc stops the running turn from the composer or the page, but not from inside a dialog
  // (where it closes the dialog) or while one is open.
  useEffect(() => {
    if (!running) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented || e.isComposing) return;
      const target = e.target instanceof Element ? e.target : null;
      if (target?.closest('dialog, [role="dialog"], [role="alertdialog"]')) return;
      if (document.querySelector('dialog[open], [role="dialog"][aria-modal="true"], [role="alertdialog"]')) return;
      e.preventDefault();
      api.abort(chatId).catch(onError);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [running, api, chatId, onError]);

  return (
    <section className="chat-view" aria-label="Chat">
      <div className="chat-header">
        <div className="chat-name">
          <ChatTitle
            api={api}
            chat={chat}
            onRenamed={(renamed) => {
              setChat((old) => (old ? { ...old, title: renamed.title } : renamed));
              onRenamed();
            }}
          />
          {chat?.branch && <span className="branch">{chat.branch}</span>}
        </div>
        {chat && <PermissionModeSelect api={api} chat={chat} running={running} onChanged={setChat} />}
        <div className="chat-stats" data-testid="chat-stats">
          <span data-testid="chat-agents">{spoken.length > 1 ? spoken.join(' + ') : chat?.agent}</span>
          {lastBackend && <span className="backend" data-testid="backend">{shortName(lastBackend)}</span>}
          <span data-testid="tokens">{count(tokens)} tokens</span>
          <span data-testid="cost">{money(cost)}</span>
          {/* Live only while the stream is open and the server answers; when it does not, the banner above says so alone. */}
          {reachable && (
            <span className={connected ? 'conn up' : 'conn down'} data-testid="connection" title={connected ? 'following the chat live' : 'the event stream is reconnecting'}>
              {connected ? '● live' : '○ reconnecting'}
            </span>
          )}
        </div>
      </div>
      <div
        className="transcript"
        data-testid="transcript"
        onScroll={(e) => {
          const el = e.currentTarget;
          follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
        }}
      >
        {transcript.turns.length === 0 && <p className="hint">No messages yet.</p>}
        {transcript.turns.map((t) => (
          <TurnView key={t.id} turn={t} answer={answer} showAgent={spoken.length > 1} />
        ))}
        <div ref={bottom} />
      </div>
      <Composer
        running={running}
        agents={agents}
        agent={agent}
        onAgent={setPicked}
        onSend={async (text, options) => {
          follow.current = true;
          await api.send(chatId, text, options);
        }}
        onStop={stop}
      />
    </section>
  );
}
