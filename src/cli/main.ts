import { parseArgs } from 'node:util';
import { serve, serveOptionsFromEnv } from './serve.js';

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
      await serve(serveOptionsFromEnv());
      return 0;
    default:
      process.stderr.write(`hearth: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}
