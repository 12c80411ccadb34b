import type { PermissionAsk } from '../../agents/contract/driver.js';

/** A chat's standing answer, as matched: a tool, and for a command the prefix it allows ('' for every use). */
export interface Rule {
  id: string;
  tool: string;
  prefix: string;
}

/**
 * Whether a command does more than one thing: chains, pipes, substitutions, redirections,
 * several lines. A prefix rule never covers such a command, since `npm test; rm -rf ~`
 * starts with `npm test` too; it is asked about instead.
 */
export function chainsCommands(command: string): boolean {
  return /[;&|`$<>\n\r(){}]/.test(command);
}

/** The rule that answers a request without asking, if any: only permission requests, never questions or plans. */
export function matchingRule(rules: readonly Rule[], ask: PermissionAsk): Rule | null {
  if (ask.kind !== 'permission') return null;
  for (const rule of rules) {
    if (rule.tool !== ask.tool) continue;
    if (rule.prefix === '') return rule;
    const subject = ask.subject;
    if (subject === undefined || chainsCommands(subject)) continue;
    const command = subject.trim();
    // A prefix covers the command itself and the command with further words, not `npm testx`.
    if (command === rule.prefix || command.startsWith(`${rule.prefix} `)) return rule;
  }
  return null;
}
