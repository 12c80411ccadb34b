import { Argument, Command, CommanderError, Option } from 'commander';
import { HearthApi } from './api-client.js';
import { configFromEnv } from './config.js';
import { resolveConnection } from './connection.js';
import { CliError, NoServerError, UnreachableError, UsageError } from './errors.js';
import { printable } from './render.js';
import { answerRequest } from './commands/answer.js';
import { listAgents } from './commands/agents.js';
import { listChats } from './commands/chats.js';
import { deleteChat } from './commands/delete.js';
import { showLog } from './commands/log.js';
import { chatMode } from './commands/mode.js';
import { newChat } from './commands/new-chat.js';
import { listPending } from './commands/pending.js';
import { listRules, removeRule } from './commands/rules.js';
import { sendMessage } from './commands/send.js';
import { stopChat } from './commands/stop.js';
import { BACKEND_KINDS, PERMISSION_MODES } from '../api/views.js';

const SERVE_ENVIRONMENT = `
Environment:
  DATABASE_URL            PostgreSQL to use instead of the embedded one
  HEARTH_DATABASE_SCHEMA  Schema for Hearth's tables (default: public)
  HEARTH_DATA_DIR         Data directory (default: .hearth in the working directory)
  HEARTH_HOST             Address to bind (default: 127.0.0.1)
  HEARTH_PORT             Port to bind (default: 8420)
  HEARTH_REMOTE           Beyond loopback: tls (serve HTTPS) or proxy (a TLS proxy in front); default off
  HEARTH_TLS_CERT, HEARTH_TLS_KEY  Certificate and key (PEM files) to serve HTTPS with
  HEARTH_PUBLIC_HOSTS     Host names clients may use besides loopback and IP addresses, comma-separated
  HEARTH_REQUEST_TIMEOUT_SECONDS  Time a client may take to send a request (default: 30)
  HEARTH_TOKEN            API token (default: generated once, kept in the data directory)
  HEARTH_REPO_ROOTS       Directories repositories must be under (default: home), ':'-separated
  HEARTH_WORKTREES_DIR    Where chat worktrees go (default: <data dir>/worktrees)
  HEARTH_POOL_MAX         Warm agent sessions kept at most (default: 8)
  HEARTH_POOL_IDLE_SECONDS  Idle time before a warm session is ended (default: 900)
  HEARTH_QUEUE_MAX        Messages that may wait behind a running turn (default: 5)
  HEARTH_MAX_PROMPT_BYTES Largest message accepted (default: 262144)
  HEARTH_AGENT_USER       Run agents as this unprivileged user (the server must run as root)
  CLAUDE_SDK_BACKEND      Run claude through the Agent SDK (default: on)
  HEARTH_SECRET_ENV       More variable names agents must never see
  XDG_STATE_HOME          The running server is recorded for the CLI in <it>/hearth/server.json
                          (default: ~/.local/state)`;

const CLIENT_HELP = `
The server's address: --url, else HEARTH_URL, else the running server's record: server.json
in the data directory (HEARTH_DATA_DIR, default .hearth), else the one kept for the user,
$XDG_STATE_HOME/hearth/server.json (default ~/.local/state/hearth/server.json), which
"hearth serve" writes wherever it runs; else http://127.0.0.1:HEARTH_PORT (default 8420).
The token: --token, else HEARTH_TOKEN, else the token file of the server found.
A chat is named by its id or a unique prefix of at least 4 characters.`;

interface GlobalOptions {
  url?: string;
  token?: string;
}

/** Runs the hearth command line; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => (exitCode = code));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help asked for is a success; every other complaint of commander's is about usage.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliError) {
      // The message may carry the server's words (an API error, chat ids).
      process.stderr.write(`hearth: ${printable(err.message)}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('hearth')
    .usage('<command> [options]')
    .description('Hearth runs coding agents in persistent chats bound to git worktrees.')
    .option('--url <url>', "address of the Hearth server (default: HEARTH_URL, else the running server's record)")
    .option('--token <token>', 'API token (default: HEARTH_TOKEN, else the token file of the server found)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`hearth: ${text.replace(/^error: /, '')}`) })
    .addHelpText('after', CLIENT_HELP);
  program.on('command:*', (operands: string[]) => {
    throw new UsageError(`unknown command "${operands[0]}" (hearth --help lists the commands)`);
  });

  /** A client command: its options, the API at the resolved address, and its exit code recorded. */
  const client = <A extends unknown[]>(run: (api: HearthApi, ...args: A) => Promise<number>) =>
    async function (this: Command, ...args: A) {
      const global = this.optsWithGlobals<GlobalOptions>();
      const { url, token, origin } = await resolveConnection(global);
      try {
        setExitCode(await run(new HearthApi(url, token), ...args));
      } catch (err) {
        if (!(err instanceof UnreachableError)) throw err;
        if (origin.kind === 'none') throw new NoServerError(err.url, origin.looked);
        if (origin.kind === 'recorded') throw new UnreachableError(err.url, err.reason, origin.file);
        throw err;
      }
    };
  const json = () => new Option('--json', "print the API's JSON instead of text, for scripts");

  program
    .command('serve')
    .description('run the Hearth server (the embedded database unless DATABASE_URL is set)')
    .option('--demo', 'try Hearth without an API key: the agents talk to a scripted model on this machine')
    .addHelpText('after', SERVE_ENVIRONMENT)
    .action(async (options: { demo?: boolean }) => {
      // The server's modules load only for `serve`: every other command is a short-lived client.
      const { serve } = await import('./serve.js');
      await serve(configFromEnv(), process.env, { demo: Boolean(options.demo) });
    });

  program
    .command('chats')
    .description('list the chats: id prefix, title or repository, agent, busy or idle, branch, cost so far')
    .addOption(json())
    .action(client((api, options: { json?: boolean }) => listChats(api, { json: Boolean(options.json) })));

  program
    .command('agents')
    .description('list the agents the server can run (for new --agent and send --agent): version, backends up or down, whether they resume')
    .addOption(json())
    .action(client((api, options: { json?: boolean }) => listAgents(api, { json: Boolean(options.json) })));

  program
    .command('new')
    .description('start a chat on a git repository, in a worktree of its own on a new branch; prints the chat id')
    .argument('<repo>', 'path to the repository (it needs a commit), relative to the working directory')
    .option('--agent <name>', "agent to run (default: the first installed; GET /api/agents lists them)")
    .option('--model <model>', 'model for the agent')
    .option('--title <title>', 'a title for the chat')
    .addOption(new Option('--permission-mode <mode>', 'what the agent may do without asking').choices([...PERMISSION_MODES]))
    .addOption(json())
    .action(
      client((api, repo: string, options: { agent?: string; model?: string; title?: string; permissionMode?: string; json?: boolean }) =>
        newChat(api, repo, { ...options, json: Boolean(options.json) }),
      ),
    );

  program
    .command('send')
    .description(
      'send a message and stream the reply until the turn ends; exit 0 when it succeeds, 1 when it fails, 130 when stopped (Ctrl-C stops it). ' +
        "The agent's permission requests are asked on the terminal; without one they go to stderr with the commands that answer them (hearth allow, hearth deny)",
    )
    .argument('<chat>', 'chat id or a unique prefix of it')
    .argument('[text...]', 'the message; "-" or nothing reads it from stdin')
    .option('--agent <name>', "the agent this message is for, another of the chat's than its own; its first turn is told the conversation so far")
    .addOption(new Option('--backend <backend>', 'the backend that runs this turn (one the agent lists)').choices([...BACKEND_KINDS]))
    .addOption(new Option('--json', 'print each event of the turn as one line of JSON ({id, event, data})'))
    .action(
      client((api, chat: string, text: string[], options: { agent?: string; backend?: string; json?: boolean }) =>
        sendMessage(api, chat, text, { agent: options.agent, backend: options.backend, json: Boolean(options.json) }),
      ),
    );

  program
    .command('log')
    .description("print a chat's history: messages, replies, tool calls and results, and turns that did not succeed")
    .argument('<chat>', 'chat id or a unique prefix of it')
    .addOption(json())
    .action(client((api, chat: string, options: { json?: boolean }) => showLog(api, chat, { json: Boolean(options.json) })));

  program
    .command('stop')
    .description("stop a chat's running turn and drop its queued messages")
    .argument('<chat>', 'chat id or a unique prefix of it')
    .addOption(json())
    .action(client((api, chat: string, options: { json?: boolean }) => stopChat(api, chat, { json: Boolean(options.json) })));

  program
    .command('delete')
    .description(
      "delete a chat: its running turn is stopped, its history and worktree (uncommitted changes too) removed; its branch stays. Asks first on a terminal; elsewhere it needs --yes",
    )
    .argument('<chat>', 'chat id or a unique prefix of it')
    .option('-y, --yes', 'delete without asking')
    .addOption(json())
    .action(
      client((api, chat: string, options: { yes?: boolean; json?: boolean }) =>
        deleteChat(api, chat, { yes: Boolean(options.yes), json: Boolean(options.json) }),
      ),
    );

  program
    .command('pending')
    .description('list the permission requests that wait for an answer, in every chat, oldest first')
    .addOption(json())
    .action(client((api, options: { json?: boolean }) => listPending(api, { json: Boolean(options.json) })));

  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('allow')
    .description(
      "allow a chat's permission request, answer its questions or approve its plan; the request may be left out when it is the only one waiting. Exit 1 when another answer came first",
    )
    .argument('<chat>', 'chat id or a unique prefix of it')
    .argument('[request]', 'request id or a unique prefix of it (hearth pending lists them)')
    .option('--always', 'allow such uses from now on, kept as a rule of the chat (where the request offers it)')
    .option('--answer <text>', "an answer to the agent's question: a choice's number or your own words; one for each question, in order", collect)
    .option('--message <text>', 'a word to the agent with the answer')
    .addOption(json())
    .action(
      client((api, chat: string, request: string | undefined, options: { always?: boolean; answer?: string[]; message?: string; json?: boolean }) =>
        answerRequest(api, chat, request, 'allow', { ...options, json: Boolean(options.json) }),
      ),
    );

  program
    .command('deny')
    .description(
      "deny a chat's permission request, decline its questions or send its plan back; the request may be left out when it is the only one waiting. Exit 1 when another answer came first",
    )
    .argument('<chat>', 'chat id or a unique prefix of it')
    .argument('[request]', 'request id or a unique prefix of it (hearth pending lists them)')
    .option('--message <text>', 'why, or what the agent should do instead')
    .addOption(json())
    .action(
      client((api, chat: string, request: string | undefined, options: { message?: string; json?: boolean }) =>
        answerRequest(api, chat, request, 'deny', { ...options, json: Boolean(options.json) }),
      ),
    );

  const rules = program.command('rules').description('a chat\'s standing permission answers: what its agents may do without asking');
  rules
    .command('list', { isDefault: true })
    .description("list a chat's rules (hearth rules <chat> does the same)")
    .argument('<chat>', 'chat id or a unique prefix of it')
    .addOption(json())
    .action(client((api, chat: string, options: { json?: boolean }) => listRules(api, chat, { json: Boolean(options.json) })));
  rules
    .command('rm')
    .description('remove a rule: its tool is asked about again')
    .argument('<chat>', 'chat id or a unique prefix of it')
    .argument('<rule>', 'rule id or a unique prefix of it')
    .addOption(json())
    .action(client((api, chat: string, rule: string, options: { json?: boolean }) => removeRule(api, chat, rule, { json: Boolean(options.json) })));

  program
    .command('mode')
    .description("show a chat's permission mode (what its agent may do without asking), or set it for the turns to come")
    .argument('<chat>', 'chat id or a unique prefix of it')
    .addArgument(new Argument('[mode]', 'the mode to set; agent goes back to the agent\'s own default').choices([...PERMISSION_MODES, 'agent']))
    .addOption(json())
    .action(client((api, chat: string, mode: string | undefined, options: { json?: boolean }) => chatMode(api, chat, mode, { json: Boolean(options.json) })));

  for (const command of program.commands.flatMap((c) => [c, ...c.commands])) {
    if (command.name() !== 'serve') command.configureHelp({ showGlobalOptions: true });
  }
  return program;
}
