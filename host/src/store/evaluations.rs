//! Evaluations: every run of a strategy on a debtor's case, with its input
//! (for replay), its outcome (a plan, or the fault and the plugin's log
//! tail), the guardrails' verdict on each action, fuel and duration.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Result, StoreError, debtors, from_json, ids, to_json};
use crate::plan::{Action, Reminder};

/// What came of one action of a plan once the guardrails had seen it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ActionVerdict {
    /// The action as the strategy planned it.
    #[schema(value_type = Object)]
    pub planned: serde_json::Value,
    /// `kept`, `moved` (changed: later, fewer invoices, capped) or `suppressed`.
    pub verdict: String,
    /// The action as it would be carried out; absent when suppressed.
    #[schema(value_type = Option<Object>)]
    pub action: Option<serde_json::Value>,
    /// Why it was moved or suppressed, one entry per rule.
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<serde_json::Value>,
}

/// An evaluation about to be recorded.
#[derive(Clone, Debug)]
pub struct NewEvaluation {
    pub at: DateTime<Utc>,
    /// The debtor's `version` when the case was read ([`debtor_version`]);
    /// recording refuses a decision whose debtor has moved on since.
    pub debtor_version: i64,
    pub segment: String,
    pub strategy: String,
    pub plugin_digest: String,
    pub contract: String,
    pub input_hash: String,
    /// The case as JSON, deflated ([`deflate_input`]).
    pub input: Vec<u8>,
    pub outcome: String,
    pub error: Option<String>,
    pub plan: Option<serde_json::Value>,
    pub verdicts: Vec<ActionVerdict>,
    pub log: serde_json::Value,
    pub fuel_used: Option<u64>,
    pub duration_us: u64,
    /// When to look again if nothing happens first (see [`next_review`]).
    pub review_at: Option<DateTime<Utc>>,
    /// What the segment's shadow strategy would have done, if it has one.
    pub shadow: Option<ShadowRun>,
}

/// A shadow strategy's decision on the same case: recorded, never carried out.
#[derive(Clone, Debug)]
pub struct ShadowRun {
    pub strategy: String,
    pub outcome: String,
    pub error: Option<String>,
    pub plan: Option<serde_json::Value>,
    pub fuel_used: Option<u64>,
    pub duration_us: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Evaluation {
    pub id: String,
    pub debtor_id: String,
    /// The instant decided at (the case's `now`).
    pub at: DateTime<Utc>,
    /// The segment the debtor was in (which chose the strategy).
    pub segment: Option<String>,
    pub strategy: String,
    /// SHA-256 of the component that ran.
    pub plugin_digest: String,
    pub contract: String,
    /// SHA-256 of the case, as JSON.
    pub input_hash: String,
    /// `ok`, or the fault: `trap`, `out-of-fuel`, `memory-limit`, `deadline`,
    /// `invalid-plan`, `refused`, …
    pub outcome: String,
    pub error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub plan: Option<serde_json::Value>,
    pub verdicts: Vec<ActionVerdict>,
    /// The plugin's log tail: `{"lines": [{"source", "message"}], "dropped_bytes"}`.
    #[schema(value_type = Object)]
    pub log: serde_json::Value,
    pub fuel_used: Option<u64>,
    pub duration_us: u64,
    /// When the scheduler looks at this debtor again if nothing happens first.
    pub next_review_at: DateTime<Utc>,
    /// Faults in a row, this one included (0 after a good evaluation).
    pub failures: u32,
    pub created_at: DateTime<Utc>,
    /// The case it decided on; only in `GET /v1/evaluations/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input: Option<serde_json::Value>,
}

/// The debtor's version (see migration 0007), read with the case.
pub fn debtor_version(conn: &Connection, tenant_id: i64, debtor_external_id: &str) -> Result<i64> {
    let debtor = debtors::row_id(conn, tenant_id, debtor_external_id)?;
    Ok(conn
        .prepare_cached("SELECT version FROM debtors WHERE id = ?1")?
        .query_row([debtor], |r| r.get(0))?)
}

/// The case as stored: JSON, deflated (fast level; cases compress about 5:1).
pub fn deflate_input(case: &crate::case::Case) -> Result<Vec<u8>> {
    use std::io::Write;
    // One buffer, compressed in one call: serde_json writes in small
    // pieces, and each write into the encoder costs a buffer set-up.
    let json = serde_json::to_vec(case).map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut encoder = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(json.len() / 3 + 64),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(&json)
        .and_then(|()| encoder.finish())
        .map_err(|e| StoreError::Internal(e.to_string()))
}

fn inflate_input(bytes: &[u8]) -> rusqlite::Result<serde_json::Value> {
    serde_json::from_reader(flate2::read::DeflateDecoder::new(bytes)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

/// A good evaluation is looked at again at its plan's review time (at least
/// a minute and at most a day ahead); a fault after a backoff of 5 minutes
/// that doubles with each fault in a row, up to a day.
pub fn next_review(
    at: DateTime<Utc>,
    review_at: Option<DateTime<Utc>>,
    failures: u32,
) -> DateTime<Utc> {
    let day = chrono::Duration::days(1);
    if failures == 0 {
        return review_at
            .unwrap_or(at + day)
            .clamp(at + chrono::Duration::minutes(1), at + day);
    }
    let backoff =
        chrono::Duration::minutes(5) * 2i32.saturating_pow(failures.saturating_sub(1).min(16));
    at + backoff.min(day)
}

/// Records an evaluation and carries out what its plan keeps (the outbox,
/// the other actions, the timeline); returns its id.
pub fn record(
    conn: &Connection,
    tenant_id: i64,
    debtor_external_id: &str,
    new: &NewEvaluation,
    now: DateTime<Utc>,
) -> Result<String> {
    let debtor = debtors::row_id(conn, tenant_id, debtor_external_id)?;
    let version: i64 = conn
        .prepare_cached("SELECT version FROM debtors WHERE id = ?1")?
        .query_row([debtor], |r| r.get(0))?;
    if version != new.debtor_version {
        return Err(StoreError::Stale);
    }
    let id = ids::new_id("evl");
    let failures: u32 = if new.outcome == "ok" {
        0
    } else {
        let before: Option<u32> = conn
            .prepare_cached(
                "SELECT failures FROM evaluations WHERE debtor_id = ?1 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([debtor], |r| r.get(0))
            .optional()?;
        before.unwrap_or(0) + 1
    };
    let next_review_at = next_review(new.at, new.review_at, failures);
    conn.prepare_cached(
        "INSERT INTO evaluations (public_id, tenant_id, debtor_id, at, strategy, plugin_digest, contract, input_hash, input_deflated,
                                  outcome, error, plan, verdicts, log, fuel_used, duration_us, created_at, next_review_at, failures, segment, input)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, '')",
    )?
    .execute(params![
        id,
        tenant_id,
        debtor,
        new.at,
        new.strategy,
        new.plugin_digest,
        new.contract,
        new.input_hash,
        new.input,
        new.outcome,
        new.error,
        new.plan.as_ref().map(to_json).transpose()?,
        to_json(&new.verdicts)?,
        to_json(&new.log)?,
        new.fuel_used.map(|f| f as i64),
        new.duration_us as i64,
        now,
        next_review_at,
        failures,
        new.segment
    ])?;
    let evaluation_row = conn.last_insert_rowid();
    if let Some(shadow) = &new.shadow {
        let evaluation = evaluation_row;
        conn.prepare_cached(
            "INSERT INTO shadow_runs (tenant_id, evaluation_id, segment, strategy, outcome, error, plan, fuel_used, duration_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            tenant_id,
            evaluation,
            new.segment,
            shadow.strategy,
            shadow.outcome,
            shadow.error,
            shadow.plan.as_ref().map(to_json).transpose()?,
            shadow.fuel_used.map(|f| f as i64),
            shadow.duration_us as i64
        ])?;
    }
    if new.outcome == "ok" {
        let row = evaluation_row;
        // What the guardrails moved or suppressed goes on the timeline,
        // with the reasons.
        for verdict in new.verdicts.iter().filter(|v| v.verdict != "kept") {
            let kind = if verdict.verdict == "suppressed" {
                super::timeline::EventKind::ActionSuppressed
            } else {
                super::timeline::EventKind::ActionMoved
            };
            super::timeline::append(
                conn,
                tenant_id,
                debtor,
                new.at,
                kind,
                Some(&id),
                &serde_json::json!({
                    "planned": verdict.planned, "action": verdict.action, "reasons": verdict.reasons,
                }),
            )?;
        }
        let kept: Vec<Action> = new
            .verdicts
            .iter()
            .filter_map(|v| v.action.clone())
            .filter_map(|a| serde_json::from_value(a).ok())
            .collect();
        // The reminders this plan keeps replace what was scheduled before;
        // its other actions change what they change (see `actions`).
        let reminders: Vec<Reminder> = kept
            .iter()
            .filter_map(|a| match a {
                Action::Remind(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        super::outbox::replace_scheduled(conn, tenant_id, debtor, (row, &id), &reminders, now)?;
        super::actions::apply(conn, tenant_id, debtor, (row, &id), &kept, new.at)?;
    }
    // Last, so the events this evaluation appended do not make the debtor
    // due again at once.
    conn.prepare_cached("UPDATE debtors SET review_at = ?2, evaluated_at = ?3 WHERE id = ?1")?
        .execute(params![debtor, next_review_at, new.at])?;
    Ok(id)
}

const COLUMNS: &str = "e.public_id, d.external_id, e.at, e.strategy, e.plugin_digest, e.contract, e.input_hash, e.outcome, e.error,
    e.plan, e.verdicts, e.log, e.fuel_used, e.duration_us, e.created_at, e.next_review_at, e.failures, e.segment";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Evaluation> {
    let plan: Option<String> = r.get(9)?;
    let verdicts: Option<String> = r.get(10)?;
    Ok(Evaluation {
        id: r.get(0)?,
        debtor_id: r.get(1)?,
        at: r.get(2)?,
        strategy: r.get(3)?,
        plugin_digest: r.get(4)?,
        contract: r.get(5)?,
        input_hash: r.get(6)?,
        outcome: r.get(7)?,
        error: r.get(8)?,
        plan: plan.as_deref().map(from_json).transpose()?,
        verdicts: verdicts
            .as_deref()
            .map(from_json)
            .transpose()?
            .unwrap_or_default(),
        log: from_json(&r.get::<_, String>(11)?)?,
        fuel_used: r.get::<_, Option<i64>>(12)?.map(|f| f as u64),
        duration_us: r.get::<_, i64>(13)? as u64,
        created_at: r.get(14)?,
        next_review_at: r.get(15)?,
        failures: r.get(16)?,
        segment: r.get(17)?,
        input: None,
    })
}

/// One evaluation, with the case it decided on.
pub fn get(conn: &Connection, tenant_id: i64, id: &str) -> Result<Evaluation> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, e.input, e.input_deflated FROM evaluations e JOIN debtors d ON d.id = e.debtor_id
             WHERE e.tenant_id = ?1 AND e.public_id = ?2"
        ))?
        .query_row(params![tenant_id, id], |r| {
            let mut evaluation = from_row(r)?;
            let deflated: Option<Vec<u8>> = r.get(19)?;
            evaluation.input = Some(match deflated {
                Some(bytes) => inflate_input(&bytes)?,
                None => from_json(&r.get::<_, String>(18)?)?,
            });
            Ok(evaluation)
        })
        .optional()?;
    found.ok_or_else(|| StoreError::not_found("evaluation", id))
}

/// A debtor's evaluations, newest first (without their inputs).
pub fn list_for_debtor(
    conn: &Connection,
    tenant_id: i64,
    debtor_external_id: &str,
    limit: usize,
) -> Result<Vec<Evaluation>> {
    let debtor = debtors::row_id(conn, tenant_id, debtor_external_id)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM evaluations e JOIN debtors d ON d.id = e.debtor_id
         WHERE e.debtor_id = ?1 AND e.tenant_id = ?2 ORDER BY e.id DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![debtor, tenant_id, limit as i64], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One strategy's evaluations in a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StrategyCounts {
    /// A built-in's name or an uploaded version (`name@version`).
    pub strategy: String,
    pub evaluations: u64,
    /// Of them, those that faulted (outcome other than `ok`).
    pub faults: u64,
    pub last_at: DateTime<Utc>,
}

/// Evaluations and faults per strategy the tenant has run. Reads every
/// evaluation of the tenant: for the dashboard, not for a hot path.
pub fn counts_by_strategy(conn: &Connection, tenant_id: i64) -> Result<Vec<StrategyCounts>> {
    let mut stmt = conn.prepare_cached(
        "SELECT strategy, COUNT(*), SUM(outcome <> 'ok'), MAX(at) FROM evaluations
         WHERE tenant_id = ?1 GROUP BY strategy ORDER BY strategy",
    )?;
    let rows = stmt.query_map([tenant_id], |r| {
        Ok(StrategyCounts {
            strategy: r.get(0)?,
            evaluations: r.get::<_, i64>(1)? as u64,
            faults: r.get::<_, i64>(2)? as u64,
            last_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The tenant's latest faulted evaluations (with their log tails), newest
/// first.
pub fn recent_faults(conn: &Connection, tenant_id: i64, limit: usize) -> Result<Vec<Evaluation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM evaluations e JOIN debtors d ON d.id = e.debtor_id
         WHERE e.tenant_id = ?1 AND e.outcome <> 'ok' ORDER BY e.id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![tenant_id, limit as i64], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Debtors the scheduler should evaluate at `now`, oldest due first, at
/// most `limit`: those with an owed invoice whose review time has come (set
/// by their last evaluation, and brought forward to the moment anything
/// happens to them; see migration 0007). Returns (tenant row id, debtor id).
pub fn due_for_review(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.tenant_id, d.external_id FROM debtors d
         WHERE d.review_at <= ?1
           AND EXISTS (SELECT 1 FROM invoices i WHERE i.debtor_id = d.id AND i.status NOT IN ('paid', 'void', 'written-off'))
         ORDER BY d.review_at
         LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Takes debtors with nothing owed out of the review queue (until
/// something happens to them), so passes do not step over them again.
pub fn forget_settled(conn: &Connection, now: DateTime<Utc>) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "UPDATE debtors SET review_at = NULL
             WHERE review_at <= ?1
               AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.debtor_id = debtors.id
                               AND i.status NOT IN ('paid', 'void', 'written-off'))",
        )?
        .execute([now])?)
}

/// A shadow run beside the evaluation it shadowed.
pub struct ShadowPair {
    pub evaluation_id: String,
    pub debtor_id: String,
    pub at: DateTime<Utc>,
    pub active_strategy: String,
    pub active_outcome: String,
    pub active_plan: Option<serde_json::Value>,
    pub shadow_strategy: String,
    pub shadow_outcome: String,
    pub shadow_plan: Option<serde_json::Value>,
}

/// The segment's latest shadow runs (at most `limit`), newest first.
pub fn shadow_pairs(
    conn: &Connection,
    tenant_id: i64,
    segment: &str,
    limit: usize,
) -> Result<Vec<ShadowPair>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.public_id, d.external_id, e.at, e.strategy, e.outcome, e.plan, s.strategy, s.outcome, s.plan
         FROM shadow_runs s JOIN evaluations e ON e.id = s.evaluation_id JOIN debtors d ON d.id = e.debtor_id
         WHERE s.tenant_id = ?1 AND s.segment = ?2 ORDER BY s.id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![tenant_id, segment, limit as i64], |r| {
        let plan =
            |text: Option<String>| text.map(|t| from_json::<serde_json::Value>(&t)).transpose();
        Ok(ShadowPair {
            evaluation_id: r.get(0)?,
            debtor_id: r.get(1)?,
            at: r.get(2)?,
            active_strategy: r.get(3)?,
            active_outcome: r.get(4)?,
            active_plan: plan(r.get(5)?)?,
            shadow_strategy: r.get(6)?,
            shadow_outcome: r.get(7)?,
            shadow_plan: plan(r.get(8)?)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
