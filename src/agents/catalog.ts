import { PERMISSION_MODES, type AgentCapabilities, type BackendKind } from '../api/views.js';
import type { AcpAgent } from './acp/acp-agent.js';
import { claudeAcp, claudeAcpPath } from './acp/agents/claude-acp.js';
import { codex, codexAcpPath } from './acp/agents/codex.js';
import { gemini, geminiPath } from './acp/agents/gemini.js';
import { opencode, opencodePath } from './acp/agents/opencode.js';
import { bundledClaudePath } from './claude/claude-install.js';
import { packageVersion } from './installed-package.js';

/** An agent Hearth knows how to run: where to find it, and the backends that run it, in the order they are tried. */
export interface CatalogAgent {
  name: string;
  backends: readonly BackendKind[];
  /** The agent's executable on this machine, if it is installed. */
  locate(): string | null;
  /**
   * The installed version, where it can be read without running the agent (a package's
   * own manifest): the registry otherwise asks the executable for `--version`, which for
   * some agents takes seconds.
   */
  version?(): string | null;
  /** How the warm ACP backend runs it, for an agent that speaks ACP. */
  acp?: AcpAgent;
  /** What the agent can do, where it is known; clients are shown it. */
  capabilities?: AgentCapabilities;
}

/** The routing table: which backends run which agent. The first agent installed is the default of a new chat. */
export const AGENT_CATALOG: readonly CatalogAgent[] = [
  { name: 'claude', backends: ['claude_sdk', 'claude_pty'], locate: bundledClaudePath, capabilities: { resumes: true, permissionModes: PERMISSION_MODES } },
  // Claude Code through its ACP adapter: the first agent of the warm ACP backend.
  {
    name: 'claude-acp',
    backends: ['warm_acp'],
    locate: claudeAcpPath,
    version: () => packageVersion('@agentclientprotocol/claude-agent-acp'),
    acp: claudeAcp,
    // Its own mode ids; `auto` and `bypassPermissions` only where it offers them.
    capabilities: { resumes: true, permissionModes: ['default', 'acceptEdits', 'plan', 'auto', 'bypassPermissions'] },
  },
  // OpenAI's Codex through codex-acp, against any Responses API endpoint.
  {
    name: 'codex',
    backends: ['warm_acp'],
    locate: codexAcpPath,
    version: () => packageVersion('@agentclientprotocol/codex-acp'),
    acp: codex,
    // Each of Hearth's modes maps onto a sandbox and approval policy of Codex's.
    capabilities: { resumes: true, permissionModes: PERMISSION_MODES },
  },
  // Google's Gemini CLI in its ACP mode, against any Gemini API endpoint.
  {
    name: 'gemini',
    backends: ['warm_acp'],
    locate: geminiPath,
    // Asking the bundle for `--version` takes seconds: it starts a second Node of its own.
    version: () => packageVersion('@google/gemini-cli'),
    acp: gemini,
    // It resumes by `session/load` alone; Hearth's `dontAsk` and `auto` have no mode of its own.
    capabilities: { resumes: true, permissionModes: ['default', 'acceptEdits', 'plan', 'bypassPermissions'] },
  },
  // OpenCode through its own server (one `opencode serve` for the node, shared by its chats),
  // or in its ACP mode; both keep its sessions in the same database under the agent's home.
  {
    name: 'opencode',
    backends: ['opencode_server', 'warm_acp'],
    locate: opencodePath,
    version: () => packageVersion('opencode-ai'),
    acp: opencode,
    // On its server each of Hearth's modes is a set of session rules, and plan its plan agent;
    // its ACP mode sets permissions per mode at launch and serves `dontAsk` and `auto` as `default`.
    capabilities: { resumes: true, permissionModes: PERMISSION_MODES },
  },
];

/** The ACP agents of the catalog, by name. */
export function acpAgents(catalog: readonly CatalogAgent[] = AGENT_CATALOG): Map<string, AcpAgent> {
  return new Map(catalog.flatMap((a) => (a.acp ? [[a.name, a.acp] as const] : [])));
}
