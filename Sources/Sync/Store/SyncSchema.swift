import Postgres

/// The `sync` migration line (`sql/sync/`): connections, mappings, external refs and
/// webhook endpoints. Apply it after the queue's: `JobQueue.migrations + SyncSchema.migrations`.
public enum SyncSchema {
    public static var migrations: [Migration] { SyncSQL.migrations }
}
