import { useState } from 'react';
import type { AgentInfo } from '../../src/api/views.js';
import { shortName } from './format';

/**
 * Enter sends, Shift+Enter starts a new line; while a turn runs, Stop ends it (and what
 * waits behind it). Where the server has more than one agent, the message goes to the one
 * picked (another agent's first turn is told the conversation so far). An agent with
 * more than one backend may pick one for a message, or leave the choice to the server.
 */
export function Composer({
  running,
  agents,
  agent,
  onAgent,
  onSend,
  onStop,
}: {
  running: boolean;
  /** The agents installed on the server, with their backends in the order the server tries them. */
  agents: readonly AgentInfo[];
  /** The agent the next message is for. */
  agent: string | null;
  onAgent: (agent: string) => void;
  onSend: (text: string, options: { agent?: string; backend?: string }) => Promise<void>;
  onStop: () => Promise<void>;
}) {
  const [text, setText] = useState('');
  const [path, setPath] = useState('');
  const [error, setError] = useState<string | null>(null);
  const backends = agents.find((a) => a.name === agent)?.backends.map((b) => b.kind) ?? [];
  const send = async () => {
    const message = text;
    if (!message.trim()) return;
    setError(null);
    try {
      await onSend(message, { ...(agent ? { agent } : {}), ...(path ? { backend: path } : {}) });
      setText('');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <div className="composer">
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="composer-row">
        <textarea
          aria-label="Message"
          placeholder={running ? 'Queue another message… (Esc stops the running turn)' : `Message ${agent ?? 'the agent'} (Enter sends, Shift+Enter for a new line)`}
          value={text}
          rows={3}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              void send();
            }
          }}
        />
        <div className="composer-buttons">
          <button onClick={() => void send()} disabled={!text.trim()}>
            Send
          </button>
          {agents.length > 1 && (
            <select
              aria-label="Agent"
              value={agent ?? ''}
              title="Which agent this message is for"
              onChange={(e) => {
                onAgent(e.target.value);
                // Backends are the agent's own: the next one's choice starts at auto.
                setPath('');
              }}
            >
              {agents.map((a) => (
                <option key={a.name} value={a.name}>
                  {a.name}
                </option>
              ))}
            </select>
          )}
          {backends.length > 1 && (
            <select aria-label="Path" value={path} onChange={(e) => setPath(e.target.value)} title="Which backend runs this message">
              <option value="">auto</option>
              {backends.map((kind) => (
                <option key={kind} value={kind}>
                  {shortName(kind)}
                </option>
              ))}
            </select>
          )}
          {running && (
            <button className="stop" title="Stop the running turn and drop the queued ones (Esc)" onClick={() => void onStop().catch((err: Error) => setError(err.message))}>
              Stop
            </button>
          )}
        </div>
      </div>
    </div>
  );
}
