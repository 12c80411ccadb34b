// What the web UI says about the server and about turns that did not finish: the
// connection as it really is, the server's warnings, Esc to stop, and the system's colour
// scheme. Headless Chromium against real servers (one killed and started again), the real
// Claude Code binary and the fake model; screenshots in test-artifacts/web/.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContextOptions, Page } from 'playwright-core';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import { BACKEND_KINDS, BACKEND_SHORT_NAMES } from '../../src/api/views.js';
import { claudeEnv, makeConfigDir } from '../fixtures/claude-env.js';
import type { FakeModelServer } from '../fixtures/fake-anthropic.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';
import { connect } from '../../src/db/sql.js';
import { killGone } from '../fixtures/processes.js';
import {
  DESKTOP, LIMIT, NO_CREDENTIALS, PHONE, TOKEN, WebSession, addWarnings, freePort, luminance, send, serve, turns, waitForStatus, watchPolicy,
} from './web-session.js';

const NAME = 'web-status';
let web: WebSession;
let fake: FakeModelServer;
let base: string;
const signedIn = (url?: string, options?: BrowserContextOptions) => web.signedIn(url, options);
const newChat = (page: Page, mode?: string) => web.newChat(page, mode);
const screenshot = (page: Page, name: string) => web.screenshot(page, name);

before(async () => {
  web = await WebSession.start(NAME);
  ({ fake, base } = web);
});

after(async () => {
  await web?.close();
});

describe('the web UI on status', () => {
  it('shows what /health warns about in a banner at the top', LIMIT, async () => {
    const page = await signedIn();
    const policyProblems = await watchPolicy(page);
    await page.reload();
    await page.getByTestId('backend-badges').locator('[data-state="up"]').first().waitFor();
    assert.equal(await page.getByTestId('warning').count(), 0, 'no banner while the server warns of nothing');
    await addWarnings(page, [NO_CREDENTIALS]);
    await page.reload();
    const banner = page.getByTestId('warning');
    await banner.waitFor();
    assert.equal(await banner.getAttribute('data-code'), 'no_credentials');
    assert.equal(await banner.innerText(), NO_CREDENTIALS.message);
    const top = (await banner.boundingBox())!;
    const bar = (await page.locator('.topbar').boundingBox())!;
    assert.ok(top.y + top.height <= bar.y, 'the banner is above the top bar');
    await screenshot(page, 'warning-banner');
    await page.setViewportSize(PHONE);
    await screenshot(page, 'warning-banner');
    assert.deepEqual(policyProblems, []);
    await page.close();
  });

  it('stops a running turn with Esc from the composer or the page, but not from inside a dialog', LIMIT, async () => {
    const page = await signedIn();
    const policyProblems = await watchPolicy(page);
    await page.reload();
    await page.getByRole('button', { name: 'New chat' }).waitFor();
    await newChat(page);
    const aborts: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/abort')) aborts.push(r.url());
    });

    fake.enqueue({ kind: 'stall', chunks: ['Thinking hard'] });
    await send(page, 'take your time');
    await turns(page).nth(0).getByText('Thinking hard').waitFor();
    // Esc inside a dialog belongs to the dialog.
    await page.evaluate(`(() => {
      const dialog = document.createElement('dialog');
      dialog.id = 'esc-probe';
      dialog.append(Object.assign(document.createElement('input'), { ariaLabel: 'Dialog field' }));
      document.body.append(dialog);
      dialog.showModal();
    })()`);
    await page.getByLabel('Dialog field').press('Escape');
    await page.locator('dialog#esc-probe').waitFor({ state: 'hidden' });
    await page.evaluate('0');
    assert.deepEqual(aborts, [], 'Esc in a dialog stops nothing');
    assert.equal(await turns(page).nth(0).getAttribute('data-status'), 'running');
    await page.getByLabel('Message').press('Escape');
    await waitForStatus(page, 0, 'aborted');
    assert.equal(aborts.length, 1);
    assert.equal((await turns(page).nth(0).getByTestId('assistant-text').innerText()).trim(), 'Thinking hard');

    // From the page itself, focus nowhere in particular.
    fake.enqueue({ kind: 'stall', chunks: ['Still going'] });
    await send(page, 'and again');
    await turns(page).nth(1).getByText('Still going').waitFor();
    await page.getByLabel('Message').blur();
    await page.keyboard.press('Escape');
    await waitForStatus(page, 1, 'aborted');
    assert.match(await turns(page).nth(1).getByTestId('turn-end').innerText(), /you stopped this turn/);
    // Nothing runs now: Esc does nothing.
    await page.keyboard.press('Escape');
    await page.evaluate('0');
    assert.equal(aborts.length, 2);
    assert.deepEqual(policyProblems, []);
    await page.close();
  });

  it('follows the system colour scheme', LIMIT, async () => {
    const colours = async (page: Page) =>
      page.evaluate(`(() => {
        const rgb = (el) => getComputedStyle(el).backgroundColor;
        const ink = getComputedStyle(document.body).color;
        const code = document.querySelector('.markdown pre code.hljs');
        return { page: rgb(document.body), ink, code: code ? rgb(code) : null, topbar: rgb(document.querySelector('.topbar')) };
      })()`) as Promise<{ page: string; ink: string; code: string | null; topbar: string }>;
    const light = await signedIn(base, { colorScheme: 'light' });
    const chat = await newChat(light);
    fake.enqueue({ kind: 'text', chunks: ['Some prose, then code:\n\n```ts\nconst x: number = 1;\n```\n'] });
    await send(light, 'show me code');
    await waitForStatus(light, 0, 'done');
    const day = await colours(light);
    assert.ok(luminance(day.page) > 0.8 && luminance(day.ink) < 0.2, `light: ${JSON.stringify(day)}`);
    await light.close();

    const dark = await signedIn(`${base}/#/chat/${chat}`, { colorScheme: 'dark' });
    const policyProblems = await watchPolicy(dark);
    await dark.reload();
    await waitForStatus(dark, 0, 'done');
    const night = await colours(dark);
    assert.ok(luminance(night.page) < 0.1, `dark page: ${night.page}`);
    assert.ok(luminance(night.topbar) < 0.1, `dark top bar: ${night.topbar}`);
    assert.ok(luminance(night.ink) > 0.6, `light text on it: ${night.ink}`);
    assert.ok(night.code && luminance(night.code) < 0.15, `dark code blocks: ${night.code}`);
    await screenshot(dark, 'dark');
    await dark.setViewportSize(PHONE);
    await screenshot(dark, 'dark');
    assert.deepEqual(policyProblems, []);
    await dark.close();
  });

  it('says the server cannot be reached, and only that, while it is gone; the interrupted turn says why and keeps what it showed', LIMIT, async () => {
    const node = `web-restart-${process.pid}`;
    const schema = `web_restart_${process.pid}`;
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-web-restart-'));
    const configDir = await makeConfigDir();
    const port = await freePort();
    const env = {
      ...claudeEnv(fake, configDir),
      DATABASE_URL: TEST_DATABASE_URL,
      HEARTH_DATABASE_SCHEMA: schema,
      HEARTH_DATA_DIR: dataDir,
      HEARTH_REPO_ROOTS: web.root,
      HEARTH_PORT: String(port),
      HEARTH_TOKEN: TOKEN,
      HEARTH_NODE_ID: node,
    };
    let first: ChildProcess | undefined;
    let second: ChildProcess | undefined;
    try {
      let url: string;
      ({ child: first, url } = await serve([], env));
      const page = await signedIn(url);
      const policyProblems = await watchPolicy(page);
      await page.reload();
      const badges = page.getByTestId('backend-badges').locator('.badge');
      await page.getByTestId('backend-badges').locator('[data-state="up"]').first().waitFor();
      const chatId = await newChat(page);
      fake.enqueue({ kind: 'stall', chunks: ['Halfway through the answer'] });
      await send(page, 'a long job');
      await turns(page).nth(0).getByText('Halfway through the answer').waitFor();
      await page.getByText('● live').waitFor();

      first.kill('SIGKILL');
      await new Promise((r) => first!.once('exit', r));
      await page.getByTestId('unreachable').waitFor({ timeout: 30_000 });
      assert.match(await page.getByTestId('unreachable').innerText(), /^The server cannot be reached/);
      assert.equal(await page.getByTestId('connection').count(), 0, 'no live or reconnecting claim beside it');
      // One badge for each backend, none of which the UI can vouch for now.
      assert.deepEqual(await badges.evaluateAll((all) => all.map((b) => b.getAttribute('data-state'))), BACKEND_KINDS.map(() => 'unknown'));
      assert.deepEqual((await badges.allInnerTexts()).map((t) => t.trim()), BACKEND_KINDS.map((kind) => `${BACKEND_SHORT_NAMES[kind]} ?`));
      await screenshot(page, 'server-gone');
      await page.setViewportSize(PHONE);
      await screenshot(page, 'server-gone');
      await page.setViewportSize(DESKTOP);

      // The same address again: the page finds the server by itself, and the turn the
      // crash cut short ends as interrupted, saying why, with what it had streamed.
      ({ child: second } = await serve([], env));
      await waitForStatus(page, 0, 'interrupted');
      await page.getByTestId('unreachable').waitFor({ state: 'detached', timeout: 30_000 });
      await page.getByText('● live').waitFor({ timeout: 30_000 });
      await page.getByTestId('backend-badges').locator('[data-state="up"]').first().waitFor();
      const turn = turns(page).nth(0);
      assert.match(await turn.getByTestId('turn-end').innerText(), /^Interrupted\s+the server stopped during this turn; what it did until then is above\.$/);
      assert.equal((await turn.getByTestId('assistant-text').innerText()).trim(), 'Halfway through the answer');
      assert.match(await turn.getByTestId('turn-status').innerText(), /^interrupted/);
      const history = await fetch(`${url}/api/chats/${chatId}/messages`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const { messages } = (await history.json()) as { messages: { role: string; turnStatus: string }[] };
      assert.equal(messages.find((m) => m.role === 'user')?.turnStatus, 'interrupted', 'the UI and the history agree');
      await screenshot(page, 'interrupted');
      await page.setViewportSize(PHONE);
      await screenshot(page, 'interrupted');
      assert.deepEqual(policyProblems, []);
      await page.close();
    } finally {
      for (const child of [first, second]) {
        if (child && child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await new Promise((r) => child.once('exit', r));
        }
      }
      for (const pid of taggedProcesses({ prefix: `${node}:` })) killGone(pid);
      const sql = connect(TEST_DATABASE_URL, { max: 1 });
      await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
      await sql.end();
      await rm(dataDir, { recursive: true, force: true });
      await rm(configDir, { recursive: true, force: true });
    }
  });
});
