//! The tenant's messaging settings (`/v1/messaging`): its own senders over
//! the host's, channel by channel, and the payment link in its reminders;
//! and its event subscriptions (`/v1/subscriptions`): the timeline pushed
//! to its endpoints as signed webhooks. Admins only: these hold secrets and
//! decide where debtors' data goes.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::extract::{self, IdempotencyKey, NoQuery, TenantScope};
use super::problem::Problem;
use crate::store::messaging::{self, Messaging};
use crate::store::{StoreError, subscriptions};

/// The settings, secrets shown as `***`.
#[utoipa::path(get, path = "/v1/messaging", tag = "messaging",
    responses((status = 200, body = Object, description = "the settings")))]
pub async fn get(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    app.read(move |conn| Ok(messaging::get(conn, scope.id)?.redacted()))
        .await
}

/// Replaces the settings. Checked first (each problem names its field:
/// `payment_link`, `senders/sms/url`, …); nothing connects until a message
/// goes. Applies to the next message sent.
#[utoipa::path(put, path = "/v1/messaging", tag = "messaging",
    request_body(content = Object, description = "the settings"),
    responses((status = 200, body = Object, description = "the settings, secrets shown as ***"), (status = 422, body = Problem)))]
pub async fn put(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let settings: Messaging = extract::json(&body)?;
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems).into());
    }
    let tenant = scope.id;
    app.write(
        scope.scope(),
        key,
        &[b"PUT /v1/messaging", &body],
        move |conn, now| {
            let saved = messaging::put(conn, tenant, &settings, now)?;
            Ok((StatusCode::OK, saved.redacted()))
        },
    )
    .await
}

/// A new subscription.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Where events are POSTed (`http://` or `https://`).
    pub url: String,
    /// Kinds of event to send: `*`, `payment.received`, `message.*`, …
    #[serde(default = "every_event")]
    pub events: Vec<String>,
}

fn every_event() -> Vec<String> {
    vec!["*".to_owned()]
}

/// Subscribes an endpoint to the events recorded from now on. The answer
/// carries the signing secret, the only time it is shown.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "messaging",
    request_body = NewSubscription,
    responses((status = 201, body = subscriptions::Subscription), (status = 422, body = Problem)))]
pub async fn create(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let request: NewSubscription = extract::json(&body)?;
    let mut problems = subscriptions::check_patterns(&request.events);
    if let Err(detail) = crate::senders::http::check_url(&request.url) {
        problems.insert(0, crate::store::FieldError::new("url", detail));
    }
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems).into());
    }
    let tenant = scope.id;
    app.write(
        scope.scope(),
        key,
        &[b"POST /v1/subscriptions", &body],
        move |conn, now| {
            let created = subscriptions::create(conn, tenant, &request.url, &request.events, now)?;
            Ok((StatusCode::CREATED, created))
        },
    )
    .await
}

/// The tenant's subscriptions, each with how its delivery goes.
#[utoipa::path(get, path = "/v1/subscriptions", tag = "messaging",
    responses((status = 200, body = Vec<subscriptions::Subscription>)))]
pub async fn list(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    app.read(move |conn| subscriptions::list(conn, scope.id))
        .await
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "messaging",
    params(("id" = String, Path, description = "the subscription id (sub_…)")),
    responses((status = 200, body = subscriptions::Subscription), (status = 404, body = Problem)))]
pub async fn get_subscription(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    app.read(move |conn| subscriptions::get(conn, scope.id, &id))
        .await
}

/// Ends a subscription; nothing more is sent to it.
#[utoipa::path(delete, path = "/v1/subscriptions/{id}", tag = "messaging",
    params(("id" = String, Path, description = "the subscription id (sub_…)")),
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
        .write(move |conn| subscriptions::delete(conn, tenant, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
