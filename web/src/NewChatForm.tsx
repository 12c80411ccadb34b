import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { PermissionMode } from '../../src/api/views.js';
import { ApiError, type AgentInfo, type Api } from './api';
import './new-chat.css';

export interface NewChatBody {
  repoPath: string;
  agent?: string;
  model?: string;
  title?: string;
  permissionMode?: PermissionMode;
}

type Field = 'repoPath' | 'agent' | 'model' | 'title' | 'form';

/** Which field a refusal from the server is about, so it is shown beside that field. */
function fieldOf(err: unknown): Field {
  if (!(err instanceof ApiError)) return 'form';
  if (['invalid_repo_path', 'repo_outside_roots', 'not_a_git_repo', 'not_repo_root', 'empty_repo', 'worktree_failed'].includes(err.code)) {
    return 'repoPath';
  }
  if (err.code === 'agent_not_installed') return 'agent';
  if (err.code === 'invalid_request' || err.code === 'invalid_text') {
    for (const field of ['repoPath', 'model', 'title', 'agent'] as const) if (err.message.includes(field)) return field;
  }
  return 'form';
}

const baseName = (p: string) => p.replace(/\/+$/, '').split('/').pop() || p;

/**
 * Starts a chat on a repository (a worktree on a branch of its own): a button that opens
 * a dialog with the installed agents and the recent repositories to choose from.
 */
export function NewChatForm({ api, onCreate }: { api: Api; onCreate: (body: NewChatBody) => Promise<void> }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const id = useId();
  const [open, setOpen] = useState(false);
  const [agents, setAgents] = useState<AgentInfo[] | null>(null);
  const [recent, setRecent] = useState<string[]>([]);
  const [repoPath, setRepoPath] = useState('');
  const [title, setTitle] = useState('');
  const [agent, setAgent] = useState('');
  const [model, setModel] = useState('');
  const [mode, setMode] = useState<PermissionMode | ''>('');
  const [error, setError] = useState<{ field: Field; message: string } | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!open) return;
    dialog.current?.showModal();
    let current = true;
    setAgents(null);
    Promise.all([api.agents(), api.recentRepos()]).then(
      ([installed, repos]) => {
        if (!current) return;
        setAgents(installed);
        setRecent(repos);
        setAgent((chosen) => (installed.some((a) => a.name === chosen) ? chosen : installed[0]?.name ?? ''));
      },
      (err: unknown) => current && setError({ field: 'form', message: (err as Error).message }),
    );
    return () => {
      current = false;
    };
  }, [open, api]);

  const close = () => {
    dialog.current?.close();
    setOpen(false);
    setError(null);
  };
  const errorFor = (field: Field) =>
    error?.field === field ? (
      <p className="form-error" role="alert" id={`${id}-${field}-error`}>
        {error.message}
      </p>
    ) : null;
  const described = (field: Field, hint = true) =>
    [hint ? `${id}-${field}-hint` : '', error?.field === field ? `${id}-${field}-error` : ''].filter(Boolean).join(' ') || undefined;
  const noAgents = agents !== null && agents.length === 0;

  return (
    <>
      <button className="new-chat-open" onClick={() => setOpen(true)}>
        New chat
      </button>
      <dialog ref={dialog} className="new-chat-dialog" aria-labelledby={`${id}-heading`} onClose={() => setOpen(false)}>
        <form
          className="new-chat"
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            if (repoPath.trim() === '') {
              setError({ field: 'repoPath', message: 'Give the path of a git repository on the server.' });
              return;
            }
            setBusy(true);
            setError(null);
            try {
              await onCreate({
                repoPath: repoPath.trim(),
                agent: agent || undefined,
                model: model.trim() || undefined,
                title: title.trim() || undefined,
                permissionMode: mode || undefined,
              });
              setRepoPath('');
              setTitle('');
              close();
            } catch (err) {
              setError({ field: fieldOf(err), message: (err as Error).message });
            } finally {
              setBusy(false);
            }
          }}
        >
          <h2 id={`${id}-heading`}>New chat</h2>

          <Labeled id={`${id}-repo`} label="Repository path" hint={
            <>A git repository on the server, with at least one commit: an absolute path, or <code>~/…</code> for the server user's home.</>
          } hintId={`${id}-repoPath-hint`}>
            <input
              id={`${id}-repo`}
              list={`${id}-recent`}
              placeholder="~/projects/my-repo"
              value={repoPath}
              autoFocus
              aria-invalid={error?.field === 'repoPath' || undefined}
              aria-describedby={described('repoPath')}
              onChange={(e) => setRepoPath(e.target.value)}
            />
            <datalist id={`${id}-recent`}>
              {recent.map((r) => (
                <option key={r} value={r} />
              ))}
            </datalist>
            {recent.length > 0 && (
              <div className="recent-repos" role="group" aria-label="Recent repositories">
                <span className="hint">Recent:</span>
                {recent.slice(0, 5).map((r) => (
                  <button type="button" key={r} title={r} className={r === repoPath ? 'chosen' : undefined} onClick={() => setRepoPath(r)}>
                    {baseName(r)}
                  </button>
                ))}
              </div>
            )}
            {errorFor('repoPath')}
          </Labeled>

          <Labeled id={`${id}-title`} label="Title" hint="Optional: without one, the chat is named after your first message." hintId={`${id}-title-hint`}>
            <input id={`${id}-title`} value={title} maxLength={500} aria-describedby={described('title')} onChange={(e) => setTitle(e.target.value)} />
            {errorFor('title')}
          </Labeled>

          <Labeled id={`${id}-agent`} label="Agent" hintId={`${id}-agent-hint`} hint={
            noAgents ? 'No agent is installed on this server.' : 'The agents installed on the server.'
          }>
            <select
              id={`${id}-agent`}
              value={agent}
              disabled={agents === null || noAgents}
              aria-invalid={error?.field === 'agent' || undefined}
              aria-describedby={described('agent')}
              onChange={(e) => setAgent(e.target.value)}
            >
              {agents === null && <option value="">Loading…</option>}
              {agents?.map((a) => (
                <option key={a.name} value={a.name}>
                  {a.name} {a.version}
                </option>
              ))}
            </select>
            {errorFor('agent')}
          </Labeled>

          <Labeled id={`${id}-model`} label="Model" hintId={`${id}-model-hint`} hint="Optional: leave it empty for the agent's default, or name one the agent knows (for claude, e.g. sonnet or opus).">
            <input
              id={`${id}-model`}
              placeholder="the agent's default"
              value={model}
              maxLength={200}
              aria-invalid={error?.field === 'model' || undefined}
              aria-describedby={described('model')}
              onChange={(e) => setModel(e.target.value)}
            />
            {errorFor('model')}
          </Labeled>

          <Labeled id={`${id}-mode`} label="Permissions" hintId={`${id}-mode-hint`} hint="What the agent may do in the chat's worktree without asking.">
            <select id={`${id}-mode`} value={mode} aria-describedby={`${id}-mode-hint`} onChange={(e) => setMode(e.target.value as PermissionMode | '')}>
              <option value="">The agent's default</option>
              <option value="acceptEdits">Accept edits</option>
              <option value="plan">Plan only</option>
              <option value="bypassPermissions">Bypass permissions</option>
            </select>
          </Labeled>

          {errorFor('form')}
          <div className="dialog-buttons">
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={busy || agents === null || noAgents}>
              {busy ? 'Creating…' : 'Create chat'}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}

function Labeled({ id, label, hint, hintId, children }: { id: string; label: string; hint: ReactNode; hintId: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      <p className="hint" id={hintId}>
        {hint}
      </p>
    </div>
  );
}
