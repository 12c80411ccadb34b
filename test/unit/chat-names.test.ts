// The names a chat gets without being asked: its title from the first message, its
// branch from its title or repository. Every branch name must be one git accepts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { branchName, slug, titleFromMessage } from '../../src/runtime/chat-names.js';

const ID = '3f2a9c1e-7b4d-4e2f-9a1b-0c8d7e6f5a4b';
const gitAccepts = (branch: string) => {
  try {
    execFileSync('git', ['check-ref-format', '--branch', branch], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
};

describe('a title from the first message', () => {
  it('takes the first line with text, plain, and cuts a long one at a word', () => {
    assert.equal(titleFromMessage('Fix the login bug'), 'Fix the login bug');
    assert.equal(titleFromMessage('\n  \n  Add a test\tfor  parsing  \nand then more'), 'Add a test for parsing');
    assert.equal(titleFromMessage('beep\u0007 \u001b[31mred\u001b[0m'), 'beep [31mred [0m');
    const long = 'Rewrite the configuration loader so that every setting can come from the environment or a file';
    const title = titleFromMessage(long)!;
    assert.equal(title, 'Rewrite the configuration loader so that every setting can…');
    assert.ok([...title].length <= 61);
    assert.equal(titleFromMessage('x'.repeat(100)), `${'x'.repeat(60)}…`);
    assert.equal([...titleFromMessage('😀'.repeat(80))!].length, 61, 'cut by character, not by UTF-16 unit');
  });

  it('gives none for a message with no text', () => {
    assert.equal(titleFromMessage(''), null);
    assert.equal(titleFromMessage(' \n\t\r\n '), null);
  });
});

describe('branch names', () => {
  it('are hearth/<slug>-<short id>, the slug from the title or else the repository', () => {
    assert.equal(branchName(ID, 'Fix login', 'repo'), 'hearth/fix-login-3f2a9c1e');
    assert.equal(branchName(ID, null, 'My_Project.git'), 'hearth/my-project-git-3f2a9c1e');
    assert.equal(branchName(ID, 'Ünïcödé café', 'repo'), 'hearth/unicode-cafe-3f2a9c1e');
    assert.equal(branchName(ID, '日本語', 'repo'), 'hearth/repo-3f2a9c1e', 'a title that leaves no slug falls back to the repository');
    assert.equal(branchName(ID, '日本語', '日本'), `hearth/${ID}`, 'with neither, the whole id');
    assert.equal(slug('a'.repeat(29) + ' bcd'), 'a'.repeat(29), 'cut at 30 with no dash left at the end');
  });

  it('are accepted by git whatever the title', () => {
    const odd = ['', ' ', '..', '../../etc/passwd', '--force', '-', 'a/b.c..d', '.lock', 'x.lock', 'HEAD', '@', '@{u}', 'a~1^2:3?*[', 'back\\slash',
      'tab\there', 'nul\u0000byte', 'emoji 🎉 party', 'ﬁnal ǅ', 'Ⅻ roman', '-'.repeat(40), 'a-'.repeat(40), 'Z'.repeat(200), '/leading/slash/', 'trailing.'];
    for (const title of odd) {
      for (const repoDir of ['repo', '..', '.git', '日本']) {
        const branch = branchName(ID, title, repoDir);
        assert.match(branch, /^hearth\/(([a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{8})|[0-9a-f-]{36})$/, JSON.stringify(title));
        assert.ok(branch.length <= 'hearth/'.length + 30 + 9 || branch === `hearth/${ID}`, branch);
        assert.ok(gitAccepts(branch), `git refuses ${branch} (from ${JSON.stringify(title)})`);
      }
    }
  });
});
