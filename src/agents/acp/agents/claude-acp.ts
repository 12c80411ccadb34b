import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { CLAUDE_ENV_PREFIXES } from '../../process/agent-env.js';
import { claudeConfigDir } from '../../claude/pty/local-transcript.js';
import { installedFile } from '../../installed-package.js';
import { nodeScript, type AcpAgent } from '../acp-agent.js';

/** The entry script of claude-agent-acp, installed as one of Hearth's own packages, if it is. */
export function claudeAcpPath(): string | null {
  return installedFile('@agentclientprotocol/claude-agent-acp', 'dist', 'index.js');
}

/**
 * Claude Code through its ACP adapter. It reads Claude's own variables and keeps its
 * configuration where Claude's other roads do, so a login serves all three.
 */
export const claudeAcp: AcpAgent = {
  envPrefixes: CLAUDE_ENV_PREFIXES,
  launch: async ({ installPath, env, model }) => nodeScript(installPath, model ? { ...env, ANTHROPIC_MODEL: model } : env),
  // No predicted follow-up prompt: it costs a model call of its own after every turn, and Hearth does not show it.
  sessionMeta: { claudeCode: { options: { promptSuggestions: false } } },
  // Claude Code's transcript, `projects/<project key>/<session>.jsonl`, and its subagents' beside it.
  sessionFiles: {
    root: claudeConfigDir,
    list: async (root, sessionId) => {
      const projects = path.join(root, 'projects');
      const found: string[] = [];
      for (const project of await readdir(projects).catch((): string[] => [])) {
        const dir = path.join(projects, project);
        const names: string[] = await readdir(dir).catch(() => []);
        if (names.includes(`${sessionId}.jsonl`)) found.push(path.join('projects', project, `${sessionId}.jsonl`));
        if (names.includes(sessionId)) {
          const below: string[] = await readdir(path.join(dir, sessionId), { recursive: true }).catch(() => []);
          for (const rel of below) if (rel.endsWith('.jsonl')) found.push(path.join('projects', project, sessionId, rel));
        }
      }
      return found;
    },
  },
};
