//! The operator dashboard under `/dashboard`: server-rendered HTML pages
//! over the same store queries and KPI code as the API (`kpi.rs`,
//! `store::*`), with charts drawn in the browser by uPlot, vendored in
//! `assets/` and served from the binary (no build step).
//!
//! Invariants: every page goes through [`session::Viewer`] (a live session
//! of a live admin or operator key) and shows one tenant chosen by
//! [`session::Viewer::scope`]; every query filters on that tenant's id;
//! all output is escaped by minijinja's HTML autoescaping (templates end in
//! `.html`), and chart data travels as JSON with `<`, `>` and `&` escaped,
//! in a `<script type="application/json">` block no browser runs. Pages
//! send a Content-Security-Policy that allows scripts from here only.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::api::problem::Problem;
use crate::store::StoreError;

mod pages;
pub mod session;

/// The dashboard's routes, to merge into the server's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::to("/dashboard/overview") }),
        )
        .route(
            "/dashboard/login",
            get(session::login_form).post(session::login),
        )
        .route("/dashboard/logout", post(session::logout))
        .route("/dashboard/overview", get(pages::overview))
        .route("/dashboard/plugins", get(pages::plugins))
        .route("/dashboard/segments", get(pages::segments))
        .route("/dashboard/outbox", get(pages::outbox))
        .route("/dashboard/debtors", get(pages::debtor))
        .route("/dashboard/assets/{name}", get(asset))
        // Not a fallback: the API's router has the server's one.
        .route(
            "/dashboard/{*rest}",
            get(|| async {
                PageError::new(StatusCode::NOT_FOUND, "There is no such dashboard page.")
            }),
        )
}

/// The files under `assets/`, by name: bytes and content type.
const ASSETS: &[(&str, &[u8], &str)] = &[
    (
        "uPlot.iife.min.js",
        include_bytes!("assets/uPlot.iife.min.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "uPlot.min.css",
        include_bytes!("assets/uPlot.min.css"),
        "text/css; charset=utf-8",
    ),
    (
        "uPlot.LICENSE",
        include_bytes!("assets/uPlot.LICENSE"),
        "text/plain; charset=utf-8",
    ),
    (
        "dashboard.js",
        include_bytes!("assets/dashboard.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "dashboard.css",
        include_bytes!("assets/dashboard.css"),
        "text/css; charset=utf-8",
    ),
];

/// A short digest of every asset, put in their URLs (`?v=`) so that they
/// can be cached for a year and still change with a new build.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = Sha256::new();
    for (name, bytes, _) in ASSETS {
        hasher.update(name.as_bytes());
        hasher.update(bytes);
    }
    hex::encode(&hasher.finalize()[..6])
});

/// `GET /dashboard/assets/{name}`: public, cached for a year.
async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let Some((_, bytes, content_type)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return PageError::new(StatusCode::NOT_FOUND, "There is no such asset.").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        *bytes,
    )
        .into_response()
}

/// The templates, compiled in; `.html` names turn on HTML autoescaping.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("error.html", include_str!("templates/error.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("plugins.html", include_str!("templates/plugins.html")),
        ("segments.html", include_str!("templates/segments.html")),
        ("outbox.html", include_str!("templates/outbox.html")),
        ("debtor.html", include_str!("templates/debtor.html")),
    ] {
        // The templates are part of the binary: a syntax error is a bug
        // that the dashboard's tests catch on their first page.
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(%error, name, "dashboard template does not compile");
        }
    }
    env.add_global("asset_version", ASSET_VERSION.as_str());
    env.add_filter("when", when);
    env.add_filter("urlencode", |value: String| -> String {
        form_urlencoded::byte_serialize(value.as_bytes()).collect()
    });
    env
});

/// An RFC 3339 instant as `2026-03-01 09:30:00 UTC`.
fn when(value: String) -> String {
    match chrono::DateTime::parse_from_rfc3339(&value) {
        Ok(at) => at
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        Err(_) => value,
    }
}

/// Rendering a page.
pub struct Page;

impl Page {
    pub fn render(name: &str, context: minijinja::Value) -> Result<String, PageError> {
        TEMPLATES
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|error| {
                tracing::error!(%error, name, "dashboard page failed to render");
                PageError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "This page failed to render; the error has been logged.",
                )
            })
    }
}

/// An HTML response with the dashboard's security headers.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A page that could not be shown: its status and what to tell the viewer.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PageError {
            status,
            message: message.into(),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        let problem = Problem::from(error);
        PageError::new(
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            problem.detail,
        )
    }
}

/// A bad query parameter, named as the API names it.
impl From<Problem> for PageError {
    fn from(problem: Problem) -> Self {
        let message = match problem.errors.first() {
            Some(e) => format!("{}: {}", e.field, e.detail),
            None => problem.detail,
        };
        PageError::new(
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST),
            message,
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = TEMPLATES
            .get_template("error.html")
            .and_then(|t| {
                t.render(minijinja::context! {
                    status => self.status.as_u16(),
                    reason => self.status.canonical_reason().unwrap_or("Error"),
                    message => self.message,
                })
            })
            .unwrap_or_else(|_| "dun dashboard: error".to_owned());
        html(self.status, body)
    }
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&`
/// escaped, so no string in it can close the element or start markup.
pub fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for name in [
            "base.html",
            "login.html",
            "error.html",
            "overview.html",
            "plugins.html",
            "segments.html",
            "outbox.html",
            "debtor.html",
        ] {
            assert!(TEMPLATES.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn script_json_cannot_close_the_script() {
        let text = script_json(&serde_json::json!({"name": "</script><b>&"}));
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["name"], "</script><b>&");
    }
}
