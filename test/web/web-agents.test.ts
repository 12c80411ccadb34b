// The composer's agent picker in headless Chromium against a real server: a chat hands a
// message from claude (SDK) to claude-acp (warm ACP) and back, each reply says which
// agent wrote it, and the next agent hears what the other said.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lastUserText, type FakeModelServer } from '../fixtures/fake-anthropic.js';
import { LIMIT, WebSession, send, turns, waitForStatus } from './web-session.js';

let web: WebSession;
let fake: FakeModelServer;

before(async () => {
  web = await WebSession.start('web-agents');
  ({ fake } = web);
});

after(async () => {
  await web?.close();
});

describe('the agent picker', () => {
  it('sends each message to the agent picked, shows who replied, and the next agent is told the conversation', LIMIT, async () => {
    const page = await web.signedIn();
    await web.newChat(page);
    const composer = page.locator('.composer');
    const picker = composer.getByLabel('Agent', { exact: true });
    await picker.locator('option', { hasText: 'claude-acp' }).waitFor({ state: 'attached' });
    const installed = web.server.runtime.registry.list().map((a) => a.agent);
    assert.deepEqual(await picker.locator('option').allInnerTexts(), installed, 'the installed agents are offered');
    assert.equal(await picker.inputValue(), 'claude', "the chat's own agent comes first");
    assert.equal(await page.getByLabel('Path', { exact: true }).count(), 1, "claude's two backends can be picked");

    fake.enqueue({ kind: 'text', chunks: ['CLAUDE-WEB-ONE wrote the plan.'] });
    await send(page, 'Draft a plan');
    await waitForStatus(page, 0, 'done');
    assert.equal(await turns(page).nth(0).getByTestId('turn-agent').count(), 0, 'a chat of one agent does not name it on each reply');

    await picker.selectOption('claude-acp');
    assert.equal(await page.getByLabel('Path', { exact: true }).count(), 0, 'claude-acp has one backend: nothing to pick');
    const before = fake.mainRequests().length;
    fake.enqueue({ kind: 'text', chunks: ['ACP-WEB-TWO reviewed it.'] });
    await send(page, 'Review the plan');
    await waitForStatus(page, 1, 'done');
    const asked = lastUserText(fake.mainRequests()[before]!);
    assert.match(asked, /joining a conversation in progress/);
    assert.match(asked, /User \(to claude\): Draft a plan\nclaude: CLAUDE-WEB-ONE wrote the plan\./);
    assert.match(asked, /Now the user says to you:\n\nReview the plan$/);
    assert.deepEqual(await page.getByTestId('turn-agent').allInnerTexts(), ['claude', 'claude-acp']);
    assert.equal(await page.getByTestId('chat-agents').innerText(), 'claude + claude-acp', 'the header names the agents the chat talks to');
    assert.match(await turns(page).nth(1).getByTestId('turn-status').innerText(), /^done · claude-acp · ACP/);
    assert.equal(await turns(page).nth(1).getByTestId('user-message').innerText(), 'Review the plan', 'the message shows as written');
    await turns(page).nth(1).getByText('claude-acp was told the conversation so far (1 exchange)').waitFor();
    await web.screenshot(page, 'two-agents');

    // After a reload the picker stays with the agent last spoken to; the way back works too.
    await page.reload();
    await waitForStatus(page, 1, 'done');
    await page.getByTestId('turn-agent').nth(1).waitFor();
    assert.equal(await composer.getByLabel('Agent', { exact: true }).inputValue(), 'claude-acp');
    await composer.getByLabel('Agent', { exact: true }).selectOption('claude');
    const back = fake.mainRequests().length;
    fake.enqueue({ kind: 'text', chunks: ['CLAUDE-WEB-THREE done.'] });
    await send(page, 'Go ahead');
    await waitForStatus(page, 2, 'done');
    const told = lastUserText(fake.mainRequests()[back]!);
    assert.match(told, /Meanwhile, in this chat/);
    assert.match(told, /claude-acp: ACP-WEB-TWO reviewed it\./);
    assert.doesNotMatch(told, /CLAUDE-WEB-ONE/);
    assert.deepEqual(await page.getByTestId('turn-agent').allInnerTexts(), ['claude', 'claude-acp', 'claude']);
    await web.screenshot(page, 'and-back');
    await page.close();
  });
});
