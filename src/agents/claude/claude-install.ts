import { arch, platform } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the `claude` binary that ships inside the Agent SDK's platform package lives, if it does. */
export function bundledClaudePath(): string | null {
  try {
    const pkg = fileURLToPath(import.meta.resolve(`@anthropic-ai/claude-agent-sdk-${platform()}-${arch()}/package.json`));
    return path.join(path.dirname(pkg), platform() === 'win32' ? 'claude.exe' : 'claude');
  } catch {
    return null;
  }
}
