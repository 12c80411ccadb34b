import { useEffect, useRef, useState } from 'react';
import type { ChatView, PermissionRequestView } from './api';

const TITLE = 'Hearth';

/** The tab's title: how many requests wait for a person, in front, so a row of tabs shows it. */
export function tabTitle(waiting: number): string {
  return waiting > 0 ? `(${waiting}) ${TITLE}` : TITLE;
}

/** Whether this browser can notify from this page at all: notifications need a secure context. */
function canNotify(): boolean {
  return typeof Notification !== 'undefined' && window.isSecureContext;
}

/**
 * Tells the person that agents wait for them: the tab's title counts the requests of all
 * chats, and a request that arrives while the tab is hidden gets one browser notification
 * (when the person allowed them), closed again once the request is answered. Requests
 * already waiting when the page loads, or that arrive while it is in view, are not
 * notified later.
 */
export function useAttention(chats: ChatView[], pending: PermissionRequestView[] | null, onOpen: (chatId: string) => void): void {
  const waiting = chats.reduce((n, c) => n + c.pendingPermissions, 0);
  useEffect(() => {
    document.title = tabTitle(waiting);
  }, [waiting]);

  const seen = useRef<Set<string> | null>(null);
  const shown = useRef(new Map<string, Notification>());
  const latest = useRef({ chats, onOpen });
  latest.current = { chats, onOpen };

  useEffect(() => {
    if (pending === null) return;
    const ids = new Set(pending.map((p) => p.requestId));
    for (const [id, n] of shown.current) {
      if (!ids.has(id)) {
        n.close();
        shown.current.delete(id);
      }
    }
    if (seen.current === null) {
      seen.current = ids;
      return;
    }
    const fresh = pending.filter((p) => !seen.current!.has(p.requestId));
    for (const p of fresh) seen.current.add(p.requestId);
    if (!document.hidden || !canNotify() || Notification.permission !== 'granted') return;
    for (const p of fresh) {
      const chat = latest.current.chats.find((c) => c.id === p.chatId);
      const where = chat?.title || chat?.repoPath.split('/').pop() || 'a chat';
      // The tag keeps it one notification per request, even if two pages of Hearth are open.
      const n = new Notification(`${where} waits for you`, { body: notificationBody(p), tag: `hearth-${p.requestId}` });
      n.onclick = () => {
        window.focus();
        latest.current.onOpen(p.chatId);
        n.close();
      };
      shown.current.set(p.requestId, n);
    }
  }, [pending]);
}

function notificationBody(p: PermissionRequestView): string {
  switch (p.kind) {
    case 'question':
      return `${p.agent} asks: ${p.questions?.[0]?.question ?? 'a question'}`;
    case 'plan':
      return `${p.agent} asks you to approve its plan`;
    case 'permission': {
      const what = p.details?.command ?? p.details?.title;
      return `${p.agent} asks to use ${p.tool}${what ? `: ${what}` : ''}`;
    }
  }
}

/**
 * Asks the browser's leave to notify, on a click as browsers require; shown only while
 * the person has not said yes or no.
 */
export function NotifyButton() {
  const [permission, setPermission] = useState(() => (canNotify() ? Notification.permission : 'denied'));
  if (permission !== 'default') return null;
  return (
    <button
      type="button"
      className="notify-button"
      title="Get a browser notification when an agent waits for you while this tab is hidden"
      onClick={async () => setPermission(await Notification.requestPermission())}
    >
      Notify me
    </button>
  );
}
