// The web UI as a person uses it: headless Chromium against a real server, the real
// Claude Code binary and the fake model. Each step leaves a screenshot in
// test-artifacts/web/.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
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
  await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
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

async function signedIn(url = base): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
  page.on('dialog', (d) => void d.accept());
  await page.goto(url);
  await page.getByLabel('API token').fill(TOKEN);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'New chat' }).waitFor();
  return page;
}

async function newChat(page: Page, mode = ''): Promise<string> {
  await page.getByRole('button', { name: 'New chat' }).click();
  await page.getByLabel('Repository path').fill(repo);
  if (mode) await page.getByLabel('Permissions').selectOption(mode);
  await page.getByRole('button', { name: 'Create chat' }).click();
  await page.waitForURL(/#\/chat\//);
  return /#\/chat\/(.+)$/.exec(page.url())![1]!;
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

const turns = (page: Page) => page.getByTestId('turn');

async function waitForStatus(page: Page, index: number, status: string): Promise<void> {
  await page.locator(`[data-testid="turn"]:nth-child(${index + 1})[data-status="${status}"]`).waitFor({ timeout: 30_000 });
}

describe('the web UI', () => {
  it('asks for the token once, runs a chat with streaming, a tool call and a stop, and keeps it all after a reload', LIMIT, async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
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

  it('is usable on a narrow screen, and deletes a chat', LIMIT, async () => {
    const page = await signedIn();
    const id = await newChat(page);
    await page.setViewportSize({ width: 390, height: 780 });
    await send(page, 'echo: small screen');
    await waitForStatus(page, 0, 'done');
    assert.ok(await page.getByLabel('Message').isVisible());
    assert.equal(await page.getByRole('list', { name: 'Chats' }).isVisible(), false, 'the chat list folds away');
    await screenshot(page, 'narrow');
    await page.getByRole('button', { name: 'Chats' }).click();
    await page.getByRole('list', { name: 'Chats' }).waitFor();
    await screenshot(page, 'narrow-menu');

    const before = await page.getByTestId('chat-item').count();
    await page.locator('[data-testid="chat-item"].selected').getByRole('button', { name: /Delete chat/ }).click();
    await page.getByText('Pick a chat, or start one on a repository.').waitFor();
    await page.locator(`[data-testid="chat-item"]:nth-child(${before})`).waitFor({ state: 'detached' });
    assert.equal(await page.getByTestId('chat-item').count(), before - 1);
    assert.equal((await fetch(`${base}/api/chats/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
    await page.close();
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
