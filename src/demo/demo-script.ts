import { geminiApi } from './dialects/gemini-api.js';
import { openaiChat } from './dialects/openai-chat.js';
import { offeredTools, openaiResponses } from './dialects/openai-responses.js';
import type { ServedReply } from './model-dialect.js';
import { lastToolResult, lastUserText, type RecordedRequest, type ScriptedReply } from './scripted-model.js';

/** Who the scripted model stands in for, and how to reach the real one, by the API the agent speaks. */
const STANDS_IN_FOR: Record<string, { model: string; instead: string }> = {
  [openaiResponses.name]: { model: "Codex's model", instead: 'with `OPENAI_API_KEY` set, to talk to OpenAI itself' },
  [geminiApi.name]: { model: 'Gemini', instead: 'with `GEMINI_API_KEY` set, to talk to Gemini itself' },
  [openaiChat.name]: { model: "OpenCode's model", instead: "with a provider and its key in OpenCode's configuration, to talk to that model itself" },
};
const CLAUDE = {
  model: 'Claude',
  instead: 'with `ANTHROPIC_API_KEY` set, a `claude setup-token` token in `CLAUDE_CODE_OAUTH_TOKEN`, or a Claude login, to talk to Claude itself',
};

/**
 * The demo's conversation: every prompt gets a look around the repository (a read-only
 * command the agent runs for real), then a Markdown answer built from what the tool
 * found, saying plainly that it is a scripted demo.
 */
export function demoReply(req: RecordedRequest): ScriptedReply {
  const result = lastToolResult(req);
  const found = result !== null && req.dialect === geminiApi.name ? shellOutput(result) : result;
  if (found === null) return { ...listing(req), text: `(Demo) You asked: "${short(lastUserText(req))}". Let me look at the repository first.` };
  const who = STANDS_IN_FOR[req.dialect ?? ''] ?? CLAUDE;
  const files = found
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && line !== '.git');
  const listed = files.slice(0, 8).map((f) => `- \`${f}\``).join('\n');
  const answer = [
    `**This is Hearth's demo.** A scripted model on this machine stands in for ${who.model}, so no API key is needed; `,
    `the tool call above really ran, in this chat's own git worktree.\n\n`,
    files.length > 0
      ? `The repository's top level holds ${files.length === 1 ? 'one entry' : `${files.length} entries`}:\n\n${listed}\n\n`
      : `The repository looks empty.\n\n`,
    'Code comes back highlighted:\n\n',
    '```ts\n',
    "const res = await fetch('/api/chats', { headers: { authorization: `Bearer ${token}` } });\n",
    'const { chats } = await res.json();\n',
    '```\n\n',
    `Run \`hearth serve\` without \`--demo\`, ${who.instead}.`,
  ].join('');
  // Word by word, so the answer visibly streams.
  return { kind: 'text', chunks: answer.match(/\S+\s*/g) ?? [answer] };
}

/**
 * The call that lists the repository, in the agent's own tools: Claude Code's Bash,
 * Gemini CLI's run_shell_command, OpenCode's bash, or Codex's exec_command, which its
 * catalog models reach through JavaScript for `exec`.
 */
function listing(req: RecordedRequest): Extract<ServedReply, { kind: 'tool_use' }> {
  // Gemini CLI runs commands in a terminal, where ls lists in columns unless told one a line.
  if (req.dialect === geminiApi.name) return { kind: 'tool_use', name: 'run_shell_command', input: { command: 'ls -A1', description: 'List the repository' } };
  if (req.dialect === openaiChat.name) return { kind: 'tool_use', name: 'bash', input: { command: 'ls -A', description: 'List the repository' } };
  if (req.dialect !== openaiResponses.name) return { kind: 'tool_use', name: 'Bash', input: { command: 'ls -A', description: 'List the repository' } };
  if (offeredTools(req.body).get('exec') === 'custom') {
    return { kind: 'tool_use', name: 'exec', input: { input: "const r = await tools.exec_command({ cmd: 'ls -A' });\ntext(r.output ?? r);" } };
  }
  return { kind: 'tool_use', name: 'exec_command', input: { cmd: 'ls -A' } };
}

/**
 * What a command printed, from Gemini CLI's report of its shell tool: the lines after
 * `Output:`, up to the exit code or process group it adds, without the wrapper around it.
 */
function shellOutput(report: string): string {
  const body = report.replace(/^\s*<untrusted_context>\n?/, '').replace(/\n?<\/untrusted_context>\s*$/, '');
  const at = body.indexOf('Output:');
  if (at < 0) return body;
  const rest = body.slice(at + 'Output:'.length).replace(/^ /, '');
  const end = rest.search(/\n(?:Error|Exit Code|Signal|Background PIDs|Process Group PGID):/);
  const out = end < 0 ? rest : rest.slice(0, end);
  return out.trim() === '(empty)' ? '' : out;
}

function short(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}
