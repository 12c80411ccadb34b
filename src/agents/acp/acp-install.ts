import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The entry script of claude-agent-acp, installed as one of Hearth's own packages, if it is. */
export function claudeAcpPath(): string | null {
  try {
    const pkg = fileURLToPath(import.meta.resolve('@agentclientprotocol/claude-agent-acp/package.json'));
    return path.join(path.dirname(pkg), 'dist', 'index.js');
  } catch {
    return null;
  }
}
