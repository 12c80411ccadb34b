import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { demoReply } from './demo-script.js';
import { startScriptedModel } from './scripted-model.js';

export interface Demo {
  /** The scripted model's address. */
  url: string;
  /** The agents' environment: pointed at the scripted model, with no credentials of the user's. */
  agentEnv: Record<string, string | undefined>;
  close(): Promise<void>;
}

/** OpenCode's configuration for the demo: the scripted model as its one provider and default model. */
function demoOpencodeConfig(url: string): Record<string, unknown> {
  const model = { name: 'Hearth demo model', tool_call: true, reasoning: true, attachment: false, temperature: false, limit: { context: 200_000, output: 8_192 } };
  return {
    model: 'hearth-demo/scripted',
    small_model: 'hearth-demo/scripted',
    provider: {
      'hearth-demo': { npm: '@ai-sdk/openai-compatible', name: 'Hearth demo', options: { baseURL: `${url}/v1`, apiKey: 'hearth-demo-key-not-a-secret' }, models: { scripted: model } },
    },
  };
}

/**
 * `hearth serve --demo`: a scripted model on loopback with the agents pointed at it, so a
 * round trip works with no API key. The agents get a configuration directory of their
 * own in the data directory, so the user's Claude login and settings are neither used
 * nor touched; Codex keeps its state in its agent home, configured by Hearth alone.
 */
export async function startDemo(dataDir: string, env: NodeJS.ProcessEnv): Promise<Demo> {
  const model = await startScriptedModel({ reply: demoReply, chunkDelayMs: 25 });
  const configDir = path.resolve(dataDir, 'demo-claude');
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  // No credential or endpoint of the user's may reach the scripted model or win over it.
  const theirs = ['ANTHROPIC_', 'CLAUDE_', 'OPENAI_', 'CODEX_', 'GEMINI_', 'GOOGLE_', 'OPENCODE_'];
  const base = Object.fromEntries(Object.entries(env).filter(([name]) => !theirs.some((p) => name.startsWith(p))));
  return {
    url: model.url,
    agentEnv: {
      ...base,
      ANTHROPIC_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'hearth-demo-key-not-a-secret',
      CLAUDE_CONFIG_DIR: configDir,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      // Codex speaks the Responses API to the same scripted model.
      OPENAI_BASE_URL: `${model.url}/v1`,
      OPENAI_API_KEY: 'hearth-demo-key-not-a-secret',
      // Gemini CLI speaks the Gemini API to the same model.
      GEMINI_API_KEY: 'hearth-demo-key-not-a-secret',
      GOOGLE_GEMINI_BASE_URL: model.url,
      // OpenCode speaks chat completions to the same model, through a provider of its config.
      OPENCODE_CONFIG_CONTENT: JSON.stringify(demoOpencodeConfig(model.url)),
    },
    close: () => model.close(),
  };
}
