// What the agent does to files and its plan, as the web UI shows them: headless Chromium
// against a real server, the real Claude Code binary and the fake model, which has Claude
// write a file, edit it and set out its plan.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChatView } from '../../src/api/views.js';
import { LIMIT, TOKEN, WebSession, send, turns, waitForStatus, watchPolicy } from './web-session.js';

let web: WebSession;

before(async () => {
  web = await WebSession.start('web-tools');
});

after(async () => {
  await web?.close();
});

describe('the web UI on edits and plans', () => {
  it('shows each call with its title and status, the diffs of a write and an edit, and the plan as a checklist, live and after a reload', LIMIT, async () => {
    const page = await web.signedIn();
    const problems = await watchPolicy(page);
    // Tools run without asking in this mode, as in the chats that run Bash.
    const chatId = await web.newChat(page, 'bypassPermissions');
    const res = await fetch(`${web.base}/api/chats/${chatId}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const chat = (await res.json()) as ChatView;
    assert.ok(chat.worktreePath, 'the chat has a worktree');
    const file = path.join(chat.worktreePath, 'notes.txt');
    const content = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';

    web.fake.enqueue(
      {
        kind: 'tool_use',
        name: 'TodoWrite',
        input: {
          todos: [
            { content: 'Write the notes', status: 'completed', activeForm: 'Writing the notes' },
            { content: 'Edit the notes', status: 'in_progress', activeForm: 'Editing the notes' },
            { content: 'Check the notes', status: 'pending', activeForm: 'Checking the notes' },
          ],
        },
        text: 'Planning.',
      },
      { kind: 'tool_use', name: 'Write', input: { file_path: file, content } },
      { kind: 'tool_use', name: 'Edit', input: { file_path: file, old_string: 'line 2\n', new_string: 'line two\nline 2b\n' } },
      { kind: 'text', chunks: ['Edited the notes.'] },
    );
    await send(page, 'write and edit the notes');
    await waitForStatus(page, 0, 'done');
    assert.match(await readFile(file, 'utf8'), /^line 1\nline two\nline 2b\nline 3\n/, 'the edit ran');

    const call = (name: string) => turns(page).nth(0).getByTestId('tool-call').filter({ has: page.locator('.tool-name', { hasText: new RegExp(`^${name}$`) }) });
    const check = async (when: string) => {
      const turn = turns(page).nth(0);
      const plan = turn.getByTestId('plan');
      assert.deepEqual(
        await plan.getByTestId('plan-entry').evaluateAll((els) => els.map((e) => [e.getAttribute('data-status'), e.textContent?.trim()])),
        [
          ['completed', '☑ Write the notes'],
          ['in_progress', '◐ Edit the notes'],
          ['pending', '☐ Check the notes'],
        ],
        when,
      );
      const write = call('Write');
      assert.match(await write.locator('summary').innerText(), /Write\s+notes\.txt\s+✓/, when);
      assert.equal(await write.getAttribute('data-status'), 'completed', when);
      // A new file's diff is all added; a long one is folded until asked for.
      const written = write.getByTestId('diff');
      assert.match(await written.locator('figcaption').innerText(), /notes\.txt new file\s+\+30 −0/, when);
      assert.equal(await written.locator('[data-op="added"]').count(), 12, `${when}: the long diff is folded`);
      assert.equal(await written.locator('[data-op="removed"]').count(), 0, when);

      const edit = call('Edit');
      assert.equal(await edit.getAttribute('data-status'), 'completed', when);
      const edited = edit.getByTestId('diff');
      assert.deepEqual(
        await edited.locator('.diff-line').evaluateAll((els) => els.map((e) => [e.getAttribute('data-op'), e.textContent?.slice(1)])),
        [
          ['removed', 'line 2'],
          ['added', 'line two'],
          ['added', 'line 2b'],
        ],
        when,
      );
      // Runs in the page, which has the DOM's globals this file is not typed with.
      const colors = await edited.locator('.diff-line').evaluateAll((els) => {
        const page = globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } };
        return els.map((e) => page.getComputedStyle(e).backgroundColor);
      });
      assert.notEqual(colors[0], colors[1], `${when}: removed and added lines differ in color`);

      // A call to a tool this Claude Code does not offer fails, and still states the plan.
      const todo = call('TodoWrite');
      assert.match(await todo.locator('summary').innerText(), /Update the plan/, when);
    };
    await check('live');
    await web.screenshot(page, 'edits-and-plan');

    const written = call('Write').getByTestId('diff');
    await written.getByRole('button', { name: /Show all/ }).click();
    assert.equal(await written.locator('[data-op="added"]').count(), 30);

    await page.reload();
    await waitForStatus(page, 0, 'done');
    await check('after a reload');
    assert.deepEqual(problems, []);
  });
});
