// Claude Code's permission requests as Hearth asks them, and Hearth's answers as Claude Code takes them.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { claudeAsk, claudeResult } from '../../src/agents/claude/claude-permissions.js';
import type { PermissionDecision } from '../../src/agents/contract/driver.js';

const at = { toolUseId: 'toolu_1', cwd: '/w' };
const bashRule = (ruleContent: string) => ({ type: 'addRules', behavior: 'allow', destination: 'localSettings', rules: [{ toolName: 'Bash', ruleContent }] });
const chosen = (kind: 'allow_once' | 'allow_always' | 'reject_once', more: Partial<Extract<PermissionDecision, { outcome: 'selected' }>> = {}): PermissionDecision => ({
  outcome: 'selected',
  optionId: kind,
  kind,
  ...more,
});

describe('claudeAsk', () => {
  it('asks leave for an edit with its diff, and offers a standing answer for the tool', () => {
    const input = { file_path: '/w/src/a.ts', old_string: 'one', new_string: 'two' };
    assert.deepEqual(claudeAsk('Edit', input, at), {
      kind: 'permission',
      toolCallId: 'toolu_1',
      tool: 'Edit',
      input,
      options: [
        { id: 'allow_once', kind: 'allow_once', label: 'Allow once' },
        { id: 'allow_always', kind: 'allow_always', label: 'Always allow' },
        { id: 'reject_once', kind: 'reject_once', label: 'Deny' },
      ],
      details: { title: 'src/a.ts', toolKind: 'edit', diffs: [{ path: '/w/src/a.ts', oldText: 'one', newText: 'two' }] },
      rule: { tool: 'Edit', prefix: null },
    });
  });

  it("shows a new file's whole content as its diff", () => {
    const ask = claudeAsk('Write', { file_path: '/w/new.txt', content: 'hello\n' }, at);
    assert.deepEqual(ask.details?.diffs, [{ path: '/w/new.txt', oldText: null, newText: 'hello\n' }]);
  });

  it('shows each edit of a MultiEdit', () => {
    const ask = claudeAsk('MultiEdit', { file_path: '/w/a', edits: [{ old_string: 'a', new_string: 'b' }, { old_string: 'c', new_string: 'd' }] }, at);
    assert.equal(ask.details?.diffs?.length, 2);
  });

  it('asks for a command with the command, where it runs, and the prefix Claude Code suggests', () => {
    const input = { command: 'npm test -- --grep parser', description: 'run the tests' };
    const ask = claudeAsk('Bash', input, { ...at, suggestions: [bashRule('npm test:*')] });
    assert.deepEqual(ask.details, { title: 'npm test -- --grep parser', toolKind: 'execute', command: 'npm test -- --grep parser', cwd: '/w' });
    assert.deepEqual(ask.rule, { tool: 'Bash', prefix: 'npm test' });
    assert.equal(ask.subject, 'npm test -- --grep parser');
    assert.deepEqual(ask.options.map((o) => o.kind), ['allow_once', 'allow_always', 'reject_once']);
  });

  it("reads a suggestion written with a trailing space and star as well as Claude Code's older :*", () => {
    const ask = claudeAsk('Bash', { command: 'git log --oneline' }, { ...at, suggestions: [bashRule('git log *')] });
    assert.deepEqual(ask.rule, { tool: 'Bash', prefix: 'git log' });
  });

  it('allows always only the exact command when Claude Code suggests no prefix of it', () => {
    const cases: Array<[string, unknown[] | undefined]> = [
      ['git push --force origin main', undefined],
      ['git push --force origin main', []],
      // Suggestions that are not a rule to add, or not for this tool, say nothing of the command.
      ['git push --force origin main', [{ type: 'setMode', mode: 'acceptEdits', destination: 'session' }]],
      ['git push --force origin main', [{ type: 'addRules', behavior: 'allow', destination: 'session', rules: [{ toolName: 'Read' }] }]],
      ['git push --force origin main', [{ type: 'addRules', behavior: 'deny', destination: 'session', rules: [{ toolName: 'Bash', ruleContent: 'git:*' }] }]],
      // A wildcard inside the rule is no prefix.
      ['git push --force origin main', [bashRule('git * main:*')]],
      // A suggested prefix that does not start this command, or only starts its first word.
      ['git push --force origin main', [bashRule('npm test:*')]],
      ['npm testing', [bashRule('npm test:*')]],
      // A chain of commands gets a rule for each: no one prefix fits.
      ['npm test && npm run lint', [{ ...bashRule('npm test:*'), rules: [{ toolName: 'Bash', ruleContent: 'npm test:*' }, { toolName: 'Bash', ruleContent: 'npm run lint:*' }] }]],
    ];
    for (const [command, suggestions] of cases) {
      const ask = claudeAsk('Bash', { command }, { ...at, ...(suggestions ? { suggestions } : {}) });
      assert.deepEqual(ask.rule, { tool: 'Bash', prefix: command }, JSON.stringify(suggestions));
    }
  });

  it('offers no standing answer where Claude Code says one would allow too much, or there is no command', () => {
    for (const ask of [
      claudeAsk('Bash', { command: 'rm -rf build' }, { ...at, suggestions: [bashRule('rm:*')], suppressAlwaysAllowRule: true }),
      claudeAsk('Write', { file_path: '/w/a', content: '' }, { ...at, suppressAlwaysAllowRule: true }),
      claudeAsk('Bash', { description: 'no command' }, at),
    ]) {
      assert.equal(ask.rule, undefined);
      assert.deepEqual(ask.options.map((o) => o.kind), ['allow_once', 'reject_once']);
    }
  });

  it('asks the questions of an AskUserQuestion, with their choices, and a free answer besides', () => {
    const input = {
      questions: [
        {
          question: 'Which library?',
          header: 'Library',
          options: [
            { label: 'date-fns', description: 'small, modular' },
            { label: 'luxon', description: '' },
          ],
          multiSelect: false,
        },
        { question: 'Which checks?', header: 'Checks', options: [{ label: 'lint' }, { label: 'types' }], multiSelect: true },
        { header: 'no question text', options: [] },
      ],
    };
    assert.deepEqual(claudeAsk('AskUserQuestion', input, at), {
      kind: 'question',
      toolCallId: 'toolu_1',
      tool: 'AskUserQuestion',
      input,
      options: [
        { id: 'allow_once', kind: 'allow_once', label: 'Answer' },
        { id: 'reject_once', kind: 'reject_once', label: 'Decline' },
      ],
      questions: [
        { question: 'Which library?', header: 'Library', choices: [{ label: 'date-fns', description: 'small, modular' }, { label: 'luxon' }], multiSelect: false, freeText: true },
        { question: 'Which checks?', header: 'Checks', choices: [{ label: 'lint' }, { label: 'types' }], multiSelect: true, freeText: true },
      ],
    });
  });

  it('asks approval of the plan an ExitPlanMode proposes', () => {
    const ask = claudeAsk('ExitPlanMode', { plan: '1. read\n2. write' }, at);
    assert.equal(ask.kind, 'plan');
    assert.equal(ask.plan, '1. read\n2. write');
    assert.deepEqual(ask.options, [
      { id: 'allow_once', kind: 'allow_once', label: 'Approve' },
      { id: 'reject_once', kind: 'reject_once', label: 'Keep planning' },
    ]);
    assert.equal(ask.rule, undefined);
    assert.equal(claudeAsk('ExitPlanMode', {}, at).plan, undefined);
  });

  it('takes input that is not an object without failing', () => {
    for (const tool of ['Bash', 'Write', 'AskUserQuestion', 'ExitPlanMode', 'mcp__x__y']) {
      const ask = claudeAsk(tool, null, { toolUseId: null });
      assert.equal(ask.tool, tool);
      assert.equal(ask.toolCallId, null);
    }
    assert.deepEqual(claudeAsk('AskUserQuestion', { questions: 'what?' }, at).questions, []);
  });
});

describe('claudeResult', () => {
  const write = { file_path: '/w/a', content: 'x' };
  const writeAsk = claudeAsk('Write', write, at);

  it('allows with the input as it was, once or always', () => {
    assert.deepEqual(claudeResult(writeAsk, write, chosen('allow_once')), { behavior: 'allow', updatedInput: write });
    assert.deepEqual(claudeResult(writeAsk, write, chosen('allow_always', { byRule: 'rule-1' })), { behavior: 'allow', updatedInput: write });
  });

  it("denies with the person's words, or a clear default, and lets the agent go on", () => {
    const denied = claudeResult(writeAsk, write, chosen('reject_once', { message: 'not in that directory' }));
    assert.deepEqual(denied, { behavior: 'deny', message: 'The user denied this tool use and said: not in that directory' });
    const plain = claudeResult(writeAsk, write, chosen('reject_once', { message: '  ' }));
    assert.ok(plain.behavior === 'deny' && /^The user denied this tool use\./.test(plain.message) && !('interrupt' in plain));
  });

  it('stops the agent when the request is cancelled', () => {
    assert.deepEqual(claudeResult(writeAsk, write, { outcome: 'cancelled', message: 'the turn was stopped' }), {
      behavior: 'deny',
      message: 'the turn was stopped',
      interrupt: true,
    });
  });

  it('gives a question its answers, keyed by question text, as Claude Code reads them', () => {
    const input = { questions: [{ question: 'Which library?', header: 'Library', options: [{ label: 'a' }, { label: 'b' }], multiSelect: false }] };
    const ask = claudeAsk('AskUserQuestion', input, at);
    const result = claudeResult(ask, input, chosen('allow_once', { answers: { 'Which library?': 'b', 'Not asked?': 'x' } }));
    assert.deepEqual(result, { behavior: 'allow', updatedInput: { ...input, answers: { 'Which library?': 'b' } } });
    const declined = claudeResult(ask, input, chosen('reject_once'));
    assert.ok(declined.behavior === 'deny' && /declined to answer/.test(declined.message));
  });

  it('tells the agent to keep planning when its plan is not approved, with the note', () => {
    const input = { plan: 'do it all' };
    const ask = claudeAsk('ExitPlanMode', input, at);
    assert.deepEqual(claudeResult(ask, input, chosen('allow_once')), { behavior: 'allow', updatedInput: input });
    const kept = claudeResult(ask, input, chosen('reject_once', { message: 'split it in two' }));
    assert.deepEqual(kept, { behavior: 'deny', message: 'The user did not approve the plan and wants you to keep planning. Their note: split it in two' });
    const plain = claudeResult(ask, input, chosen('reject_once'));
    assert.ok(plain.behavior === 'deny' && /Keep planning/.test(plain.message));
  });
});
