import type { SessionConfigOption, SessionConfigSelectOption } from '@agentclientprotocol/sdk';

/** A value to set on one of the agent's configuration options. */
export interface ConfigChoice {
  configId: string;
  value: string;
}

/**
 * The agent's model option set to the chat's model, where the agent offers it among its
 * choices (by value, or by name regardless of case); null where it offers no model option
 * or not this model: the agent's own setting (its environment) then decides.
 */
export function modelChoice(model: string | null, options: readonly SessionConfigOption[] | null | undefined): ConfigChoice | null {
  if (!model) return null;
  const option = options?.find((o) => o.category === 'model' && o.type === 'select');
  if (!option || option.type !== 'select') return null;
  const wanted = model.toLowerCase();
  const choice = selectOptions(option.options).find((c) => c.value === model || c.name.toLowerCase() === wanted);
  return choice ? { configId: option.id, value: choice.value } : null;
}

/** Whether the option already has the value. */
export function isCurrent(choice: ConfigChoice, options: readonly SessionConfigOption[] | null | undefined): boolean {
  return options?.some((o) => o.id === choice.configId && o.currentValue === choice.value) ?? false;
}

function selectOptions(options: Extract<SessionConfigOption, { type: 'select' }>['options']): SessionConfigSelectOption[] {
  return options.flatMap((o) => ('group' in o ? o.options : [o]));
}
