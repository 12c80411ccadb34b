import type { BackendKind } from '../api/views.js';
import type { AcpAgent } from './acp/acp-agent.js';
import { claudeAcp, claudeAcpPath } from './acp/agents/claude-acp.js';
import { gemini, geminiPath } from './acp/agents/gemini.js';
import { bundledClaudePath } from './claude/claude-install.js';

/** An agent Hearth knows how to run: where to find it, and the backends that run it, in the order they are tried. */
export interface CatalogAgent {
  name: string;
  backends: readonly BackendKind[];
  /** The agent's executable on this machine, if it is installed. */
  locate(): string | null;
  /** How the warm ACP backend runs it, for an agent that speaks ACP. */
  acp?: AcpAgent;
}

/** The routing table: which backends run which agent. The first agent installed is the default of a new chat. */
export const AGENT_CATALOG: readonly CatalogAgent[] = [
  { name: 'claude', backends: ['claude_sdk', 'claude_pty'], locate: bundledClaudePath },
  // Claude Code through its ACP adapter: the first agent of the warm ACP backend.
  { name: 'claude-acp', backends: ['warm_acp'], locate: claudeAcpPath, acp: claudeAcp },
  { name: 'gemini', backends: ['warm_acp'], locate: geminiPath, acp: gemini },
];

/** The ACP agents of the catalog, by name. */
export function acpAgents(catalog: readonly CatalogAgent[] = AGENT_CATALOG): Map<string, AcpAgent> {
  return new Map(catalog.flatMap((a) => (a.acp ? [[a.name, a.acp] as const] : [])));
}
