// Starting a chat in the web UI: a labeled dialog with the installed agents and recent
// repositories to choose from, `~` for the server user's home, refusals beside the field
// they are about, and chats titled from their first message. Headless Chromium against
// a real server, the real Claude Code binary and the fake model; screenshots go to
// test-artifacts/web/.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';

const TOKEN = 'new-chat-token-0123456789';
const LIMIT = { timeout: 120_000 };
const ARTIFACTS = path.resolve('test-artifacts/web');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
let db: TestSchema;
let fake: FakeModelServer;
let server: TestServer;
let browser: Browser;
let root: string;
let home: string;
let project: string;

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  db = await testSchema('web_new_chat');
  fake = await startFakeModel({ chunkDelayMs: 5 });
  root = await mkdtemp(path.join(tmpdir(), 'hearth-web-new-'));
  home = path.join(root, 'home');
  project = makeRepo(path.join(home, 'project'));
  server = await startTestServer({ sql: db.sql, fake, root, token: TOKEN });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
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

async function signedIn(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
  await page.goto(server.url);
  await page.getByLabel('API token').fill(TOKEN);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'New chat' }).waitFor();
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `new-chat-${name}.png`), fullPage: true });

describe('the new chat dialog', () => {
  it('is labeled, offers the installed agents, and shows a refusal beside its field', LIMIT, async () => {
    const page = await signedIn();
    await page.getByRole('button', { name: 'New chat' }).click();
    const dialog = page.getByRole('dialog', { name: 'New chat' });
    await dialog.waitFor();
    for (const label of ['Repository path', 'Title', 'Agent', 'Model', 'Permissions']) {
      assert.ok(await dialog.getByLabel(label, { exact: true }).isVisible(), `${label} has a label`);
    }
    const version = server.runtime.registry.get('claude').version;
    await dialog.getByLabel('Agent').locator('option', { hasText: version }).waitFor({ state: 'attached' });
    // Every agent this node has installed, in the catalog's order.
    const installed = server.runtime.registry.list().map((a) => `${a.agent} ${a.version}`);
    assert.deepEqual(await dialog.getByLabel('Agent').locator('option').allInnerTexts(), installed);
    assert.equal(installed[0], `claude ${version}`);
    assert.equal(await dialog.getByLabel('Agent').inputValue(), 'claude');
    assert.match(await dialog.getByText(/agent's default/).first().innerText(), /Optional/);
    await shot(page, 'dialog');

    const outside = tmpdir();
    await dialog.getByLabel('Repository path').fill(outside);
    await dialog.getByRole('button', { name: 'Create chat' }).click();
    const refusal = dialog.locator('.field', { has: page.getByLabel('Repository path') }).getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), new RegExp(`repoPath ${outside} is outside the allowed roots \\(${root}\\).*HEARTH_REPO_ROOTS`));
    assert.equal(await dialog.getByLabel('Repository path').getAttribute('aria-invalid'), 'true');
    assert.ok(await dialog.isVisible(), 'the dialog stays open with what was typed');
    assert.equal(await dialog.getByLabel('Repository path').inputValue(), outside);
    await shot(page, 'refused');
    assert.equal((await server.client.request('GET', '/api/chats')).body.chats.length, 0, 'no chat was made');

    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await page.close();
  });

  it('takes ~ for the home, offers recent repositories, and titles the chat from its first message', LIMIT, async () => {
    const page = await signedIn();
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      await page.getByRole('button', { name: 'New chat' }).click();
      const dialog = page.getByRole('dialog', { name: 'New chat' });
      await dialog.getByLabel('Repository path').fill('~/project');
      await dialog.getByRole('button', { name: 'Create chat' }).click();
      await page.waitForURL(/#\/chat\//);
      await dialog.waitFor({ state: 'hidden' });
    } finally {
      process.env.HOME = saved;
    }
    const [chat] = (await server.client.request('GET', '/api/chats')).body.chats;
    assert.equal(chat.repoPath, project);
    assert.equal(chat.branch, `hearth/project-${chat.id.slice(0, 8)}`);

    fake.enqueue({ kind: 'text', chunks: ['Done.'] });
    await page.getByLabel('Message').fill('Tidy up the README headings\nand nothing else');
    await page.getByLabel('Message').press('Enter');
    const item = page.getByTestId('chat-item').first();
    await item.getByText('Tidy up the README headings', { exact: true }).waitFor({ timeout: 30_000 });
    assert.match(await item.locator('time').innerText(), /^(just now|\d+ min ago)$/);
    await shot(page, 'titled');

    await page.getByRole('button', { name: 'New chat' }).click();
    const dialog = page.getByRole('dialog', { name: 'New chat' });
    const recent = dialog.getByRole('group', { name: 'Recent repositories' });
    await recent.getByRole('button', { name: 'project' }).click();
    assert.equal(await dialog.getByLabel('Repository path').inputValue(), project);
    await shot(page, 'recent');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.close();
  });

  it('renames a chat in place: Enter keeps the new name, Esc the old, and a blank one is refused', LIMIT, async () => {
    const page = await signedIn();
    const made = await server.client.request('POST', '/api/chats', { repoPath: project, title: 'Before' });
    assert.equal(made.status, 201);
    await page.goto(`${server.url}/#/chat/${made.body.id}`);
    await page.getByTestId('chat-title').getByText('Before').waitFor();

    await page.getByRole('button', { name: 'Rename chat' }).click();
    await page.getByLabel('Chat title').fill('Not this');
    await page.getByLabel('Chat title').press('Escape');
    await page.getByTestId('chat-title').getByText('Before').waitFor();

    await page.getByRole('button', { name: 'Rename chat' }).click();
    await page.getByLabel('Chat title').fill('   ');
    await page.getByLabel('Chat title').press('Enter');
    await page.getByRole('alert').filter({ hasText: /title/i }).waitFor();

    await page.getByLabel('Chat title').fill('After');
    await page.getByLabel('Chat title').press('Enter');
    await page.getByTestId('chat-title').getByText('After').waitFor();
    await page.getByTestId('chat-item').getByText('After', { exact: true }).waitFor();
    assert.equal((await server.client.request('GET', `/api/chats/${made.body.id}`)).body.title, 'After');
    await shot(page, 'renamed');
    await page.close();
  });
});
