// How the CLI shows a permission request and its outcome, and reads a person's answer to a question.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PermissionOption } from '../../src/api/events.js';
import type { PermissionQuestion } from '../../src/api/permissions.js';
import type { StoredMessage } from '../../src/api/views.js';
import { renderHistory } from '../../src/cli/commands/log.js';
import { answerCommands, outcomeLine, requestHeadline, requestLines, type RequestShown } from '../../src/cli/permission-lines.js';
import { answerFor, answerHint } from '../../src/cli/question-answers.js';
import { styleFor } from '../../src/cli/render.js';

const plain = styleFor({ isTTY: false });
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
const OPTIONS: PermissionOption[] = [
  { id: 'allow_once', kind: 'allow_once', label: 'Allow once' },
  { id: 'allow_always', kind: 'allow_always', label: 'Always allow' },
  { id: 'reject_once', kind: 'reject_once', label: 'Deny' },
];
const question = (q: Partial<PermissionQuestion> = {}): PermissionQuestion => ({
  question: 'Which colour?',
  choices: [{ label: 'red' }, { label: 'teal' }, { label: 'ochre' }],
  multiSelect: false,
  freeText: true,
  ...q,
});

describe('answerFor', () => {
  it("takes a choice's number, several where the question takes several, and words of one's own where it takes them", () => {
    assert.equal(answerFor(question(), '2'), 'teal');
    assert.equal(answerFor(question(), ' 3 '), 'ochre');
    assert.equal(answerFor(question(), 'a deep blue'), 'a deep blue');
    assert.equal(answerFor(question(), '7'), '7', 'a number that is no choice is words of its own');
    assert.equal(answerFor(question(), '1,3'), '1,3', 'one choice only: several numbers are words');
    assert.equal(answerFor(question({ multiSelect: true }), '1, 3'), 'red, ochre');
    assert.equal(answerFor(question({ multiSelect: true }), '3 1 3'), 'ochre, red');
    assert.equal(answerFor(question(), ''), null);
    assert.equal(answerFor(question(), '   '), null);
    assert.equal(answerFor(question({ freeText: false }), 'a deep blue'), null);
    assert.equal(answerFor(question({ freeText: false }), '4'), null);
    assert.equal(answerFor(question({ freeText: false }), '1'), 'red');
  });

  it('says what it takes', () => {
    assert.equal(answerHint(question()), 'give a number from 1 to 3, or an answer in your own words');
    assert.equal(answerHint(question({ freeText: false, multiSelect: true })), 'give numbers from 1 to 3, separated by commas');
    assert.equal(answerHint(question({ choices: [] })), 'give an answer');
  });
});

describe('a permission request as the CLI shows it', () => {
  const write: RequestShown = {
    kind: 'permission',
    tool: 'Write',
    input: { file_path: '/w/notes.md', content: 'one\ntwo\n' },
    options: OPTIONS,
    details: { title: 'notes.md', toolKind: 'edit', diffs: [{ path: '/w/notes.md', oldText: null, newText: 'one\ntwo\n' }] },
  };

  it('shows a tool use by its title with its change, a command with where it runs, questions with numbered choices, a plan with its text', () => {
    assert.deepEqual(requestLines(write, plain), ['? Allow Write(notes.md)?', '  + one', '  + two']);
    assert.deepEqual(requestLines(write, plain, true), ['? Allow Write(notes.md)?'], 'a change shown just above is not repeated');
    const bash: RequestShown = { kind: 'permission', tool: 'Bash', input: { command: 'make test' }, options: OPTIONS, details: { title: 'make test', command: 'make test', cwd: '/w' } };
    assert.deepEqual(requestLines(bash, plain), ['? Allow Bash(make test)?', '  in /w']);
    const two: RequestShown = {
      kind: 'question',
      tool: 'AskUserQuestion',
      input: {},
      options: OPTIONS,
      questions: [question({ header: 'Colour', choices: [{ label: 'red', description: 'warm' }] }), question({ question: 'Why?', choices: [] })],
    };
    assert.deepEqual(requestLines(two, plain), [
      '? The agent asks 2 questions',
      '  1. Colour: Which colour?',
      '     1) red — warm',
      '     (or an answer in your own words)',
      '  2. Why?',
    ]);
    const plan: RequestShown = { kind: 'plan', tool: 'ExitPlanMode', input: {}, options: OPTIONS, plan: '# Plan\n1. one\n' };
    assert.deepEqual(requestLines(plan, plain), ['? Approve the plan and start?', '  Plan:', '    # Plan', '    1. one']);
  });

  it('says how each ended', () => {
    const ended = (kind: RequestShown['kind'], outcome: Parameters<typeof outcomeLine>[1]) => outcomeLine({ kind, options: OPTIONS }, outcome, plain);
    assert.equal(ended('permission', { outcome: 'allowed', optionId: 'allow_once' }), '✓ allowed once');
    assert.equal(ended('permission', { outcome: 'allowed', optionId: 'allow_always' }), '✓ always allowed, a rule of this chat now');
    assert.equal(ended('permission', { outcome: 'denied', optionId: 'reject_once', message: 'not there' }), '✗ denied: not there');
    assert.equal(ended('plan', { outcome: 'allowed', optionId: 'allow_once' }), '✓ plan approved');
    assert.equal(ended('plan', { outcome: 'denied', message: 'smaller' }), '✗ plan not approved, the agent keeps planning: smaller');
    assert.equal(ended('question', { outcome: 'answered', answers: { 'Which colour?': 'teal' } }), '✓ answered: Which colour? → teal');
    assert.equal(ended('question', { outcome: 'denied' }), '✗ declined to answer');
    assert.equal(ended('permission', { outcome: 'timed_out', message: 'nobody answered within 300 s' }), '· timed out: nobody answered within 300 s');
    assert.equal(ended('permission', { outcome: 'expired' }), '· expired');
  });

  it('gives the commands that answer it, "always" only where it is offered', () => {
    assert.deepEqual(answerCommands('c', 'r', write), ['hearth allow c r [--always]', 'hearth deny c r [--message "why, or what to do instead"]']);
    const once = { ...write, options: OPTIONS.filter((o) => o.kind !== 'allow_always') };
    assert.equal(answerCommands('c', 'r', once)[0], 'hearth allow c r');
    assert.equal(answerCommands('c', 'r', { kind: 'question', tool: 'AskUserQuestion', input: {}, options: OPTIONS, questions: [question(), question()] })[0], 'hearth allow c r --answer "…" --answer "…"');
  });

  it("keeps the agent's escape sequences from the terminal", () => {
    const evil = '\u001b]0;pwned\u0007\u001b[2J';
    const request: RequestShown = {
      kind: 'question',
      tool: `Ask${evil}`,
      input: {},
      options: OPTIONS,
      questions: [question({ question: `Which${evil}?`, header: `H${evil}`, choices: [{ label: `red${evil}`, description: `warm${evil}` }] })],
      details: { diffs: [{ path: 'x', oldText: null, newText: `line${evil}` }], cwd: `/w${evil}` },
    };
    const lines = [
      ...requestLines(request, plain),
      ...requestLines({ ...request, kind: 'permission' }, plain),
      ...requestLines({ ...request, kind: 'plan', plan: `step${evil}\n` }, plain),
      outcomeLine(request, { outcome: 'answered', answers: { [`Which${evil}?`]: `teal${evil}` }, message: `m${evil}` }, plain),
      ...answerCommands(`c${evil}`, `r${evil}`, request),
    ];
    for (const line of lines) assert.doesNotMatch(line, CONTROL, JSON.stringify(line));
    assert.equal(requestHeadline(request), '? The agent asks: Which?');
  });
});

describe('hearth log', () => {
  it('shows each request of a turn and how it ended, or that it still waits', () => {
    const messages: StoredMessage[] = [
      { id: 'm1', role: 'user', agent: 'claude', turnId: 't', parts: [{ type: 'text', text: 'write it' }], createdAt: '', turnStatus: 'succeeded', turnError: null },
      {
        id: 'm2',
        role: 'assistant',
        agent: 'claude',
        turnId: 't',
        createdAt: '',
        turnStatus: 'succeeded',
        turnError: null,
        parts: [
          { type: 'tool_call', id: 'call', name: 'Write', input: { file_path: '/w/a.txt' }, title: 'a.txt' },
          { type: 'permission', requestId: 'r1', kind: 'permission', tool: 'Write', toolCallId: 'call', input: {}, options: OPTIONS, details: { title: 'a.txt' }, createdAt: '', outcome: 'denied', optionId: 'reject_once', message: 'not \u001b[2Jthere' },
          { type: 'permission', requestId: 'r2', kind: 'plan', tool: 'ExitPlanMode', toolCallId: null, input: {}, options: OPTIONS, createdAt: '' },
          { type: 'text', text: 'fine' },
        ],
      },
    ];
    assert.equal(
      renderHistory(messages, plain),
      '❯ write it\n⏺ Write(a.txt)\n? Allow Write(a.txt)?\n  ✗ denied: not there\n? Approve the plan and start?\n  · waiting for an answer\nfine\n',
    );
  });
});
