// Requests an agent puts to a person, as the web UI shows and answers them: headless
// Chromium against a real server, the real Claude Code binary (SDK road, its canUseTool
// relayed by Hearth) and the fake model, which has Claude write a file, run a command, ask
// questions and propose a plan in a chat whose mode asks first.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { PermissionRequestView } from '../../src/api/permissions.js';
import type { ChatView } from '../../src/api/views.js';
import { LIMIT, TOKEN, WebSession, send, turns, waitForStatus, watchPolicy } from './web-session.js';
import { proposePlan } from '../fixtures/plan-replies.js';

let web: WebSession;

before(async () => {
  web = await WebSession.start('web-permissions');
});

after(async () => {
  await web?.close();
});

const auth = { authorization: `Bearer ${TOKEN}` };

async function api<T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${web.base}${route}`, {
    method,
    headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

const chatOf = async (chatId: string) => (await api<ChatView>('GET', `/api/chats/${chatId}`)).body;

/** The card of the request to use `tool`, in the turn at `index`. */
const toolCard = (page: Page, index: number, tool: string) => turns(page).nth(index).getByRole('region', { name: `Permission to use ${tool}` });

const outcomeOf = (page: Page, card: ReturnType<Page['locator']>, outcome: string) =>
  card.and(page.locator(`[data-outcome="${outcome}"]`)).waitFor({ timeout: 30_000 });

/** What the agent was last told, as the fake model received it: the tool results of the latest request. */
function lastToolResults(): string {
  const messages = (web.fake.mainRequests().at(-1)?.body?.messages ?? []) as { role: string; content: unknown }[];
  return JSON.stringify(messages.at(-1)?.content ?? '');
}

const title = (page: Page) => page.evaluate('document.title') as Promise<string>;
// A function, not a string: the page's policy refuses to evaluate strings as code. It runs in the page, whose globals this file is not typed with.
const waitForTitle = (page: Page, wanted: string) =>
  page.waitForFunction((t) => (globalThis as unknown as { document: { title: string } }).document.title === t, wanted, { timeout: 15_000 });

describe('the web UI on requests for permission', () => {
  it('shows a write asked for in the default mode with its diff, marks the chat and counts it in the title; Allow on one page writes the file and a second page sees it resolve', LIMIT, async () => {
    const page = await web.signedIn();
    const problems = await watchPolicy(page);
    const chatId = await web.newChat(page);
    const chat = await chatOf(chatId);
    assert.equal(chat.permissionMode, null, "the chat asks as the agent's default does");
    assert.ok(chat.worktreePath);
    const file = path.join(chat.worktreePath, 'allowed.txt');

    web.fake.enqueue(
      { kind: 'tool_use', name: 'Write', input: { file_path: file, content: 'first line\n<b>not bold</b>\n' }, text: 'Writing the file.' },
      { kind: 'text', chunks: ['Wrote it.'] },
    );
    await send(page, 'write allowed.txt');
    const card = toolCard(page, 0, 'Write');
    await card.waitFor({ timeout: 60_000 });
    assert.equal(await card.getAttribute('data-outcome'), 'pending');
    // What is asked: the edit as a diff, the agent's text as text.
    const diff = card.getByTestId('diff');
    assert.match(await diff.locator('figcaption').innerText(), /allowed\.txt new file\s+\+2 −0/);
    assert.deepEqual(
      await diff.locator('.diff-line').evaluateAll((els) => els.map((e) => [e.getAttribute('data-op'), e.textContent?.slice(1)])),
      [
        ['added', 'first line'],
        ['added', '<b>not bold</b>'],
      ],
    );
    assert.equal(await card.locator('b').count(), 0, 'markup from the agent stays text');
    assert.equal(await card.getByRole('button', { name: 'Allow once' }).count(), 1);
    assert.equal(await card.getByRole('button', { name: 'Deny' }).count(), 1);
    assert.equal(existsSync(file), false, 'nothing is written before the answer');

    // The chat waits for a person: its mark in the list and the count in the title.
    await page.locator(`[data-testid="chat-item"][data-waiting="1"]`).getByTestId('waiting-mark').waitFor({ timeout: 15_000 });
    await waitForTitle(page, '(1) Hearth');
    assert.equal(await page.getByTestId('chat-item').getByText('waits for you').count(), 1);
    // The mode waits for the turn to end.
    assert.equal(await page.getByTestId('permission-mode').isDisabled(), true);
    await web.screenshot(page, 'write-asked');

    // A second page on the same chat sees the request, and later its end, live.
    const other = await web.signedIn(`${web.base}/#/chat/${chatId}`);
    const otherCard = toolCard(other, 0, 'Write');
    await otherCard.waitFor({ timeout: 30_000 });
    assert.equal(await otherCard.getAttribute('data-outcome'), 'pending');
    // "Always" is offered as the agent offers it.
    const [asked] = (await api<{ permissions: PermissionRequestView[] }>('GET', '/api/permissions?status=pending')).body.permissions;
    assert.equal(asked?.tool, 'Write');
    assert.equal(await card.getByRole('button', { name: 'Always allow' }).count(), asked.options.some((o) => o.kind === 'allow_always') ? 1 : 0);

    // A page with no chat open learns of it from the list as it refreshes.
    const lobby = await web.signedIn();
    await lobby.locator(`[data-testid="chat-item"][data-waiting="1"]`).getByTestId('waiting-mark').waitFor({ timeout: 15_000 });
    await waitForTitle(lobby, '(1) Hearth');

    await card.getByRole('button', { name: 'Allow once' }).click();
    await outcomeOf(page, card, 'allowed');
    await waitForStatus(page, 0, 'done');
    assert.equal(await readFile(file, 'utf8'), 'first line\n<b>not bold</b>\n', 'the allowed write ran in the worktree');
    assert.match(await card.getByTestId('permission-outcome').innerText(), /^Allowed once/);
    assert.equal(await card.getByRole('button').count(), 0, 'a resolved card has no buttons');
    assert.match(await turns(page).nth(0).getByTestId('assistant-text').last().innerText(), /Wrote it\./);

    await outcomeOf(other, otherCard, 'allowed');
    assert.match(await otherCard.getByTestId('permission-outcome').innerText(), /^Allowed once/);
    assert.equal(await otherCard.getByRole('button').count(), 0);

    // Nothing waits any more: the mark and the count go.
    await waitForTitle(page, 'Hearth');
    await page.locator('[data-testid="chat-item"][data-waiting="0"]').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByTestId('waiting-mark').count(), 0);
    await waitForTitle(other, 'Hearth');
    await waitForTitle(lobby, 'Hearth');
    assert.equal(await lobby.getByTestId('waiting-mark').count(), 0);
    await lobby.close();
    await web.screenshot(page, 'write-allowed');

    // The card is the stored part too: a reload shows it as it ended.
    await page.reload();
    await waitForStatus(page, 0, 'done');
    await outcomeOf(page, toolCard(page, 0, 'Write'), 'allowed');
    assert.equal(await toolCard(page, 0, 'Write').getByRole('button').count(), 0);
    assert.deepEqual(problems, []);
    await other.close();
    await page.close();
  });

  it('shows a command with where it runs, denies it with a message the agent receives, and shows an answer that lost to another as the outcome it lost to', LIMIT, async () => {
    const page = await web.signedIn();
    const problems = await watchPolicy(page);
    const dialogs: string[] = [];
    page.on('dialog', (d) => dialogs.push(d.message()));
    const chatId = await web.newChat(page);
    const chat = await chatOf(chatId);
    const made = path.join(chat.worktreePath!, 'made-by-bash');

    web.fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: `touch ${made}`, description: 'Make a file' } },
      { kind: 'text', chunks: ['Understood, I will not.'] },
    );
    await send(page, 'make a file');
    const card = toolCard(page, 0, 'Bash');
    await card.waitFor({ timeout: 60_000 });
    assert.equal(await card.getByTestId('permission-command').innerText(), `touch ${made}`);
    assert.match(await card.getByTestId('permission-cwd').innerText(), new RegExp(`in ${chat.worktreePath!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    await card.getByLabel('Reason for the agent').fill('not in this worktree, please');
    await card.getByRole('button', { name: 'Deny' }).click();
    await outcomeOf(page, card, 'denied');
    await waitForStatus(page, 0, 'done');
    assert.match(await card.getByTestId('permission-outcome').innerText(), /^Denied/);
    assert.equal(await card.getByTestId('permission-message').innerText(), 'not in this worktree, please');
    assert.equal(existsSync(made), false, 'the denied command did not run');
    assert.match(lastToolResults(), /not in this worktree, please/, 'the agent was told why');
    await web.screenshot(page, 'command-denied');

    // Another client answers between the page's click and its answer's arrival: the page
    // shows how the request ended, with no error.
    web.fake.enqueue({ kind: 'tool_use', name: 'Bash', input: { command: `touch ${made}-2` } }, { kind: 'text', chunks: ['Stopped there.'] });
    await send(page, 'make another');
    const second = toolCard(page, 1, 'Bash');
    await second.waitFor({ timeout: 60_000 });
    const [pending] = (await api<{ permissions: PermissionRequestView[] }>('GET', `/api/chats/${chatId}/permissions?status=pending`)).body.permissions;
    assert.ok(pending);
    await page.route(`**/api/chats/${chatId}/permissions/${pending.requestId}`, async (route) => {
      const first = await api('POST', `/api/chats/${chatId}/permissions/${pending.requestId}`, { decision: 'deny', message: 'answered elsewhere' });
      assert.equal(first.status, 200);
      await route.continue();
    });
    const answered = page.waitForResponse((r) => r.url().endsWith(`/permissions/${pending.requestId}`) && r.request().method() === 'POST');
    await second.getByRole('button', { name: 'Allow once' }).click();
    assert.equal((await answered).status(), 409);
    await outcomeOf(page, second, 'denied');
    await second.getByTestId('permission-lost').waitFor();
    assert.equal(await second.getByTestId('permission-message').innerText(), 'answered elsewhere');
    assert.equal(await second.getByTestId('permission-error').count(), 0);
    assert.equal(await page.getByRole('alert').count(), 0);
    assert.deepEqual(dialogs, []);
    await waitForStatus(page, 1, 'done');
    assert.equal(existsSync(`${made}-2`), false);
    // The rest of the turn (the call's result above the card, the reply after it) leaves the card as it was.
    assert.equal(await second.getByTestId('permission-lost').count(), 1);
    await web.screenshot(page, 'answer-lost');

    // A turn stopped while its request waits: the card says it was cancelled, and why.
    web.fake.enqueue({ kind: 'tool_use', name: 'Bash', input: { command: `touch ${made}-3` } });
    await send(page, 'and a third');
    const third = toolCard(page, 2, 'Bash');
    await third.waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Stop' }).click();
    await outcomeOf(page, third, 'cancelled');
    await waitForStatus(page, 2, 'aborted');
    assert.match(await third.getByTestId('permission-outcome').innerText(), /^Cancelled/);
    assert.match(await third.getByTestId('permission-message').innerText(), /stopped before anyone answered/);
    assert.equal(await third.getByRole('button').count(), 0);
    assert.equal(existsSync(`${made}-3`), false);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('answers a question with a choice and words of its own, and approves a plan in plan mode', LIMIT, async () => {
    const page = await web.signedIn();
    const problems = await watchPolicy(page);
    await web.newChat(page);

    web.fake.enqueue(
      {
        kind: 'tool_use',
        name: 'AskUserQuestion',
        input: {
          questions: [
            {
              question: 'Which colour should the button be?',
              header: 'Colour',
              options: [
                { label: 'Red', description: 'Stands out' },
                { label: 'Blue', description: 'Calm' },
              ],
              multiSelect: false,
            },
            {
              question: 'What else should change?',
              header: 'Extras',
              options: [
                { label: 'Tests', description: 'Add tests' },
                { label: 'Docs', description: 'Update the docs' },
              ],
              multiSelect: true,
            },
          ],
        },
      },
      { kind: 'text', chunks: ['Thanks for the answers.'] },
    );
    await send(page, 'ask me');
    const question = turns(page).nth(0).locator('[data-testid="permission-card"][data-kind="question"]');
    await question.waitFor({ timeout: 60_000 });
    assert.deepEqual(
      await question.getByTestId('permission-question').locator('legend').evaluateAll((els) => els.map((e) => e.textContent)),
      ['Colour Which colour should the button be?', 'Extras What else should change?'],
    );
    const answer = question.getByRole('button', { name: 'Answer' });
    assert.equal(await answer.isDisabled(), true, 'every question needs an answer first');
    assert.equal(await question.getByRole('radio').count(), 2, 'one choice of the first');
    assert.equal(await question.getByRole('checkbox').count(), 2, 'any of the second');
    await question.getByLabel('Blue').check();
    await question.getByLabel('Tests').check();
    await question.getByLabel('Docs').check();
    await question.getByLabel('Your own answer: What else should change?').fill('a changelog');
    await web.screenshot(page, 'question-asked');
    await answer.click();
    await outcomeOf(page, question, 'answered');
    await waitForStatus(page, 0, 'done');
    const answers = question.getByTestId('permission-answers');
    assert.deepEqual(await answers.locator('dt').allInnerTexts(), ['Which colour should the button be?', 'What else should change?']);
    assert.deepEqual(await answers.locator('dd').allInnerTexts(), ['Blue', 'Tests, Docs, a changelog']);
    assert.match(lastToolResults(), /Blue/, 'the agent got the answers');
    assert.match(lastToolResults(), /Tests, Docs, a changelog/);

    // A plan, in a chat that plans first.
    const planned = await web.newChat(page, 'plan');
    const plan = '# Plan\n\n1. Add a **red** button\n2. Test it <script>alert(1)</script>\n';
    web.fake.enqueue(
      ...proposePlan(plan),
      { kind: 'text', chunks: ['Starting on the plan.'] },
    );
    await send(page, 'plan the button');
    const card = turns(page).nth(0).locator('[data-testid="permission-card"][data-kind="plan"]');
    await card.waitFor({ timeout: 60_000 });
    const shown = card.getByTestId('permission-plan');
    assert.equal(await shown.locator('h1').innerText(), 'Plan');
    assert.equal(await shown.locator('strong').innerText(), 'red');
    assert.equal(await shown.locator('script').count(), 0, 'markup in the plan stays text');
    assert.match(await shown.innerText(), /Test it <script>alert\(1\)<\/script>/);
    await web.screenshot(page, 'plan-asked');
    await card.getByRole('button', { name: 'Approve' }).click();
    await outcomeOf(page, card, 'allowed');
    await waitForStatus(page, 0, 'done');
    assert.match(await card.getByTestId('permission-outcome').innerText(), /^Approved/);
    assert.equal(await card.getByRole('button').count(), 0);
    // An approved plan leaves plan mode, and the chat follows its agent.
    assert.equal((await chatOf(planned)).permissionMode, 'default');
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('changes the chat’s mode between turns, and notifies a hidden tab once per request', LIMIT, async () => {
    const page = await web.browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('dialog', (d) => void d.accept());
    // The page's view of notifications and of its own visibility, so the test can see what
    // it shows and hide it: headless Chromium neither shows notifications nor hides tabs.
    await page.addInitScript(`
      window.__notes = [];
      window.__hidden = false;
      class FakeNotification {
        static permission = 'default';
        static requestPermission() { FakeNotification.permission = 'granted'; window.__asked = true; return Promise.resolve('granted'); }
        constructor(title, options) { this.title = title; this.options = options; this.closed = false; window.__notes.push(this); }
        close() { this.closed = true; }
      }
      window.Notification = FakeNotification;
      Object.defineProperty(document, 'hidden', { get: () => window.__hidden });
      Object.defineProperty(document, 'visibilityState', { get: () => (window.__hidden ? 'hidden' : 'visible') });
    `);
    await page.goto(web.base);
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'New chat' }).waitFor();
    const chatId = await web.newChat(page);
    const chat = await chatOf(chatId);

    // Leave to notify is asked on a click, not before.
    assert.equal(await page.evaluate('window.__asked === true'), false);
    await page.getByRole('button', { name: 'Notify me' }).click();
    await page.getByRole('button', { name: 'Notify me' }).waitFor({ state: 'detached' });
    assert.equal(await page.evaluate('window.__asked === true'), true);

    await page.evaluate('window.__hidden = true');
    const file = path.join(chat.worktreePath!, 'notified.txt');
    web.fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: file, content: 'x\n' } }, { kind: 'text', chunks: ['Done.'] });
    await send(page, 'write notified.txt');
    const card = toolCard(page, 0, 'Write');
    await card.waitFor({ timeout: 60_000 });
    await page.waitForFunction(() => (globalThis as unknown as { __notes: unknown[] }).__notes.length === 1, undefined, { timeout: 15_000 });
    // Several refreshes later, still the one.
    await page.waitForTimeout(5_000);
    const notes = (await page.evaluate('window.__notes.map((n) => ({ title: n.title, body: n.options.body, tag: n.options.tag, closed: n.closed }))')) as {
      title: string;
      body: string;
      tag: string;
      closed: boolean;
    }[];
    assert.equal(notes.length, 1, 'one notification for the one request');
    assert.match(notes[0]!.title, /waits for you$/);
    assert.match(notes[0]!.body, /asks to use Write/);
    assert.equal(notes[0]!.closed, false);
    assert.equal(await title(page), '(1) Hearth');

    await page.evaluate('window.__hidden = false');
    // A page with no chat open learns of it from the list as it refreshes.
    const lobby = await web.signedIn();
    await lobby.locator(`[data-testid="chat-item"][data-waiting="1"]`).getByTestId('waiting-mark').waitFor({ timeout: 15_000 });
    await waitForTitle(lobby, '(1) Hearth');

    await card.getByRole('button', { name: 'Allow once' }).click();
    await outcomeOf(page, card, 'allowed');
    await waitForStatus(page, 0, 'done');
    // Answered: its notification goes too.
    await page.waitForFunction(() => (globalThis as unknown as { __notes: { closed: boolean }[] }).__notes[0]?.closed === true, undefined, { timeout: 15_000 });

    // Between turns the mode can change; from the next turn on a write goes without asking.
    const mode = page.getByTestId('permission-mode');
    assert.equal(await mode.isDisabled(), false);
    const patched = page.waitForResponse((r) => r.url().endsWith(`/api/chats/${chatId}`) && r.request().method() === 'PATCH');
    await mode.selectOption('acceptEdits');
    assert.equal((await patched).status(), 200);
    assert.equal((await chatOf(chatId)).permissionMode, 'acceptEdits');
    const edited = path.join(chat.worktreePath!, 'without-asking.txt');
    web.fake.enqueue({ kind: 'tool_use', name: 'Write', input: { file_path: edited, content: 'y\n' } }, { kind: 'text', chunks: ['Done again.'] });
    await send(page, 'write without asking');
    await waitForStatus(page, 1, 'done');
    assert.equal(await readFile(edited, 'utf8'), 'y\n');
    assert.equal(await turns(page).nth(1).getByTestId('permission-card').count(), 0, 'nothing was asked');
    await page.reload();
    await waitForStatus(page, 1, 'done');
    assert.equal(await page.getByTestId('permission-mode').inputValue(), 'acceptEdits');
    assert.equal(await page.evaluate('window.__notes.length'), 0, 'a reload notifies nothing old');
    await page.close();
  });
});
