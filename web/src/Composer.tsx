import { useState } from 'react';

/**
 * Enter sends, Shift+Enter starts a new line; while a turn runs, Stop ends it (and what
 * waits behind it). A claude chat may pick the road for a message: the server's choice,
 * the warm SDK path or the PTY path.
 */
export function Composer({
  running,
  choosePath,
  onSend,
  onStop,
}: {
  running: boolean;
  choosePath: boolean;
  onSend: (text: string, backend?: string) => Promise<void>;
  onStop: () => Promise<void>;
}) {
  const [text, setText] = useState('');
  const [path, setPath] = useState('');
  const [error, setError] = useState<string | null>(null);
  const send = async () => {
    const message = text;
    if (!message.trim()) return;
    setError(null);
    try {
      await onSend(message, path || undefined);
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
          placeholder={running ? 'Queue another message… (Esc stops the running turn)' : 'Message the agent (Enter sends, Shift+Enter for a new line)'}
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
          {choosePath && (
            <select aria-label="Path" value={path} onChange={(e) => setPath(e.target.value)} title="Which way claude runs this message">
              <option value="">auto</option>
              <option value="claude_sdk">SDK</option>
              <option value="claude_pty">PTY</option>
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
