// What Claude Code's tool calls tell about themselves, from their names and inputs.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { claudeToolDetails, claudeToolPlan } from '../../src/agents/claude/claude-tools.js';

describe('claudeToolDetails', () => {
  it('titles each tool by what it is about, and says its kind', () => {
    const cases: Array<[string, unknown, string | undefined, string]> = [
      ['Bash', { command: 'npm test', description: 'run the tests' }, 'npm test', 'execute'],
      ['Read', { file_path: '/w/src/a.ts' }, 'src/a.ts', 'read'],
      ['Write', { file_path: '/elsewhere/a.ts', content: '' }, '/elsewhere/a.ts', 'edit'],
      ['Grep', { pattern: 'TODO', path: '/w/src' }, 'TODO in src', 'search'],
      ['Glob', { pattern: '**/*.ts' }, '**/*.ts', 'search'],
      ['WebFetch', { url: 'https://example.com', prompt: 'p' }, 'https://example.com', 'fetch'],
      ['WebSearch', { query: 'node 20' }, 'node 20', 'fetch'],
      ['Task', { description: 'look around', prompt: 'p' }, 'look around', 'think'],
      ['TodoWrite', { todos: [] }, 'Update the plan', 'think'],
      ['ExitPlanMode', { plan: 'x' }, 'Ready to code?', 'switch_mode'],
      ['mcp__github__create_issue', {}, 'github: create_issue', 'other'],
      ['SomethingNew', { x: 1 }, undefined, 'other'],
    ];
    for (const [name, input, title, kind] of cases) {
      const d = claudeToolDetails(name, input, '/w');
      assert.equal(d.title, title, name);
      assert.equal(d.toolKind, kind, name);
    }
  });

  it('locates a Read at its starting line', () => {
    assert.deepEqual(claudeToolDetails('Read', { file_path: '/w/a.ts', offset: 40, limit: 10 }).locations, [{ path: '/w/a.ts', line: 40 }]);
    assert.deepEqual(claudeToolDetails('Read', { file_path: '/w/a.ts', offset: 'x' }).locations, [{ path: '/w/a.ts' }]);
  });

  it('gives the diffs of Write, Edit, MultiEdit and an inserted notebook cell', () => {
    assert.deepEqual(claudeToolDetails('Write', { file_path: '/w/n.txt', content: 'hi\n' }).diffs, [{ path: '/w/n.txt', oldText: null, newText: 'hi\n' }]);
    assert.deepEqual(claudeToolDetails('Edit', { file_path: '/w/n.txt', old_string: 'a', new_string: 'b', replace_all: true }).diffs, [
      { path: '/w/n.txt', oldText: 'a', newText: 'b' },
    ]);
    assert.deepEqual(
      claudeToolDetails('MultiEdit', {
        file_path: '/w/n.txt',
        edits: [
          { old_string: 'a', new_string: 'b' },
          { old_string: 'c' },
          { old_string: 'd', new_string: '' },
        ],
      }).diffs,
      [
        { path: '/w/n.txt', oldText: 'a', newText: 'b' },
        { path: '/w/n.txt', oldText: 'd', newText: '' },
      ],
    );
    assert.deepEqual(claudeToolDetails('NotebookEdit', { notebook_path: '/w/a.ipynb', new_source: 'print(1)', edit_mode: 'insert' }).diffs, [
      { path: '/w/a.ipynb', oldText: '', newText: 'print(1)' },
    ]);
    const replaced = claudeToolDetails('NotebookEdit', { notebook_path: '/w/a.ipynb', new_source: 'print(2)' });
    assert.equal(replaced.diffs, undefined, 'the replaced cell is not in the input');
    assert.deepEqual(replaced.locations, [{ path: '/w/a.ipynb' }]);
  });

  it('tells nothing it cannot read from an input the model got wrong', () => {
    assert.deepEqual(claudeToolDetails('Edit', null), { toolKind: 'edit' });
    assert.deepEqual(claudeToolDetails('Write', { file_path: 3, content: 'x' }), { toolKind: 'edit' });
    assert.deepEqual(claudeToolDetails('Bash', ['ls']), { toolKind: 'execute' });
  });
});

describe('claudeToolPlan', () => {
  it("reads TodoWrite's todos as plan entries, a status it does not know as pending", () => {
    assert.deepEqual(
      claudeToolPlan('TodoWrite', {
        todos: [
          { content: 'one', status: 'completed', activeForm: 'doing one' },
          { content: 'two', status: 'in_progress', priority: 'high' },
          { content: 'three', status: 'blocked' },
          { status: 'pending' },
        ],
      }),
      {
        entries: [
          { content: 'one', status: 'completed' },
          { content: 'two', status: 'in_progress', priority: 'high' },
          { content: 'three', status: 'pending' },
        ],
      },
    );
    assert.deepEqual(claudeToolPlan('TodoWrite', {}), { entries: [] });
  });

  it("reads ExitPlanMode's written plan, and finds no plan in other tools", () => {
    assert.deepEqual(claudeToolPlan('ExitPlanMode', { plan: '# Plan' }), { entries: [], text: '# Plan' });
    assert.equal(claudeToolPlan('ExitPlanMode', {}), null);
    assert.equal(claudeToolPlan('Bash', { command: 'ls' }), null);
  });
});
