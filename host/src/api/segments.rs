//! Segments: which strategy, with which config, decides for which debtors.
//! Read by every key of the tenant; changed by its admins.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::extract::{self, IdempotencyKey, NoQuery, TenantScope};
use super::problem::Problem;
use crate::segments::{DEFAULT, Rule, Segment};
use crate::store::segments::{self, SegmentInput};
use crate::store::{FieldError, StoreError};

/// The tenant's segments in the order they are tried; `default` last.
#[utoipa::path(get, path = "/v1/segments", tag = "segments",
    responses((status = 200, body = Vec<Segment>)))]
pub async fn list(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
) -> Result<Response, Problem> {
    app.read(move |conn| segments::list(conn, scope.id)).await
}

#[utoipa::path(get, path = "/v1/segments/{id}", tag = "segments",
    params(("id" = String, Path, description = "the segment id")),
    responses((status = 200, body = Segment), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| segments::get(conn, scope.id, &id))
        .await
}

/// Creates or replaces a segment (admin). The rule is checked, the
/// strategy must exist, and the config must satisfy the strategy's config
/// schema; every problem names its field (`config/…` for the schema's).
/// `default` takes no rule. Takes effect at the next evaluation.
#[utoipa::path(put, path = "/v1/segments/{id}", tag = "segments",
    params(("id" = String, Path, description = "the segment id: lower-case letters, digits and dashes")),
    request_body = SegmentInput,
    responses((status = 201, body = Segment), (status = 200, body = Segment), (status = 422, body = Problem)))]
pub async fn put(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let well_formed = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if !well_formed {
        return Err(Problem::field(
            StatusCode::NOT_FOUND,
            "not-found",
            "id",
            "segment ids are 1-64 lower-case letters, digits and dashes",
        ));
    }
    let input: SegmentInput = extract::json(&body)?;
    let mut problems: Vec<FieldError> = input.rule.problems("rule");
    // serde would read a rule from a JSON array, field by position.
    let raw: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if raw.get("rule").is_some_and(|rule| !rule.is_object()) {
        problems.push(FieldError::new("rule", "a JSON object of conditions"));
    }
    if id == DEFAULT && input.rule != Rule::default() {
        problems.push(FieldError::new(
            "rule",
            "the default segment matches everyone; it takes no rule",
        ));
    }
    if input
        .name
        .as_ref()
        .is_some_and(|n| n.trim().is_empty() || n.len() > 200)
    {
        problems.push(FieldError::new("name", "1-200 characters"));
    }
    if let Some(split) = &input.split
        && !(1..=99).contains(&split.percent)
    {
        problems.push(FieldError::new("split/percent", "1-99"));
    }
    let (engine, store, tenant) = (app.engine.clone(), app.store.clone(), scope.id);
    let (strategy, config) = (input.strategy.clone(), input.config.clone());
    let (shadow, split) = (input.shadow.clone(), input.split.clone());
    let checked = tokio::task::spawn_blocking(move || {
        let mut problems = Vec::new();
        if let Err(more) = engine.check_segment(&store, tenant, &strategy, &config) {
            problems.extend(more);
        }
        // The shadow runs with the segment's config; the split with its own.
        let others = [
            ("shadow", shadow.map(|s| (s, config.clone()))),
            ("split", split.map(|s| (s.strategy, s.config))),
        ];
        for (field, other) in others {
            if let Some((strategy, config)) = other
                && let Err(more) = engine.check_segment(&store, tenant, &strategy, &config)
            {
                problems.extend(more.into_iter().map(|p| {
                    let at = if p.field == "strategy" {
                        String::new()
                    } else {
                        format!("/{}", p.field)
                    };
                    let field = match field {
                        "split" if at.is_empty() => "split/strategy".to_owned(),
                        "split" => format!("split{at}"),
                        _ => format!("shadow{at}"),
                    };
                    FieldError::new(field, p.detail)
                }));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    })
    .await
    .map_err(|e| Problem::from(StoreError::Internal(e.to_string())))?;
    if let Err(more) = checked {
        problems.extend(more);
    }
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems).into());
    }
    let tenant = scope.id;
    let path = format!("PUT /v1/segments/{id}");
    app.write(
        scope.scope(),
        key,
        &[path.as_bytes(), &body],
        move |conn, now| {
            let (segment, created) = segments::put(conn, tenant, &id, &input, now)?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, segment))
        },
    )
    .await
}

/// Removes a segment (admin); its debtors fall to the next segment that
/// matches. Deleting `default` resets it to the built-in ladder.
#[utoipa::path(delete, path = "/v1/segments/{id}", tag = "segments",
    params(("id" = String, Path, description = "the segment id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    scope.require_admin()?;
    let tenant = scope.id;
    app.store
        .write(move |conn| segments::delete(conn, tenant, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
