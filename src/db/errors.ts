/** The database could not be opened: the embedded server would not start, or a URL is unusable. */
export class DatabaseStartError extends Error {
  override readonly name = 'DatabaseStartError';
  constructor(
    message: string,
    /** The data directory involved, when the embedded server was being started. */
    readonly dataDir: string | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A migration failed, or an applied migration no longer matches its file. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    message: string,
    readonly migration: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A value that must become an SQL identifier is not a plain one. */
export class InvalidIdentifierError extends Error {
  override readonly name = 'InvalidIdentifierError';
  constructor(
    readonly what: string,
    readonly value: unknown,
  ) {
    super(`${what} must be a plain SQL identifier (letters, digits, underscore; at most 63), got ${JSON.stringify(value)}`);
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Checks a schema or table name before it can reach SQL. */
export function checkIdentifier(what: string, value: unknown): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) throw new InvalidIdentifierError(what, value);
  return value;
}
