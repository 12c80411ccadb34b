export { openDatabase, closeDatabase, defaultDataDir, type OpenDatabaseOptions } from './db/database.js';
export { migrate, readMigrations, type MigrateOptions, type Migration } from './db/migrate.js';
export { connect, type Sql, type ConnectOptions } from './db/sql.js';
export { DatabaseStartError, MigrationError, InvalidIdentifierError } from './db/errors.js';
export { PostgresSessionStore, type PostgresSessionStoreOptions } from './store/postgres-session-store.js';
