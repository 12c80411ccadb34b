// The web UI as a person uses it: headless Chromium against a real server, the real
// Claude Code binary and the fake model. Each step leaves a screenshot in
// test-artifacts/web/, at a desktop (1280 px) or a phone (390 px) width.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContextOptions, Page } from 'playwright-core';
import type { FakeModelServer } from '../fixtures/fake-anthropic.js';
import { TEST_DATABASE_URL } from '../fixtures/database.js';
import { connect } from '../../src/db/sql.js';
import { waitUntil } from '../fixtures/backend-chats.js';
import { DESKTOP, LIMIT, NO_CREDENTIALS, PHONE, TOKEN, WebSession, addWarnings, send, serve, turns, waitForStatus, watchPolicy } from './web-session.js';

const NAME = 'web';
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

describe('the web UI', () => {
  it('asks for the token once, runs a chat with streaming, a tool call and a stop, and keeps it all after a reload', LIMIT, async () => {
    const page = await web.browser.newPage({ viewport: DESKTOP });
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
    web.server.app.server.closeAllConnections();
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

  it('gives a new user with no API key a whole round trip, tool call included, with hearth serve --demo', LIMIT, async () => {
    const schema = `web_demo_${process.pid}`;
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hearth-web-demo-'));
    const { child: server, url } = await serve(['--demo'], {
      ...(process.env as Record<string, string>),
      DATABASE_URL: TEST_DATABASE_URL,
      HEARTH_DATABASE_SCHEMA: schema,
      HEARTH_DATA_DIR: dataDir,
      HEARTH_PORT: '0',
      HEARTH_TOKEN: TOKEN,
      HEARTH_REPO_ROOTS: web.root,
      ANTHROPIC_API_KEY: '',
    });
    const exited = new Promise((r) => server.once('exit', r));
    try {
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
      // On a phone the demo banner takes lines of its own; the menu still opens and closes by its button.
      await page.setViewportSize(PHONE);
      const menu = page.getByRole('button', { name: 'Chats' });
      await menu.click();
      await page.getByRole('list', { name: 'Chats' }).waitFor();
      await screenshot(page, 'demo-menu');
      await menu.click({ timeout: 10_000 });
      await page.getByRole('list', { name: 'Chats' }).waitFor({ state: 'hidden' });
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
