// What the browser tests share: a real server in the test process (the real Claude Code
// binary against the fake model), headless Chromium, and the steps a person takes in the
// UI. Screenshots go to test-artifacts/web/, named after the test file, at a desktop
// (1280 px) or a phone (390 px) width.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { lastUserText, startFakeModel, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { testSchema, type TestSchema } from '../fixtures/database.js';
import { makeRepo } from '../fixtures/git-repo.js';
import { startTestServer, type TestServer } from '../fixtures/test-server.js';

export const TOKEN = 'web-token-0123456789';
export const LIMIT = { timeout: 120_000 };
export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 780 };
const ARTIFACTS = path.resolve('test-artifacts/web');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export class WebSession {
  private shot = 0;

  private constructor(
    /** Names the schema and the screenshots. */
    readonly name: string,
    readonly db: TestSchema,
    readonly fake: FakeModelServer,
    readonly server: TestServer,
    readonly browser: Browser,
    /** Repositories may be under it. */
    readonly root: string,
    readonly repo: string,
  ) {}

  /** A fake model that answers `echo: …` by itself, a server, a repository and a browser. */
  static async start(name: string): Promise<WebSession> {
    await mkdir(ARTIFACTS, { recursive: true });
    const db = await testSchema(name.replace(/\W/g, '_'));
    const fake = await startFakeModel({
      chunkDelayMs: 30,
      reply: (req) => {
        const text = lastUserText(req);
        return text.startsWith('echo:') ? { kind: 'text', chunks: [`reply to ${text}`] } : undefined;
      },
    });
    const root = await mkdtemp(path.join(tmpdir(), `hearth-${name}-`));
    const repo = path.join(root, 'repo');
    makeRepo(repo);
    const server = await startTestServer({ sql: db.sql, fake, root, token: TOKEN, runtime: { maxQueued: 3 } });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // No network beyond loopback here: Chromium's background services would only fail.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    return new WebSession(name, db, fake, server, browser, root, repo);
  }

  get base(): string {
    return this.server.url;
  }

  async close(): Promise<void> {
    await this.browser.close();
    await this.server.close();
    await this.fake.close();
    await this.db.drop();
    await rm(this.root, { recursive: true, force: true });
  }

  async screenshot(page: Page, name: string): Promise<void> {
    this.shot++;
    const width = page.viewportSize()?.width ?? 0;
    const file = `${this.name}-${String(this.shot).padStart(2, '0')}-${name}-${width}px.png`;
    await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
  }

  /** A fresh browser context at a desktop width, past the token prompt. */
  async signedIn(url = this.base, options: BrowserContextOptions = {}): Promise<Page> {
    const page = await this.browser.newPage({ viewport: DESKTOP, ...options });
    page.on('dialog', (d) => void d.accept());
    await page.goto(url);
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'New chat' }).waitFor();
    return page;
  }

  /** A new chat on the session's repository, opened; returns its id. */
  async newChat(page: Page, mode = ''): Promise<string> {
    await page.getByRole('button', { name: 'New chat' }).click();
    await page.getByLabel('Repository path').fill(this.repo);
    if (mode) await page.getByLabel('Permissions').selectOption(mode);
    const before = page.url();
    await page.getByRole('button', { name: 'Create chat' }).click();
    await page.waitForURL((url) => /#\/chat\//.test(url.hash) && url.href !== before);
    return /#\/chat\/(.+)$/.exec(page.url())![1]!;
  }
}

/**
 * What the page's Content-Security-Policy refused and what threw, from now on and across
 * reloads: the policy must not break the UI in use.
 */
export async function watchPolicy(page: Page): Promise<string[]> {
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

export const NO_CREDENTIALS = {
  code: 'no_credentials',
  message: 'No credentials for Claude: set ANTHROPIC_API_KEY, or CLAUDE_CODE_OAUTH_TOKEN to a token from `claude setup-token`.',
};

/**
 * Adds warnings to the server's own /health answers, as a server that finds its setup
 * lacking reports them; the rest of the answer is the server's.
 */
export async function addWarnings(page: Page, warnings: { code: string; message: string }[]): Promise<void> {
  await page.route(/\/health$/, async (route) => {
    const response = await route.fetch();
    const body = (await response.json()) as Record<string, unknown>;
    await route.fulfill({ response, json: { ...body, warnings } });
  });
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

/** `hearth serve` as a process of its own; resolves once it listens. */
export async function serve(args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string }> {
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
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

/** Relative luminance of a CSS `rgb(...)` colour, 0 (black) to 1 (white). */
export function luminance(css: string): number {
  const [r, g, b] = (css.match(/[\d.]+/g) ?? []).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

export const turns = (page: Page) => page.getByTestId('turn');

export async function waitForStatus(page: Page, index: number, status: string): Promise<void> {
  await page.locator(`[data-testid="turn"]:nth-child(${index + 1})[data-status="${status}"]`).waitFor({ timeout: 30_000 });
}
