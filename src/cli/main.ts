import { parseArgs } from 'node:util';
import { configFromEnv } from './config.js';
import { serve } from './serve.js';

const USAGE = `Usage: hearth <command> [options]

Commands:
  serve      Run the Hearth server (embedded database unless DATABASE_URL is set)

Options:
  -h, --help  Show this help

Environment:
  DATABASE_URL            PostgreSQL to use instead of the embedded one
  HEARTH_DATABASE_SCHEMA  Schema for Hearth's tables (default: public)
  HEARTH_DATA_DIR         Data directory (default: .hearth in the working directory)
  HEARTH_HOST             Address to bind (default: 127.0.0.1)
  HEARTH_PORT             Port to bind (default: 8420)
  HEARTH_TOKEN            API token (default: generated once, kept in the data directory)
  HEARTH_REPO_ROOTS       Directories repositories must be under (default: home), ':'-separated
  HEARTH_WORKTREES_DIR    Where chat worktrees go (default: <data dir>/worktrees)
  HEARTH_POOL_MAX         Warm agent sessions kept at most (default: 8)
  HEARTH_POOL_IDLE_SECONDS  Idle time before a warm session is ended (default: 900)
  HEARTH_QUEUE_MAX        Messages that may wait behind a running turn (default: 5)
  HEARTH_MAX_PROMPT_BYTES Largest message accepted (default: 262144)
  CLAUDE_SDK_BACKEND      Run claude through the Agent SDK (default: on)
  HEARTH_SECRET_ENV       More variable names agents must never see
`;

/** Returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  const [command] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'serve':
      await serve(configFromEnv());
      return 0;
    default:
      process.stderr.write(`hearth: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}
