import { useState } from 'react';

/** Starts a chat on a repository: a worktree on a branch of its own. */
export function NewChatForm({
  onCreate,
}: {
  onCreate: (body: { repoPath: string; agent?: string; model?: string; permissionMode?: string }) => Promise<void>;
}) {
  const [repoPath, setRepoPath] = useState('');
  const [agent, setAgent] = useState('claude');
  const [model, setModel] = useState('');
  const [mode, setMode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="new-chat"
      aria-label="New chat"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          await onCreate({
            repoPath: repoPath.trim(),
            agent: agent.trim() || undefined,
            model: model.trim() || undefined,
            permissionMode: mode || undefined,
          });
          setRepoPath('');
        } catch (err) {
          setError((err as Error).message);
        } finally {
          setBusy(false);
        }
      }}
    >
      <input aria-label="Repository path" placeholder="/path/to/repository" value={repoPath} onChange={(e) => setRepoPath(e.target.value)} required />
      <div className="row">
        <input aria-label="Agent" placeholder="agent" value={agent} onChange={(e) => setAgent(e.target.value)} />
        <input aria-label="Model" placeholder="model (default)" value={model} onChange={(e) => setModel(e.target.value)} />
      </div>
      <select aria-label="Permissions" value={mode} onChange={(e) => setMode(e.target.value)}>
        <option value="">Permissions: agent default</option>
        <option value="acceptEdits">Accept edits</option>
        <option value="plan">Plan only</option>
        <option value="bypassPermissions">Bypass permissions</option>
      </select>
      <button type="submit" disabled={busy}>
        New chat
      </button>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
