import { procFiles } from './proc-files.js';

interface ProcessRow {
  ppid: number;
  /** Resident bytes (VmRSS); 0 for a kernel thread, which has none. */
  rss: number;
}

/**
 * The processes of this machine at one moment, read from /proc: each one's parent and
 * resident memory. One scan serves any number of process trees, so measuring every warm
 * session costs one pass over /proc, whatever their number (about 15 µs a process). A
 * process that ends during the scan is left out; where there is no /proc the table is empty.
 */
export class ProcessTable {
  private readonly children = new Map<number, number[]>();

  private constructor(private readonly rows: Map<number, ProcessRow>) {
    for (const [pid, { ppid }] of rows) {
      const siblings = this.children.get(ppid);
      if (siblings) siblings.push(pid);
      else this.children.set(ppid, [pid]);
    }
  }

  static scan(procDir = '/proc'): ProcessTable {
    const rows = new Map<number, ProcessRow>();
    // status rather than stat: its figures are in kB, so no page size is needed.
    for (const [pid, status] of procFiles('status', procDir)) {
      const row = parseStatus(status);
      if (row) rows.set(pid, row);
    }
    return new ProcessTable(rows);
  }

  /** The process and all its descendants, the process first; empty when it is not running. */
  tree(pid: number): number[] {
    if (!this.rows.has(pid)) return [];
    const found = [pid];
    // Breadth first down the parent links; each process has one parent, so none is met twice.
    for (let i = 0; i < found.length; i++) found.push(...(this.children.get(found[i]!) ?? []));
    return found;
  }

  /** Resident bytes of the process alone; null when it is not running. */
  rss(pid: number): number | null {
    return this.rows.get(pid)?.rss ?? null;
  }

  /** Resident bytes of the process and all its descendants; null when it is not running. */
  treeRss(pid: number): number | null {
    const pids = this.tree(pid);
    return pids.length === 0 ? null : pids.reduce((sum, p) => sum + this.rows.get(p)!.rss, 0);
  }
}

/** The parent and resident bytes in a /proc/<pid>/status text; null when it has no parent line. */
export function parseStatus(status: string): ProcessRow | null {
  const ppid = /^PPid:\s+(\d+)$/m.exec(status);
  if (!ppid) return null;
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return { ppid: Number(ppid[1]), rss: rss ? Number(rss[1]) * 1024 : 0 };
}

/** Resident bytes of a process and all its descendants, from a scan of its own; null when it is not running. */
export function processTreeRss(pid: number): number | null {
  return ProcessTable.scan().treeRss(pid);
}
