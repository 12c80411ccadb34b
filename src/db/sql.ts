import postgres from 'postgres';

/** The postgres.js client every layer of Hearth talks to the database through. */
export type Sql = postgres.Sql;

export interface ConnectOptions {
  /** Sets `search_path`, so unqualified table names resolve to this schema. */
  schema?: string;
  /** Pool size. */
  max?: number;
}

/** Opens a postgres.js pool on a connection URL. Server notices go nowhere: they are not errors. */
export function connect(url: string, options: ConnectOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // Seconds before a lost connection is tried again. The driver's own backoff grows to
    // 20 s, so a database back after a restart would sit unused that long.
    backoff: (attempt: number) => Math.min(0.1 * 2 ** attempt, 1),
    ...(options.schema ? { connection: { search_path: options.schema } } : {}),
  });
}
