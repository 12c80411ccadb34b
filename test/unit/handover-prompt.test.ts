// The prompt that hands a chat to an agent whose own conversation lacks part of it: who
// said what, in turn order, tool calls in a line, bounded in size, the user's text last.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredPart } from '../../src/api/parts.js';
import { HANDOVER_LIMITS, handover, handoverPrompt, type HistoryMessage } from '../../src/runtime/turns/handover-prompt.js';

const user = (turnId: string, agent: string, text: string): HistoryMessage => ({
  turnId,
  role: 'user',
  agent,
  parts: [{ type: 'text', text }],
  turnStatus: 'succeeded',
  turnError: null,
});
const reply = (turnId: string, agent: string, ...parts: StoredPart[]): HistoryMessage => ({
  turnId,
  role: 'assistant',
  agent,
  parts,
  turnStatus: 'succeeded',
  turnError: null,
});
const text = (t: string): StoredPart => ({ type: 'text', text: t });

/** What sits between the conversation's tags. */
function told(prompt: string): string {
  const m = /<conversation>\n([\s\S]*)\n<\/conversation>/.exec(prompt);
  assert.ok(m, `a conversation block in: ${prompt}`);
  return m[1]!;
}

describe('the hand-over prompt', () => {
  it('is the user text unchanged when there is nothing to tell', () => {
    assert.equal(handoverPrompt({ kind: 'joining', agent: 'codex', text: 'hello', history: [] }), 'hello');
    assert.deepEqual(handover({ kind: 'meanwhile', agent: 'codex', text: 'hello', history: [] }), { prompt: 'hello', told: 0, leftOut: false });
    // A turn that left nothing to say (an empty reply, no user text) tells nothing either.
    assert.equal(handoverPrompt({ kind: 'joining', agent: 'codex', text: 'hello', history: [reply('t1', 'claude', { type: 'thinking', text: 'hm' })] }), 'hello');
  });

  it('frames a new conversation: who said what, oldest first, then what the user says now', () => {
    const prompt = handoverPrompt({
      kind: 'joining',
      agent: 'codex',
      text: 'Now review it',
      history: [user('t1', 'claude', 'Write the parser'), reply('t1', 'claude', text('I wrote parser.ts.')), user('t2', 'claude', 'Add a test')],
    });
    assert.match(prompt, /^\[Hearth\] You \(codex\) are joining a conversation in progress\./);
    assert.match(prompt, /Here is what was said so far, oldest first:/);
    assert.ok(prompt.endsWith('\n\nNow the user says to you:\n\nNow review it'), prompt);
    assert.equal(
      told(prompt),
      ['User (to claude): Write the parser\nclaude: I wrote parser.ts.', 'User (to claude): Add a test'].join('\n\n'),
    );
  });

  it('frames what happened meanwhile for a conversation that goes on', () => {
    const prompt = handoverPrompt({
      kind: 'meanwhile',
      agent: 'claude',
      text: 'Back to you',
      history: [user('t3', 'codex', 'Review it'), reply('t3', 'codex', text('Looks fine.'))],
    });
    assert.match(prompt, /^\[Hearth\] Meanwhile, in this chat, since your last turn, the user talked to other agents/);
    assert.equal(told(prompt), 'User (to codex): Review it\ncodex: Looks fine.');
    assert.ok(prompt.endsWith('Now the user says to you:\n\nBack to you'));
  });

  it('keeps a reply with its message though it was stored after later messages, and says what is unfinished or failed', () => {
    const prompt = handoverPrompt({
      kind: 'joining',
      agent: 'codex',
      text: 'x',
      history: [
        user('t1', 'claude', 'first'),
        { ...user('t2', 'claude-acp', 'second'), turnStatus: 'running' },
        reply('t1', 'claude', text('answer to first')),
        { ...user('t3', 'claude', 'third'), turnStatus: 'failed', turnError: 'the model API failed: overloaded' },
        { ...reply('t3', 'claude', { type: 'error', message: 'overloaded' }), turnStatus: 'failed', turnError: 'the model API failed: overloaded' },
        reply('t0', 'claude', text('late reply')),
      ],
    });
    assert.equal(
      told(prompt),
      [
        'User (to claude): first\nclaude: answer to first',
        'User (to claude-acp): second\n(claude-acp has not finished this turn yet)',
        'User (to claude): third\nclaude:   [error: overloaded]\n(this turn failed: the model API failed: overloaded)',
        'claude (replying to an earlier message): late reply',
      ].join('\n\n'),
    );
  });

  it('sums tool calls up in a line each, with how they ended, and leaves thinking and permission cards out', () => {
    const prompt = handoverPrompt({
      kind: 'joining',
      agent: 'codex',
      text: 'x',
      history: [
        user('t1', 'claude', 'run the tests'),
        reply(
          't1',
          'claude',
          { type: 'thinking', text: 'SECRET THOUGHTS' },
          { type: 'tool_call', id: 'a', name: 'Bash', input: { command: 'npm test', description: 'run tests' } },
          { type: 'tool_result', id: 'a', output: 'FAIL parser.test.ts\nexpected 1', isError: true },
          { type: 'tool_call', id: 'b', name: 'Edit', input: { file_path: 'src/parser.ts', old_string: 'a', new_string: 'b' }, title: 'Edit src/parser.ts' },
          { type: 'tool_result', id: 'b', output: 'ok', isError: false },
          { type: 'tool_call', id: 'c', name: 'Mystery', input: { n: 1 } },
          { type: 'permission', requestId: 'r', kind: 'tool', toolCallId: 'b', tool: 'Edit', input: {}, options: [] } as unknown as StoredPart,
          text('Fixed.'),
        ),
      ],
    });
    assert.doesNotMatch(prompt, /SECRET THOUGHTS/);
    assert.equal(
      told(prompt),
      [
        'User (to claude): run the tests',
        'claude:   [used Bash: npm test → error: FAIL parser.test.ts expected 1]',
        '  [used Edit src/parser.ts → done]',
        '  [used Mystery {"n":1}]',
        'Fixed.',
      ].join('\n'),
    );
  });

  it('keeps the most recent part within its bound and says that earlier parts are left out', () => {
    const history: HistoryMessage[] = [];
    for (let i = 0; i < 200; i++) history.push(user(`t${i}`, 'claude', `question ${i} ${'q'.repeat(100)}`), reply(`t${i}`, 'claude', text(`answer ${i} ${'a'.repeat(200)}`)));
    const prompt = handoverPrompt({ kind: 'joining', agent: 'codex', text: 'the newest words', history });
    const body = told(prompt);
    assert.ok(body.length <= HANDOVER_LIMITS.maxChars + 100, `the told history is bounded: ${body.length}`);
    assert.ok(prompt.length < HANDOVER_LIMITS.maxChars + 1_000, `the whole prefix is bounded: ${prompt.length}`);
    assert.match(body, /^\[(\d+) earlier exchanges are left out for length\.\]/);
    const dropped = Number(/^\[(\d+)/.exec(body)![1]);
    const counted = handover({ kind: 'joining', agent: 'codex', text: 'the newest words', history });
    assert.deepEqual({ told: counted.told, leftOut: counted.leftOut }, { told: 200 - dropped, leftOut: true }, 'it says how many exchanges it tells');
    assert.match(body, /answer 199 a+$/, 'the newest exchange is kept, whole');
    assert.doesNotMatch(body, /question 0 /, 'the oldest went first');
    assert.ok(body.includes(`question ${dropped} `) && !body.includes(`question ${dropped - 1} `), 'exactly the oldest ones went');
    assert.ok(prompt.endsWith('the newest words'));
  });

  it('cuts one long message, a reply with many tool calls, and says so; older unread messages are mentioned', () => {
    const calls: StoredPart[] = [];
    for (let i = 0; i < 50; i++) calls.push({ type: 'tool_call', id: `c${i}`, name: 'Read', input: { file_path: `f${i}.ts` } });
    const prompt = handoverPrompt({
      kind: 'meanwhile',
      agent: 'claude',
      text: 'x',
      older: true,
      history: [user('t1', 'codex', 'z'.repeat(10_000)), reply('t1', 'codex', ...calls, text('done'))],
    });
    const body = told(prompt);
    assert.match(body, /^\[Earlier parts of the conversation are left out for length\.\]/);
    assert.match(body, new RegExp(`User \\(to codex\\): z{${HANDOVER_LIMITS.maxMessageChars}} \\[…6000 more characters left out\\]`));
    assert.equal(body.match(/\[used Read/g)?.length, HANDOVER_LIMITS.maxToolCalls);
    assert.match(body, /\[and 30 more tool calls\]\ndone$/);
  });

  it('bounds one turn however many parts it has', () => {
    const parts: StoredPart[] = [];
    for (let i = 0; i < 500; i++) parts.push(text(`paragraph ${i} ${'p'.repeat(300)}`));
    const prompt = handoverPrompt({ kind: 'joining', agent: 'codex', text: 'x', history: [user('t1', 'claude', 'go'), reply('t1', 'claude', ...parts)] });
    const body = told(prompt);
    assert.ok(body.length <= HANDOVER_LIMITS.maxTurnChars + 60, `${body.length}`);
    assert.match(body, /more characters left out\]$/);
  });
});
