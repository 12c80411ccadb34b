// The web UI as a person uses it: headless Chromium against a real server, the real
// Claude Code binary and the fake model. Each step leaves a screenshot in
// test-artifacts/web/, at a desktop (1280 px) or a phone (390 px) width.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { taggedProcesses } from '../../src/backends/agent-process.js';
import { claudeEnv, makeConfigDir } from '../fixtures/claude-env.js';
import { lastUserText, startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { TEST_DATABASE_URL, testSchema, type TestSchema } from '../fixtures/database.js';
import { connect } from '../../src/db/sql.js';
import { waitUntil } from '../fixtures/backend-chats.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';

const TOKEN = 'web-token-0123456789';
const LIMIT = { timeout: 120_000 };
const ARTIFACTS = path.resolve('test-artifacts/web');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 780 };
let db: TestSchema;
let fake: FakeModelServer;
let server: TestServer;
let app: FastifyInstance;
let browser: Browser;
let root: string;
let repo: string;
let base: string;

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  db = await testSchema('web');
  fake = await startFakeModel({
    chunkDelayMs: 30,
    reply: (req) => {
      const text = lastUserText(req);
      return text.startsWith('echo:') ? { kind: 'text', chunks: [`reply to ${text}`] } : undefined;
    },
  });
  root = await mkdtemp(path.join(tmpdir(), 'hearth-web-'));
  repo = path.join(root, 'repo');
  makeRepo(repo);
  server = await startTestServer({ sql: db.sql, fake, root, token: TOKEN, runtime: { maxQueued: 3 } });
  ({ app, url: base } = server);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // No network beyond loopback here: Chromium's background services would only fail.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
  await fake?.close();
  await db?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

let shot = 0;
async function screenshot(page: Page, name: string): Promise<void> {
  shot++;
  const width = page.viewportSize()?.width ?? 0;
  await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}-${width}px.png`), fullPage: true });
}

/**
 * What the page's Content-Security-Policy refused and what threw, from now on and across
 * reloads: the policy must not break the UI in use.
 */
async function watchPolicy(page: Page): Promise<string[]> {
  const problems: string[] = [];
  await page.exposeFunction('reportPolicyViolation', (what: string) => problems.push(what));
  // Page code as text: this file is compiled without the DOM's types.
  await page.addInitScript(
    `document.addEventListener('securitypolicyviolation', (e) =>
      window.reportPolicyViolation(e.effectiveDirective + ' refused ' + (e.blockedURI || '(inline)')))`,
  );
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return problems;
}

async function signedIn(url = base, options: BrowserContextOptions = {}): Promise<Page> {
  const page = await browser.newPage({ viewport: DESKTOP, ...options });
  page.on('dialog', (d) => void d.accept());
  await page.goto(url);
  await page.getByLabel('API token').fill(TOKEN);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'New chat' }).waitFor();
  return page;
}

const NO_CREDENTIALS = {
  code: 'no_credentials',
  message: 'No credentials for Claude: set ANTHROPIC_API_KEY, or CLAUDE_CODE_OAUTH_TOKEN to a token from `claude setup-token`.',
};

/**
 * Adds warnings to the server's own /health answers, as a server that finds its setup
 * lacking reports them; the rest of the answer is the server's.
 */
async function addWarnings(page: Page, warnings: { code: string; message: string }[]): Promise<void> {
  await page.route(/\/health$/, async (route) => {
    const response = await route.fetch();
    const body = (await response.json()) as Record<string, unknown>;
    await route.fulfill({ response, json: { ...body, warnings } });
  });
}

async function newChat(page: Page, mode = ''): Promise<string> {
  await page.getByLabel('Repository path').fill(repo);
  if (mode) await page.getByLabel('Permissions').selectOption(mode);
  const before = page.url();
  await page.getByRole('button', { name: 'New chat' }).click();
  await page.waitForURL((url) => /#\/chat\//.test(url.hash) && url.href !== before);
  return /#\/chat\/(.+)$/.exec(page.url())![1]!;
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

/** `hearth serve` as a process of its own; resolves once it listens. */
async function serve(args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const url = /Hearth listening on (http:\/\/\S+?)[\s"]/.exec(output)?.[1];
    if (url) return { child, url, output: () => output };
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`the server did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A loopback port nothing listens on just now. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

/** Relative luminance of a CSS `rgb(...)` colour, 0 (black) to 1 (white). */
function luminance(css: string): number {
  const [r, g, b] = (css.match(/[\d.]+/g) ?? []).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

const turns = (page: Page) => page.getByTestId('turn');

async function waitForStatus(page: Page, index: number, status: string): Promise<void> {
  await page.locator(`[data-testid="turn"]:nth-child(${index + 1})[data-status="${status}"]`).waitFor({ timeout: 30_000 });
}

describe('the web UI', () => {
  it('asks for the token once, runs a chat with streaming, a tool call and a stop, and keeps it all after a reload', LIMIT, async () => {
    const page = await browser.newPage({ viewport: DESKTOP });
    page.on('dialog', (d) => void d.accept());
    const policyProblems = await watchPolicy(page);
    await page.goto(base);
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('The server refused that token.').waitFor();
    await screenshot(page, 'token-refused');
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('Pick a chat, or start one on a repository.').waitFor();
    await screenshot(page, 'signed-in');

    const chatId = await newChat(page, 'bypassPermissions');
    assert.ok(await page.getByTestId('chat-item').count() >= 1);

    // A long reply streams in: part of it shows before the rest has arrived.
    const words = Array.from({ length: 40 }, (_, i) => `word${i} `);
    fake.enqueue({ kind: 'text', chunks: ['# Heading\n\n', ...words, '\n\n```ts\nconst answer: number = 42;\n```\n'] });
    await send(page, 'tell me something long');
    const text = page.getByTestId('assistant-text').first();
    await text.getByText('word3', { exact: false }).waitFor();
    const partial = await text.innerText();
    assert.ok(!partial.includes('word39'), 'the reply shows before it is complete');
    await screenshot(page, 'streaming');
    await waitForStatus(page, 0, 'done');
    assert.equal(await page.getByLabel('Message').inputValue(), '', 'the composer is cleared');
    assert.equal(await page.locator('.markdown h1').first().innerText(), 'Heading');
    assert.ok(await page.locator('.markdown pre code.hljs').count(), 'code is highlighted');
    await page.getByTestId('backend').getByText('SDK').waitFor();
    await page.getByTestId('cost').filter({ hasNotText: '$0.0000' }).waitFor();
    await screenshot(page, 'markdown-reply');

    // Prose keeps a readable width on a wide screen, and the turn's outcome and cost sit
    // under the reply, not under the message.
    const reply = turns(page).nth(0).getByTestId('assistant');
    const textBox = (await text.boundingBox())!;
    assert.ok(textBox.width <= 720, `the reply's text is ${textBox.width} px wide`);
    assert.equal(await reply.getByTestId('turn-status').count(), 1, 'the turn status is part of the reply');
    assert.equal(await turns(page).nth(0).getByTestId('user-message').getByTestId('turn-status').count(), 0);
    const statusBox = (await reply.getByTestId('turn-status').boundingBox())!;
    assert.ok(statusBox.y >= textBox.y + textBox.height, 'the status comes after the reply');
    assert.match(await reply.getByTestId('turn-status').innerText(), /^done · SDK · \d+ tokens · \$/);

    // The page has an icon of its own, served from this server (the policy's img-src 'self').
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    assert.ok(icon, 'the page names an icon');
    const iconResponse = await fetch(new URL(icon, base));
    assert.equal(iconResponse.status, 200);
    assert.match(iconResponse.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    assert.match(await iconResponse.text(), /^<svg[\s\S]*<\/svg>\s*$/);

    // Shift+Enter writes a new line instead of sending.
    await page.getByLabel('Message').fill('first line');
    await page.getByLabel('Message').press('Shift+Enter');
    await page.getByLabel('Message').pressSequentially('second line');
    assert.equal(await page.getByLabel('Message').inputValue(), 'first line\nsecond line');
    assert.equal(await turns(page).count(), 1);

    // Thinking stays folded; this message goes the PTY way, and the turn says so.
    fake.enqueue({ kind: 'thinking', thinking: ['Planning the listing.'], text: ['Thought it over.'] });
    await page.getByLabel('Path', { exact: true }).selectOption('claude_pty');
    await page.getByLabel('Message').press('Enter');
    await waitForStatus(page, 1, 'done');
    assert.match(await turns(page).nth(1).getByTestId('turn-status').innerText(), /done · PTY/);
    assert.match(await turns(page).nth(0).getByTestId('turn-status').innerText(), /done · SDK/);
    await page.getByLabel('Path', { exact: true }).selectOption('');
    const thinking = page.getByTestId('thinking').first();
    assert.equal(await thinking.getAttribute('open'), null, 'thinking is collapsed');
    assert.equal(await thinking.locator('.thinking-text').isVisible(), false);
    assert.equal(await turns(page).nth(1).getByTestId('user-message').locator('.bubble').innerText(), 'first line\nsecond line');

    // A tool call shows its input and its result, long output folded.
    fake.enqueue(
      { kind: 'tool_use', name: 'Bash', input: { command: 'seq 1 60', description: 'count' } },
      { kind: 'text', chunks: ['Counted to sixty.'] },
    );
    await send(page, 'count to sixty');
    await waitForStatus(page, 2, 'done');
    const tool = page.getByTestId('tool-call').first();
    await tool.locator('summary').click();
    assert.match(await tool.getByTestId('tool-input').innerText(), /seq 1 60/);
    const output = tool.getByTestId('tool-output');
    assert.match(await output.innerText(), /^1\n2\n/);
    assert.ok(!(await output.innerText()).includes('\n60'), 'long output is folded');
    await output.getByRole('button', { name: /Show all/ }).click();
    assert.match(await output.innerText(), /\n60/);
    await screenshot(page, 'tool-call');

    // A failed turn says why in plain words.
    fake.enqueue({ kind: 'error', status: 529, message: 'the model is overloaded right now' });
    await send(page, 'this one fails');
    await waitForStatus(page, 3, 'failed');
    await turns(page).nth(3).getByRole('alert').getByText('overloaded right now', { exact: false }).first().waitFor();
    assert.equal(await turns(page).nth(3).getByRole('alert').count(), 1, 'the error is shown once');
    assert.equal(await page.getByText('● live').count(), 1, "an agent's error is not a lost connection");
    await screenshot(page, 'failed-turn');

    // Stop a turn that hangs, with a message waiting behind it.
    fake.enqueue({ kind: 'stall', chunks: ['Working on it'] });
    await send(page, 'this will hang');
    await turns(page).nth(4).getByText('Working on it').waitFor();
    await send(page, 'echo: waiting behind');
    await waitForStatus(page, 5, 'queued');
    await screenshot(page, 'running-and-queued');
    await page.getByRole('button', { name: 'Stop' }).click();
    await waitForStatus(page, 4, 'aborted');
    await waitForStatus(page, 5, 'aborted');
    await page.getByRole('button', { name: 'Stop' }).waitFor({ state: 'detached' });
    // Each stopped turn says so plainly, and why; the one that ran keeps what it showed.
    const stopped = turns(page).nth(4);
    assert.match(await stopped.getByTestId('turn-end').innerText(), /^Stopped\s+you stopped this turn; what it did until then is above\.$/);
    assert.equal((await stopped.getByTestId('assistant-text').innerText()).trim(), 'Working on it');
    assert.match(await turns(page).nth(5).getByTestId('turn-end').innerText(), /^Stopped\s+aborted before it started; it had shown nothing yet\.$/);
    await screenshot(page, 'stopped');

    // A dropped connection during a reply: the stream comes back with nothing lost or repeated.
    const chunks = Array.from({ length: 30 }, (_, i) => `c${i} `);
    fake.enqueue({ kind: 'text', chunks });
    await send(page, 'stream through a reconnect');
    await turns(page).nth(6).getByText('c5', { exact: false }).waitFor();
    app.server.closeAllConnections();
    await waitForStatus(page, 6, 'done');
    assert.equal((await turns(page).nth(6).getByTestId('assistant-text').innerText()).trim(), chunks.join('').trim());

    // After a reload everything is there, in order.
    await page.reload();
    await waitForStatus(page, 6, 'done');
    assert.equal(await turns(page).count(), 7);
    assert.deepEqual(
      await page.getByTestId('turn-status').allInnerTexts().then((all) => all.map((s) => s.split(' · ')[0])),
      ['done', 'done', 'done', 'failed', 'stopped', 'stopped', 'done'],
    );
    assert.equal((await turns(page).nth(6).getByTestId('assistant-text').innerText()).trim(), chunks.join('').trim());
    await turns(page).nth(3).getByText('overloaded right now', { exact: false }).first().waitFor();
    assert.equal(await page.getByTestId('tool-call').count(), 1);
    assert.ok(page.url().endsWith(chatId), 'the chat stays selected');
    await screenshot(page, 'after-reload');
    assert.deepEqual(policyProblems, [], 'the security policy refuses nothing the UI does');
    await page.close();
  });

  it('shows images in a reply as links that load nothing until clicked, keeps raw HTML as text, and serves a policy that blocks remote images', LIMIT, async () => {
    const hits: { url: string; headers: IncomingHttpHeaders }[] = [];
    const listener = http.createServer((req, res) => {
      hits.push({ url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'image/gif' }).end();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const remote = `http://127.0.0.1:${(listener.address() as { port: number }).port}`;
    try {
      const page = await signedIn();
      const policyProblems = await watchPolicy(page);
      // Loaded again, with the watch in place and the token remembered.
      const response = await page.goto(base);
      assert.match(response?.headers()['content-security-policy'] ?? '', /img-src 'self'/, 'the page comes with its policy');
      await page.getByRole('button', { name: 'New chat' }).waitFor();
      await newChat(page);
      fake.enqueue({
        kind: 'text',
        chunks: [
          `Here is the chart: ![secret chart](${remote}/inline.png?data=s3cr3t "a title")\n\n`,
          `By reference: ![by ref][pic]\n\n[pic]: ${remote}/reference.png\n\n`,
          `[![badge](${remote}/badge.svg)](${remote}/badge-link)\n\n`,
          `![no scheme](javascript:alert(1))\n\n`,
          `Raw HTML: <img src="${remote}/raw.png"> and <iframe src="${remote}/frame"></iframe>\n\n`,
          `<div><img src="${remote}/block.png"><script>window.pwned = 1</script></div>\n`,
        ],
      });
      await send(page, 'draw me a chart');
      await waitForStatus(page, 0, 'done');
      const text = page.getByTestId('assistant-text').first();
      const links = text.getByTestId('image-link');
      assert.equal(await links.count(), 4);
      assert.equal(await text.locator('img, iframe, script').count(), 0, 'nothing that loads is in the page');

      const inline = links.nth(0);
      assert.equal(await inline.evaluate((el) => el.tagName), 'A');
      assert.equal(await inline.getAttribute('href'), `${remote}/inline.png?data=s3cr3t`);
      assert.equal(await inline.getAttribute('title'), 'a title');
      assert.match(await inline.innerText(), new RegExp(`secret chart\\s+${remote}/inline\\.png\\?data=s3cr3t`));
      assert.equal(await links.nth(1).getAttribute('href'), `${remote}/reference.png`);
      // Inside a link the image is only its label; the outer link keeps its own address.
      assert.equal(await links.nth(2).evaluate((el) => el.tagName), 'SPAN');
      assert.equal(await text.locator(`a[href="${remote}/badge-link"]`).count(), 1);
      assert.equal(await links.nth(3).evaluate((el) => el.tagName), 'SPAN', 'an unsafe address is not a link');
      assert.match(await links.nth(3).innerText(), /no scheme\s+javascript:alert\(1\)/);
      assert.match(await text.innerText(), new RegExp(`<img src="${remote}/raw\\.png">`), 'raw HTML shows as text');
      assert.match(await text.innerText(), /<script>window\.pwned = 1<\/script>/);
      assert.equal(await page.evaluate('window.pwned'), undefined);
      await screenshot(page, 'image-as-link');

      // Loading the page again (a replay from the stored events) renders the same way.
      await page.reload();
      await waitForStatus(page, 0, 'done');
      assert.equal(await page.getByTestId('image-link').count(), 4);
      assert.equal(await page.locator('.markdown img').count(), 0);
      assert.deepEqual(hits.map((h) => h.url), [], 'the browser fetched nothing from the remote host');
      assert.equal(policyProblems.join('\n'), '', 'the policy refused nothing: nothing tried to load');

      // Should anything in the page still try, the policy stops it.
      await page.evaluate(`document.body.append(Object.assign(document.createElement('img'), { src: '${remote}/probe.png' }))`);
      await waitUntil('the probe is refused', () => policyProblems.some((p) => p.includes(`img-src refused ${remote}/probe.png`)), 30_000);
      assert.deepEqual(hits.map((h) => h.url), [], 'the policy kept the probe from the remote host');

      // A click is what fetches it, without saying where from.
      const [popup] = await Promise.all([page.waitForEvent('popup'), links.nth(0).click()]);
      await waitUntil('the clicked link is fetched', () => hits.length > 0, 30_000);
      assert.equal(hits[0]!.url, '/inline.png?data=s3cr3t');
      assert.equal(hits[0]!.headers.referer, undefined, 'no referrer goes with it');
      await popup.close();
      await page.close();
    } finally {
      listener.closeAllConnections();
      await new Promise((r) => listener.close(r));
    }
  });

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

  it('is usable on a narrow screen: the menu closes by its button and by the address, and deletes a chat', LIMIT, async () => {
    const page = await signedIn();
    const other = await newChat(page);
    const id = await newChat(page);
    await page.setViewportSize(PHONE);
    // A banner pushes the top bar down: the open menu must still leave its button in reach.
    await addWarnings(page, [NO_CREDENTIALS]);
    await page.reload();
    await page.getByTestId('warning').waitFor();
    await send(page, 'echo: small screen');
    await waitForStatus(page, 0, 'done');
    assert.ok(await page.getByLabel('Message').isVisible());
    const chatList = page.getByRole('list', { name: 'Chats' });
    assert.equal(await chatList.isVisible(), false, 'the chat list folds away');
    await screenshot(page, 'narrow');
    const menu = page.getByRole('button', { name: 'Chats' });
    await menu.click();
    await chatList.waitFor();
    assert.equal(await menu.getAttribute('aria-expanded'), 'true');
    await screenshot(page, 'narrow-menu');
    const button = (await menu.boundingBox())!;
    const sidebar = (await page.locator('.sidebar').boundingBox())!;
    assert.ok(sidebar.y >= button.y + button.height, 'the open menu starts below its button');
    // The same button closes it (a click on a covered button would time out here).
    await menu.click({ timeout: 10_000 });
    await chatList.waitFor({ state: 'hidden' });
    assert.equal(await menu.getAttribute('aria-expanded'), 'false');
    // A chat picked through the address (back, a link) closes it too.
    await menu.click();
    await chatList.waitFor();
    await page.evaluate(`window.location.hash = '#/chat/${other}'`);
    await chatList.waitFor({ state: 'hidden' });
    await page.waitForURL(new RegExp(`#/chat/${other}$`));
    await page.getByText('No messages yet.').waitFor();
    await page.goBack();
    await page.waitForURL(new RegExp(`#/chat/${id}$`));
    await waitForStatus(page, 0, 'done');

    await menu.click();
    await chatList.waitFor();
    const before = await page.getByTestId('chat-item').count();
    await page.locator('[data-testid="chat-item"].selected').getByRole('button', { name: /Delete chat/ }).click();
    await page.getByText('Pick a chat, or start one on a repository.').waitFor();
    await page.locator(`[data-testid="chat-item"]:nth-child(${before})`).waitFor({ state: 'detached' });
    assert.equal(await page.getByTestId('chat-item').count(), before - 1);
    assert.equal((await fetch(`${base}/api/chats/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
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
      dialog.append(Object.assign(document.createElement('input'), { ariaLabel: 'Dialog field' }));
      document.body.append(dialog);
      dialog.showModal();
    })()`);
    await page.getByLabel('Dialog field').press('Escape');
    await page.locator('dialog').waitFor({ state: 'hidden' });
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
      HEARTH_REPO_ROOTS: root,
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
      assert.deepEqual(await badges.evaluateAll((all) => all.map((b) => b.getAttribute('data-state'))), ['unknown', 'unknown']);
      assert.deepEqual((await badges.allInnerTexts()).map((t) => t.trim()), ['SDK ?', 'PTY ?']);
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
      for (const pid of taggedProcesses({ prefix: `${node}:` })) process.kill(pid, 'SIGKILL');
      const sql = connect(TEST_DATABASE_URL, { max: 1 });
      await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
      await sql.end();
      await rm(dataDir, { recursive: true, force: true });
      await rm(configDir, { recursive: true, force: true });
    }
  });

  it('gives a new user with no API key a whole round trip, tool call included, with hearth serve --demo', LIMIT, async () => {
    const schema = `web_demo_${process.pid}`;
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-web-demo-'));
    const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve', '--demo'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DATABASE_URL: TEST_DATABASE_URL,
        HEARTH_DATABASE_SCHEMA: schema,
        HEARTH_DATA_DIR: dataDir,
        HEARTH_PORT: '0',
        HEARTH_TOKEN: TOKEN,
        HEARTH_REPO_ROOTS: root,
        ANTHROPIC_API_KEY: '',
      },
    });
    let output = '';
    server.stdout.on('data', (d) => (output += d));
    server.stderr.on('data', (d) => (output += d));
    const exited = new Promise((r) => server.once('exit', r));
    try {
      const deadline = Date.now() + 30_000;
      let url: string | undefined;
      while (!(url = /Hearth listening on (http:\/\/\S+?)[\s"]/.exec(output)?.[1])) {
        if (Date.now() > deadline) throw new Error(`the demo server did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const page = await signedIn(url);
      await page.getByTestId('demo-banner').waitFor();
      await newChat(page);
      await send(page, 'What is in this repository?');
      await waitForStatus(page, 0, 'done');
      const tool = page.getByTestId('tool-call').first();
      assert.match(await tool.locator('summary').innerText(), /Bash\s+ls -A/);
      await tool.locator('summary').click();
      assert.match(await tool.getByTestId('tool-output').innerText(), /README\.md/);
      assert.match(await page.getByTestId('assistant-text').last().innerText(), /This is Hearth's demo/);
      assert.ok(await page.locator('.markdown pre code.hljs').count(), 'the demo answer shows highlighted code');
      await screenshot(page, 'demo-round-trip');
      await page.close();
    } finally {
      server.kill('SIGTERM');
      await exited;
      const sql = connect(TEST_DATABASE_URL, { max: 1 });
      await sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`;
      await sql.end();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
