import { PERMISSION_MODES, type AgentCapabilities, type BackendKind } from '../api/views.js';
import { claudeAcpPath } from './acp/acp-install.js';
import { bundledClaudePath } from './claude/claude-install.js';

/** An agent Hearth knows how to run: where to find it, and the backends that run it, in the order they are tried. */
export interface CatalogAgent {
  name: string;
  backends: readonly BackendKind[];
  /** The agent's executable on this machine, if it is installed. */
  locate(): string | null;
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
    // Its own mode ids; `auto` and `bypassPermissions` only where it offers them.
    capabilities: { resumes: true, permissionModes: ['default', 'acceptEdits', 'plan', 'auto', 'bypassPermissions'] },
  },
];
