import type { PermissionRuleView } from '../../api/permissions.js';
import type { HearthApi } from '../api-client.js';
import { resolveChatId } from '../chat-ref.js';
import { findByPrefix } from '../id-prefix.js';
import { oneLine, printable, table } from '../render.js';

/** Lists a chat's standing answers: what its agents may do without asking. */
export async function listRules(api: HearthApi, chatRef: string, options: { json: boolean }): Promise<number> {
  const chatId = await resolveChatId(api, chatRef);
  const list = await api.permissionRules(chatId);
  if (options.json) {
    process.stdout.write(JSON.stringify(list) + '\n');
    return 0;
  }
  if (list.rules.length === 0) {
    process.stdout.write('no rules: the agent asks each time (an "always" answer makes one)\n');
    return 0;
  }
  const rows = list.rules.map((r) => [r.ruleId.slice(0, 8), r.agent, r.tool, allows(r), r.createdAt.slice(0, 16).replace('T', ' ')]);
  process.stdout.write(table([['RULE', 'AGENT', 'TOOL', 'ALLOWS', 'SINCE'], ...rows]) + '\n');
  return 0;
}

/** Removes a rule (by its id or a unique prefix): its tool is asked about again. */
export async function removeRule(api: HearthApi, chatRef: string, ruleRef: string, options: { json: boolean }): Promise<number> {
  const chatId = await resolveChatId(api, chatRef);
  const { rules } = await api.permissionRules(chatId);
  const rule = findByPrefix(rules, (r) => r.ruleId, ruleRef, `rule of chat ${chatId}`);
  await api.deletePermissionRule(chatId, rule.ruleId);
  if (options.json) process.stdout.write(JSON.stringify({ ruleId: rule.ruleId, deleted: true }) + '\n');
  else process.stdout.write(`removed rule ${printable(rule.ruleId)}: ${printable(rule.tool)} ${allows(rule)} is asked about again\n`);
  return 0;
}

/** `every use`, or the commands a command rule lets through: `npm test …` */
function allows(rule: PermissionRuleView): string {
  return rule.prefix === null ? 'every use' : `${oneLine(rule.prefix, 60)} …`;
}
