/**
 * What Claude Code's tool calls say about themselves, read from their names and inputs:
 * a title, the kind of tool, the files it touches, the changes it makes, and the plan a
 * TodoWrite or ExitPlanMode call carries. Input comes from the model, so every field is
 * checked before it is used.
 */
import type { FileDiff, FileLocation, PlanEntry, ToolCallDetails, ToolKind } from '../../api/events.js';

type Input = Record<string, unknown>;

/** The plan a tool call states: its task list, or a written plan it proposes. */
export interface ClaudePlan {
  entries: PlanEntry[];
  text?: string;
}

/**
 * The details of a call of the tool `name` with `input`. Paths in the title are shown
 * relative to `cwd` when they lie inside it; locations and diffs keep them as given.
 */
export function claudeToolDetails(name: string, input: unknown, cwd?: string): ToolCallDetails {
  const i = isRecord(input) ? input : {};
  const shown = (p: string) => relativeTo(cwd, p);
  switch (name) {
    case 'Bash':
      return details(str(i.command) ?? str(i.description), 'execute');
    case 'BashOutput':
    case 'KillShell':
    case 'TaskStop':
    case 'Monitor':
      return details(str(i.shell_id) ?? str(i.task_id) ?? str(i.bash_id), 'execute');
    case 'Read': {
      const path = str(i.file_path);
      const line = positive(i.offset);
      return details(path && shown(path), 'read', path ? [location(path, line)] : undefined);
    }
    case 'Write': {
      const path = str(i.file_path);
      const content = str(i.content);
      return details(path && shown(path), 'edit', path ? [{ path }] : undefined, path && content !== undefined ? [{ path, oldText: null, newText: content }] : undefined);
    }
    case 'Edit': {
      const path = str(i.file_path);
      return details(path && shown(path), 'edit', path ? [{ path }] : undefined, path ? editDiffs(path, [i]) : undefined);
    }
    case 'MultiEdit': {
      const path = str(i.file_path);
      const edits = Array.isArray(i.edits) ? i.edits.filter(isRecord) : [];
      return details(path && shown(path), 'edit', path ? [{ path }] : undefined, path ? editDiffs(path, edits) : undefined);
    }
    case 'NotebookEdit': {
      const path = str(i.notebook_path);
      const source = str(i.new_source);
      // Only an inserted cell's change is known from the input: a replaced cell's old source is not in it.
      const diffs = path && source !== undefined && i.edit_mode === 'insert' ? [{ path, oldText: '', newText: source }] : undefined;
      return details(path && shown(path), 'edit', path ? [{ path }] : undefined, diffs);
    }
    case 'Glob':
    case 'Grep': {
      const pattern = str(i.pattern);
      const path = str(i.path);
      const title = pattern && (path ? `${pattern} in ${shown(path)}` : pattern);
      return details(title, 'search', path ? [{ path }] : undefined);
    }
    case 'LS': {
      const path = str(i.path);
      return details(path && shown(path), 'search', path ? [{ path }] : undefined);
    }
    case 'ToolSearch':
      return details(str(i.query), 'search');
    case 'WebFetch':
      return details(str(i.url), 'fetch');
    case 'WebSearch':
      return details(str(i.query), 'fetch');
    case 'Task':
    case 'Agent':
      return details(str(i.description), 'think');
    case 'TodoWrite':
      return details('Update the plan', 'think');
    case 'ExitPlanMode':
      return details('Ready to code?', 'switch_mode');
    case 'EnterPlanMode':
      return details('Plan first', 'switch_mode');
    case 'Skill':
      return details(str(i.skill) ?? str(i.command), 'other');
    default: {
      // An MCP tool is named mcp__<server>__<tool>.
      const mcp = /^mcp__(.+?)__(.+)$/.exec(name);
      return details(mcp ? `${mcp[1]}: ${mcp[2]}` : undefined, 'other');
    }
  }
}

/** The plan a call of `name` states, or null when it states none. */
export function claudeToolPlan(name: string, input: unknown): ClaudePlan | null {
  const i = isRecord(input) ? input : {};
  if (name === 'TodoWrite') {
    const todos = Array.isArray(i.todos) ? i.todos.filter(isRecord) : [];
    return { entries: todos.flatMap(planEntry) };
  }
  if (name === 'ExitPlanMode') {
    const text = str(i.plan);
    return text === undefined ? null : { entries: [], text };
  }
  return null;
}

function planEntry(todo: Input): PlanEntry[] {
  const content = str(todo.content);
  if (content === undefined) return [];
  const status = todo.status === 'in_progress' || todo.status === 'completed' ? todo.status : 'pending';
  const priority = todo.priority === 'high' || todo.priority === 'medium' || todo.priority === 'low' ? todo.priority : undefined;
  return [{ content, status, ...(priority ? { priority } : {}) }];
}

function editDiffs(path: string, edits: Input[]): FileDiff[] {
  return edits.flatMap((e) => {
    const oldText = str(e.old_string);
    const newText = str(e.new_string);
    return oldText === undefined || newText === undefined ? [] : [{ path, oldText, newText }];
  });
}

/** Details with only the fields that are known. */
function details(title: string | undefined, toolKind: ToolKind, locations?: FileLocation[], diffs?: FileDiff[]): ToolCallDetails {
  return {
    ...(title ? { title } : {}),
    toolKind,
    ...(locations?.length ? { locations } : {}),
    ...(diffs?.length ? { diffs } : {}),
  };
}

function location(path: string, line: number | undefined): FileLocation {
  return line === undefined ? { path } : { path, line };
}

function relativeTo(cwd: string | undefined, path: string): string {
  if (!cwd) return path;
  const base = cwd.endsWith('/') ? cwd : cwd + '/';
  return path.startsWith(base) && path.length > base.length ? path.slice(base.length) : path;
}

function isRecord(value: unknown): value is Input {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}
