//! Versioned schema migrations, run in order at start. The schema version is
//! SQLite's `user_version`; each migration runs in its own transaction, so a
//! failed one leaves the file at the previous version. A file from a newer
//! dun is refused rather than guessed at.

use std::path::Path;

use rusqlite::Connection;

use super::{Result, StoreError};

/// Every migration this build knows, oldest first. Never edit a shipped one;
/// add the next.
const MIGRATIONS: &[(&str, &str)] = &[
    ("initial", include_str!("migrations/0001_initial.sql")),
    (
        "evaluations",
        include_str!("migrations/0002_evaluations.sql"),
    ),
];

pub(super) fn run(conn: &mut Connection, path: &Path) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Internal(format!("migration {version} ({name}) failed: {e}"))
        })?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}
