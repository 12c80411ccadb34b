import { lastToolResult, lastUserText, type RecordedRequest, type ScriptedReply } from './scripted-model.js';

/**
 * The demo's conversation: every prompt gets a look around the repository (a read-only
 * command the agent runs for real), then a Markdown answer built from what the tool
 * found, saying plainly that it is a scripted demo.
 */
export function demoReply(req: RecordedRequest): ScriptedReply {
  const found = lastToolResult(req);
  if (found === null) {
    return {
      kind: 'tool_use',
      name: 'Bash',
      input: { command: 'ls -A', description: 'List the repository' },
      text: `(Demo) You asked: "${short(lastUserText(req))}". Let me look at the repository first.`,
    };
  }
  const files = found
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && line !== '.git');
  const listed = files.slice(0, 8).map((f) => `- \`${f}\``).join('\n');
  const answer = [
    `**This is Hearth's demo.** A scripted model on this machine stands in for Claude, so no API key is needed; `,
    `the tool call above really ran, in this chat's own git worktree.\n\n`,
    files.length > 0
      ? `The repository's top level holds ${files.length === 1 ? 'one entry' : `${files.length} entries`}:\n\n${listed}\n\n`
      : `The repository looks empty.\n\n`,
    'Code comes back highlighted:\n\n',
    '```ts\n',
    "const res = await fetch('/api/chats', { headers: { authorization: `Bearer ${token}` } });\n",
    'const { chats } = await res.json();\n',
    '```\n\n',
    'Run `hearth serve` without `--demo`, with `ANTHROPIC_API_KEY` set, a `claude setup-token` token in `CLAUDE_CODE_OAUTH_TOKEN`, or a Claude login, to talk to Claude itself.',
  ].join('');
  // Word by word, so the answer visibly streams.
  return { kind: 'text', chunks: answer.match(/\S+\s*/g) ?? [answer] };
}

function short(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}
