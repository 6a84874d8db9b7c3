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
    ("outbox", include_str!("migrations/0003_outbox.sql")),
    (
        "messages and templates",
        include_str!("migrations/0004_messages_and_templates.sql"),
    ),
    ("segments", include_str!("migrations/0005_segments.sql")),
    ("actions", include_str!("migrations/0006_actions.sql")),
    (
        "review queue",
        include_str!("migrations/0007_review_queue.sql"),
    ),
    ("policies", include_str!("migrations/0008_policies.sql")),
    (
        "messaging and subscriptions",
        include_str!("migrations/0009_messaging_and_subscriptions.sql"),
    ),
    ("plugins", include_str!("migrations/0010_plugins.sql")),
    (
        "limits_and_retention",
        include_str!("migrations/0011_limits_and_retention.sql"),
    ),
    (
        "host secrets",
        include_str!("migrations/0012_host_secrets.sql"),
    ),
    (
        "dashboard sessions",
        include_str!("migrations/0013_dashboard_sessions.sql"),
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

#[cfg(test)]
mod tests {
    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(files.len(), super::MIGRATIONS.len(), "{files:?}");
        for (i, (file, (_, sql))) in files.iter().zip(super::MIGRATIONS).enumerate() {
            assert!(file.starts_with(&format!("{:04}_", i + 1)), "{file}");
            let text = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("src/store/migrations")
                    .join(file),
            )
            .unwrap();
            assert_eq!(&text, sql, "{file} is listed out of order");
        }
    }
}
