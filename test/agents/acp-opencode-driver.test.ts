// The driver contract, run by AcpDriver against the real OpenCode (`opencode acp`) and
// the scripted model speaking chat completions, on real git worktrees. The ACP contract
// and what is OpenCode's own are in acp-opencode.test.ts.

import { driverContract } from './driver-contract.js';
import { opencodeAcp, opencodePrice, opencodeToolCall } from '../fixtures/opencode-acp.js';

const acp = opencodeAcp('acp_opencode_driver');

const ACP_WORDS = 'an ACP permission outcome carries an option id and nothing else: the person’s words have no way to the agent';
const NO_PLAN = 'the case scripts Claude Code’s plan tools (a plan file, ExitPlanMode); OpenCode’s plan agent asks nobody to approve a plan';

driverContract({
  ...acp.contract,
  toolCall: opencodeToolCall,
  price: opencodePrice,
  sessionIdSent: (req) => req.headers['x-session-id'],
  suggestsPrefixes: false,
  cannotHold: {
    "returns each turn's usage once, with the model's figures, and reports the agent's resume token":
      'chat completions has no figure for tokens written to the cache: OpenCode counts them as input (its other figures are held in acp-opencode.test.ts)',
    "counts a stopped turn's tokens and cost from the same figures, and the next turn only its own":
      'OpenCode answers a cancelled prompt with zero tokens: the stopped call reported no usage, and it estimates none',
    'resumes from PostgreSQL alone, on an empty configuration directory, and counts only the new turn':
      "OpenCode keeps its sessions in its SQLite database in the agent's home, which no mirror carries: a session resumes on the node that holds it",
    'asks before writing a file, with the diff and options of ACP kinds, and writes it when allowed':
      "OpenCode's diff of a new file gives its old text as an empty string, which cannot be told from an emptied file",
    'writes nothing when denied, and the agent hears the person’s words': ACP_WORDS,
    "puts the agent's questions with their choices, and the agent gets the answers":
      "the case scripts Claude Code's AskUserQuestion; OpenCode offers its question tool to no ACP client",
    'asks approval of a plan with its text, and once approved the agent leaves plan mode, for this turn only': NO_PLAN,
    'keeps the agent planning when its plan is not approved, with the person’s note': NO_PLAN,
  },
});

