// Each ACP agent's environment for the benchmarks: pointed at the scripted model, with
// nothing of the user's.

import type { FakeModelServer } from '../test/fixtures/fake-anthropic.js';
import { claudeEnv } from '../test/fixtures/claude-env.js';
import { codexEnv } from '../test/fixtures/codex-env.js';
import { geminiEnv } from '../test/fixtures/gemini-env.js';

const ENVS: Record<string, (fake: FakeModelServer, configDir: string) => Record<string, string>> = {
  'claude-acp': (fake, configDir) => claudeEnv(fake, configDir),
  codex: (fake, configDir) => codexEnv(fake, configDir),
  gemini: (fake) => geminiEnv(fake),
};

export async function benchAgentEnv(agent: string, fake: FakeModelServer, configDir: string): Promise<Record<string, string>> {
  const env = ENVS[agent];
  if (!env) throw new Error(`no benchmark environment for ${agent}`);
  return env(fake, configDir);
}
