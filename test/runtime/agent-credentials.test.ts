// Where the agents' Claude Code finds credentials, on real files: what counts, what does
// not, and what the server's allowlist keeps from the agents.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { claudeAgentEnv } from '../../src/agents/process/agent-env.js';
import { claudeCredentialSource, credentialWarnings } from '../../src/agents/claude/claude-credentials.js';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** An agent environment whose Claude configuration directory is a fresh, empty one. */
async function bare(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hearth-credentials-'));
  dirs.push(dir);
  return { PATH: '/usr/bin:/bin', HOME: dir, CLAUDE_CONFIG_DIR: path.join(dir, 'claude'), ...extra };
}

describe('claudeCredentialSource', () => {
  it('finds none in an empty configuration directory with no credential variables', async () => {
    const env = await bare({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', ANTHROPIC_API_KEY: '' });
    assert.equal(await claudeCredentialSource(env, 'linux'), null);
    const [warning] = await credentialWarnings(env);
    assert.equal(warning?.code, 'no_credentials');
  });

  it('counts a key, a token and a cloud provider switched on, not one switched off', async () => {
    for (const name of ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN']) {
      assert.equal(await claudeCredentialSource(await bare({ [name]: 'secret' }), 'linux'), name);
    }
    assert.equal(await claudeCredentialSource(await bare({ CLAUDE_CODE_USE_BEDROCK: '1' }), 'linux'), 'CLAUDE_CODE_USE_BEDROCK');
    assert.equal(await claudeCredentialSource(await bare({ CLAUDE_CODE_USE_VERTEX: '0' }), 'linux'), null);
  });

  it('counts a login file, and a key helper or a key in the settings, in the configuration directory', async () => {
    const login = await bare();
    await mkdirOf(login);
    await writeFile(path.join(login.CLAUDE_CONFIG_DIR!, '.credentials.json'), '{}');
    assert.match(String(await claudeCredentialSource(login, 'linux')), /the claude login in .*\.credentials\.json/);

    const helper = await bare();
    await mkdirOf(helper);
    await writeFile(path.join(helper.CLAUDE_CONFIG_DIR!, 'settings.json'), JSON.stringify({ apiKeyHelper: '/bin/get-key' }));
    assert.match(String(await claudeCredentialSource(helper, 'linux')), /^apiKeyHelper in /);

    const keyed = await bare();
    await mkdirOf(keyed);
    await writeFile(path.join(keyed.CLAUDE_CONFIG_DIR!, 'settings.json'), JSON.stringify({ env: { ANTHROPIC_API_KEY: 'k' } }));
    assert.match(String(await claudeCredentialSource(keyed, 'linux')), /^ANTHROPIC_API_KEY in /);

    const broken = await bare();
    await mkdirOf(broken);
    await writeFile(path.join(broken.CLAUDE_CONFIG_DIR!, 'settings.json'), '{ not json');
    assert.equal(await claudeCredentialSource(broken, 'linux'), null);
  });

  it('looks in ~/.claude without CLAUDE_CONFIG_DIR', async () => {
    const { CLAUDE_CONFIG_DIR: _, ...env } = await bare();
    await mkdirOf({ CLAUDE_CONFIG_DIR: path.join(env.HOME!, '.claude') });
    await writeFile(path.join(env.HOME!, '.claude', '.credentials.json'), '{}');
    assert.match(String(await claudeCredentialSource(env, 'linux')), /\.claude\/\.credentials\.json/);
  });

  it('looks for the login where CLAUDE_SECURESTORAGE_CONFIG_DIR says', async () => {
    const env = await bare();
    const secure = path.join(env.HOME!, 'secure');
    await mkdirOf({ CLAUDE_CONFIG_DIR: secure });
    await mkdirOf(env);
    await writeFile(path.join(env.CLAUDE_CONFIG_DIR!, '.credentials.json'), '{}');
    assert.equal(await claudeCredentialSource({ ...env, CLAUDE_SECURESTORAGE_CONFIG_DIR: secure }, 'linux'), null);
    await writeFile(path.join(secure, '.credentials.json'), '{}');
    assert.match(String(await claudeCredentialSource({ ...env, CLAUDE_SECURESTORAGE_CONFIG_DIR: secure }, 'linux')), /secure\/\.credentials\.json/);
  });

  it('assumes a login on macOS, where it is kept in the Keychain', async () => {
    assert.match(String(await claudeCredentialSource(await bare(), 'darwin')), /Keychain/);
  });
});

describe('claudeAgentEnv', () => {
  it('keeps from the check what the allowlist keeps from the agents', async () => {
    const env = claudeAgentEnv({ ...(await bare()), HEARTH_TOKEN: 'x', CLAUDE_CODE_OAUTH_TOKEN: 'kept', OTHER_KEY: 'dropped' });
    assert.equal(env.CLAUDE_CODE_OAUTH_TOKEN, 'kept');
    assert.equal(env.HEARTH_TOKEN, undefined);
    assert.equal(env.OTHER_KEY, undefined);
  });
});

async function mkdirOf(env: Record<string, string | undefined>): Promise<void> {
  await mkdir(env.CLAUDE_CONFIG_DIR!, { recursive: true });
}
