//! problem+json (RFC 9457): the one shape every API error takes, and the
//! one place domain errors become HTTP statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::{FieldError, StoreError};

/// An API error. `errors` names each field at fault by its JSON path.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`https://dun.dev/problems/invalid-request`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For a refused plugin: the check that failed, the fault's kind, the
    /// plugin's log tail and the checks passed before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub plugin: Option<Box<serde_json::Value>>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("https://dun.dev/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            plugin: None,
        }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.detail),
            many => format!("{} fields are invalid", many.len()),
        };
        Problem {
            errors,
            ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", detail)
        }
    }

    pub fn field(status: StatusCode, kind: &str, field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Problem {
            errors: vec![FieldError::new(field, detail.clone())],
            ..Problem::new(status, kind, detail)
        }
    }

    pub fn unauthorized(detail: &str) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: &str) -> Self {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } => Problem::not_found(error.to_string()),
            StoreError::Invalid(errors) => Problem::invalid(errors),
            StoreError::Conflict { field, detail } => {
                Problem::field(StatusCode::CONFLICT, "conflict", &field, detail)
            }
            StoreError::Closed => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is shutting down",
            ),
            StoreError::Stale => Problem::new(
                StatusCode::CONFLICT,
                "busy",
                "the debtor kept changing while dun decided; try again",
            ),
            other => {
                tracing::error!(error = %other, "store error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; it has been logged",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Turns errors that axum produces itself (unknown route, wrong method, body
/// too large, wrong content type) into problem+json too.
pub async fn problemize(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !status.is_client_error() && !status.is_server_error() || is_problem {
        return response;
    }
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this route does not take that method".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "too-large",
            "the request body is larger than this route accepts".to_owned(),
        ),
        _ => {
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body).trim().to_owned();
            return Problem::new(
                status,
                "request",
                if text.is_empty() {
                    "request refused".into()
                } else {
                    text
                },
            )
            .into_response();
        }
    };
    Problem::new(status, kind, detail).into_response()
}
