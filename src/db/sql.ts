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
    ...(options.schema ? { connection: { search_path: options.schema } } : {}),
  });
}
