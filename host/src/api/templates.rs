//! Templates: a tenant's wording per channel, tone and language, validated
//! on save and previewable against sample data or a real debtor; and the
//! messages that went out, with what was sent (a letter's PDF too).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::extract::{self, IdempotencyKey, NoQuery, TenantScope};
use super::problem::Problem;
use crate::case::{Channel, Tone};
use crate::store::{StoreError, outbox, templates as stored};
use crate::templates::{self, Template};

/// A path part that names nothing: 404 naming the part.
fn bad_part(field: &str, detail: &str) -> Problem {
    Problem::field(StatusCode::NOT_FOUND, "not-found", field, detail.to_owned())
}

/// Parses `{channel}/{tone}/{language}` from the path, naming the part at fault.
fn key(channel: &str, tone: &str, language: &str) -> Result<(Channel, Tone, String), Problem> {
    let tone = serde_json::from_value(serde_json::Value::String(tone.to_owned()))
        .map_err(|_| bad_part("tone", "courtesy, gentle, firm or final"))?;
    let (channel, language) = channel_and_language(channel, language)?;
    Ok((channel, tone, language))
}

/// Parses `{channel}/{language}` from the path, naming the part at fault.
fn channel_and_language(channel: &str, language: &str) -> Result<(Channel, String), Problem> {
    let channel =
        Channel::parse(channel).ok_or_else(|| bad_part("channel", "email, sms, call or letter"))?;
    let well_formed = {
        let mut parts = language.split('-');
        let primary = parts.next().unwrap_or_default();
        (2..=3).contains(&primary.len())
            && primary.bytes().all(|b| b.is_ascii_lowercase())
            && parts
                .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    if !well_formed {
        return Err(bad_part("language", "a BCP 47 tag such as en, de or de-AT"));
    }
    Ok((channel, language.to_owned()))
}

/// Parses `{name}/{channel}/{language}` of a named template.
fn named_key(
    name: &str,
    channel: &str,
    language: &str,
) -> Result<(String, Channel, String), Problem> {
    let well_formed = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(bad_part("name", "1-64 characters of [A-Za-z0-9_-]"));
    }
    let (channel, language) = channel_and_language(channel, language)?;
    Ok((name.to_owned(), channel, language))
}

/// The tenant's own templates (the built-ins cover the rest).
#[utoipa::path(get, path = "/v1/templates", tag = "templates",
    responses((status = 200, body = Vec<stored::Stored>)))]
pub async fn list(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
) -> Result<Response, Problem> {
    app.read(move |conn| stored::list(conn, scope.id)).await
}

/// The template a debtor speaking `language` gets: the tenant's for that
/// language, its base language, or the built-in one.
#[utoipa::path(get, path = "/v1/templates/{channel}/{tone}/{language}", tag = "templates",
    params(("channel" = Channel, Path), ("tone" = Tone, Path), ("language" = String, Path)),
    responses((status = 200, body = stored::Effective), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((channel, tone, language)): Path<(String, String, String)>,
) -> Result<Response, Problem> {
    let (channel, tone, language) = key(&channel, &tone, &language)?;
    app.read(move |conn| stored::effective(conn, scope.id, channel, tone, &language))
        .await
}

/// Saves the tenant's template (admin). It is checked first: every part
/// compiles, the channel's parts are there (email: subject and text, html
/// optional; letter: subject and text; SMS and call: text), it renders for
/// every tone with and without an offer, and an SMS fits in 640 characters.
#[utoipa::path(put, path = "/v1/templates/{channel}/{tone}/{language}", tag = "templates",
    params(("channel" = Channel, Path), ("tone" = Tone, Path), ("language" = String, Path)),
    request_body = Template,
    responses((status = 200, body = stored::Stored), (status = 422, body = Problem)))]
pub async fn put(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((channel, tone, language)): Path<(String, String, String)>,
    IdempotencyKey(key_header): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let (channel, tone, language) = key(&channel, &tone, &language)?;
    let template: Template = extract::json(&body)?;
    templates::validate(channel, &template).map_err(|e| StoreError::invalid(e.field, e.message))?;
    let tenant = scope.id;
    let path = format!("PUT /v1/templates/{}/{tone:?}/{language}", channel.as_str());
    app.write(
        scope.scope(),
        key_header,
        &[path.as_bytes(), &body],
        move |conn, now| {
            let saved = stored::put(conn, tenant, channel, tone, &language, &template, now)?;
            Ok((StatusCode::OK, saved))
        },
    )
    .await
}

/// Removes the tenant's template (admin): the built-in one applies again.
#[utoipa::path(delete, path = "/v1/templates/{channel}/{tone}/{language}", tag = "templates",
    params(("channel" = Channel, Path), ("tone" = Tone, Path), ("language" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((channel, tone, language)): Path<(String, String, String)>,
) -> Result<StatusCode, Problem> {
    scope.require_admin()?;
    let (channel, tone, language) = key(&channel, &tone, &language)?;
    let tenant = scope.id;
    app.store
        .write(move |conn| stored::delete(conn, tenant, channel, tone, &language))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's named templates: what a plan's reminder gets when it names
/// one (`template` in the contract) instead of its tone's.
#[utoipa::path(get, path = "/v1/named-templates", tag = "templates",
    responses((status = 200, body = Vec<stored::StoredNamed>)))]
pub async fn list_named(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
) -> Result<Response, Problem> {
    app.read(move |conn| stored::list_named(conn, scope.id))
        .await
}

/// One named template, exactly as saved.
#[utoipa::path(get, path = "/v1/named-templates/{name}/{channel}/{language}", tag = "templates",
    params(("name" = String, Path), ("channel" = Channel, Path), ("language" = String, Path)),
    responses((status = 200, body = Template), (status = 404, body = Problem)))]
pub async fn get_named(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((name, channel, language)): Path<(String, String, String)>,
) -> Result<Response, Problem> {
    let (name, channel, language) = named_key(&name, &channel, &language)?;
    app.read(move |conn| {
        stored::get_named(conn, scope.id, &name, channel, &language)?.ok_or_else(|| {
            StoreError::not_found(
                "template",
                format!("{name}/{}/{language}", channel.as_str()),
            )
        })
    })
    .await
}

/// Saves a named template (admin), checked like a tone's template. A
/// reminder naming it in a debtor's language (or base language) is
/// rendered with it; otherwise with its tone's template.
#[utoipa::path(put, path = "/v1/named-templates/{name}/{channel}/{language}", tag = "templates",
    params(("name" = String, Path), ("channel" = Channel, Path), ("language" = String, Path)),
    request_body = Template,
    responses((status = 200, body = stored::StoredNamed), (status = 422, body = Problem)))]
pub async fn put_named(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((name, channel, language)): Path<(String, String, String)>,
    IdempotencyKey(key_header): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let (name, channel, language) = named_key(&name, &channel, &language)?;
    let template: Template = extract::json(&body)?;
    templates::validate(channel, &template).map_err(|e| StoreError::invalid(e.field, e.message))?;
    let tenant = scope.id;
    let path = format!(
        "PUT /v1/named-templates/{name}/{}/{language}",
        channel.as_str()
    );
    app.write(
        scope.scope(),
        key_header,
        &[path.as_bytes(), &body],
        move |conn, now| {
            let saved = stored::put_named(conn, tenant, &name, channel, &language, &template, now)?;
            Ok((StatusCode::OK, saved))
        },
    )
    .await
}

/// Removes a named template (admin).
#[utoipa::path(delete, path = "/v1/named-templates/{name}/{channel}/{language}", tag = "templates",
    params(("name" = String, Path), ("channel" = Channel, Path), ("language" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_named(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((name, channel, language)): Path<(String, String, String)>,
) -> Result<StatusCode, Problem> {
    scope.require_admin()?;
    let (name, channel, language) = named_key(&name, &channel, &language)?;
    let tenant = scope.id;
    app.store
        .write(move |conn| stored::delete_named(conn, tenant, &name, channel, &language))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What to preview.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A template to try before saving it; the effective one when absent.
    pub template: Option<Template>,
    /// Render with this debtor's open invoices; sample data when absent.
    pub debtor_id: Option<String>,
}

/// Renders a template without sending anything: the one given (checked
/// like a save) or the effective one, with sample data or a debtor's
/// real open invoices.
#[utoipa::path(post, path = "/v1/templates/{channel}/{tone}/{language}/preview", tag = "templates",
    params(("channel" = Channel, Path), ("tone" = Tone, Path), ("language" = String, Path)),
    request_body = PreviewRequest,
    responses((status = 200, body = templates::Rendered), (status = 422, body = Problem)))]
pub async fn preview(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((channel, tone, language)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let (channel, tone, language) = key(&channel, &tone, &language)?;
    let request: PreviewRequest = if body.is_empty() {
        PreviewRequest {
            template: None,
            debtor_id: None,
        }
    } else {
        extract::json(&body)?
    };
    if let Some(template) = &request.template {
        templates::validate(channel, template)
            .map_err(|e| StoreError::invalid(format!("template.{}", e.field), e.message))?;
    }
    let now = app.clock.now();
    let tenant = scope.id;
    let portal = app.portal.clone();
    app.read(move |conn| {
        let template = match request.template {
            Some(t) => t,
            None => stored::effective(conn, tenant, channel, tone, &language)?.template,
        };
        let context = match &request.debtor_id {
            Some(debtor) => {
                let mut context = crate::dispatcher::context_for(
                    conn,
                    tenant,
                    debtor,
                    (channel, tone),
                    portal.as_deref(),
                    now,
                )
                .map_err(|e| match e {
                    StoreError::NotFound { .. } => {
                        StoreError::invalid("debtor_id", "no such debtor")
                    }
                    other => other,
                })?;
                context.language = language.clone();
                context
            }
            None => templates::sample(channel, tone, &language),
        };
        templates::render(channel, &template, &context)
            .map_err(|e| StoreError::invalid(format!("template.{}", e.field), e.message))
    })
    .await
}

/// A message and what was sent: recipient, language, subject, text, HTML,
/// the provider's reference.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MessageView {
    #[serde(flatten)]
    pub entry: outbox::OutboxEntry,
    pub content: outbox::SentContent,
}

#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "the message id (msg_…)")),
    responses((status = 200, body = MessageView), (status = 404, body = Problem)))]
pub async fn message(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| {
        let (entry, content) = outbox::get(conn, scope.id, &id)?;
        Ok(MessageView { entry, content })
    })
    .await
}

/// A sent letter's PDF, exactly as it was sent to print.
#[utoipa::path(get, path = "/v1/messages/{id}/pdf", tag = "messages",
    params(("id" = String, Path, description = "the message id (msg_…)")),
    responses((status = 200, description = "the letter", content_type = "application/pdf", body = Vec<u8>), (status = 404, body = Problem)))]
pub async fn letter_pdf(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let pdf = app
        .store
        .read(move |conn| outbox::pdf(conn, scope.id, &id))
        .await?;
    let mut response = (StatusCode::OK, pdf).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    Ok(response)
}
