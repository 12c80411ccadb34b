import { useState } from 'react';
import type { Api, ChatView, PermissionMode } from './api';

/** The modes offered, as the new-chat form offers them; a chat in another mode shows its own too. */
const MODES: { value: PermissionMode | ''; label: string }[] = [
  { value: '', label: "Agent's default" },
  { value: 'default', label: 'Ask before acting' },
  { value: 'acceptEdits', label: 'Accept edits' },
  { value: 'plan', label: 'Plan only' },
  { value: 'bypassPermissions', label: 'Bypass permissions' },
];

/**
 * The chat's permission mode, changed between turns: a turn keeps the mode it started
 * with, so the choice waits while one runs.
 */
export function PermissionModeSelect({ api, chat, running, onChanged }: { api: Api; chat: ChatView; running: boolean; onChanged: (chat: ChatView) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const current = chat.permissionMode ?? '';
  const modes = MODES.some((m) => m.value === current) ? MODES : [...MODES, { value: current, label: current }];
  return (
    <span className="mode-select">
      <select
        aria-label="Permission mode"
        data-testid="permission-mode"
        value={current}
        disabled={busy || running}
        title={running ? 'The mode can change once the running turn ends' : 'What the agent may do without asking, from the next message on'}
        onChange={async (e) => {
          const value = e.target.value as PermissionMode | '';
          setBusy(true);
          try {
            onChanged(await api.setPermissionMode(chat.id, value || null));
            setError(null);
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        {modes.map((m) => (
          <option key={m.value} value={m.value}>
            {m.label}
          </option>
        ))}
      </select>
      {error && (
        <span className="form-error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
