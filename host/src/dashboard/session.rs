//! Who is looking: login with an API key, the session cookie, logout, and
//! the tenant a page shows.
//!
//! Invariants: the cookie holds a random token the store keeps only as a
//! SHA-256 (`store::sessions`); every request looks the session and its
//! key up again, so a revoked key ends the session on its next request
//! and the role is always the key's current one. Operator keys see every
//! tenant (`?tenant=`); admin keys only their own, and naming another is
//! refused, not ignored; client keys (billing systems) cannot log in.
//! The one state-changing form behind the login, logout, carries a CSRF
//! token derived from the session token; the cookie is `SameSite=Strict`
//! and login refuses a cross-origin `Origin`.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Page, PageError, html};
use crate::api::AppState;
use crate::store::tenants::{self, Principal, Role};
use crate::store::{StoreError, sessions};

/// The session cookie's name.
pub const COOKIE: &str = "dun_session";

/// A logged-in viewer: the principal of the session's key, as it is now.
pub struct Viewer {
    pub principal: Principal,
    /// The CSRF token of the session, for the logout form.
    pub csrf: String,
    token: String,
}

/// The tenant a page shows, and the tenants the viewer may pick from.
pub struct Scope {
    pub id: i64,
    pub slug: String,
    /// Every tenant for an operator (the picker); just this one for an admin.
    pub choices: Vec<String>,
}

fn csrf_for(token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("dun-dashboard-csrf:{token}").as_bytes(),
    ))
}

/// The session token in the request's cookies, if any.
fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `Secure` when the request came through a TLS-terminating proxy.
fn cookie(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let text = format!(
        "{COOKIE}={value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn to_login(clear: Option<&HeaderMap>) -> Response {
    let mut response = Redirect::to("/dashboard/login").into_response();
    if let Some(headers) = clear {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, cookie(headers, "", 0));
    }
    response
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let Some(token) = token_of(&parts.headers) else {
            return Err(to_login(None));
        };
        let (lookup, now) = (token.clone(), app.clock.now());
        let principal = app
            .store
            .read(move |conn| sessions::principal(conn, &lookup, now))
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        match principal {
            // A client key cannot open a session; this guards a key whose
            // role could change under a session.
            Some(principal) if principal.role != Role::Client => Ok(Viewer {
                csrf: csrf_for(&token),
                principal,
                token,
            }),
            _ => Err(to_login(Some(&parts.headers))),
        }
    }
}

impl Viewer {
    pub fn role(&self) -> &'static str {
        self.principal.role.as_str()
    }

    /// The tenant to show: an admin's own (another named is refused); for
    /// an operator the one named, or the first.
    pub async fn scope(&self, app: &AppState, named: Option<&str>) -> Result<Scope, PageError> {
        if let Some((id, slug)) = &self.principal.tenant {
            if named.is_some_and(|n| n != slug) {
                return Err(PageError::new(
                    StatusCode::FORBIDDEN,
                    "An admin key sees only its own tenant.",
                ));
            }
            return Ok(Scope {
                id: *id,
                slug: slug.clone(),
                choices: vec![slug.clone()],
            });
        }
        let all = app.store.read(tenants::list).await?;
        let chosen = match named {
            Some(name) => all.iter().find(|t| t.id == name).ok_or_else(|| {
                PageError::new(StatusCode::NOT_FOUND, format!("tenant: no tenant {name:?}"))
            })?,
            None => all.first().ok_or_else(|| {
                PageError::new(
                    StatusCode::NOT_FOUND,
                    "There are no tenants yet: create one with `dun tenant create` or POST /v1/tenants.",
                )
            })?,
        };
        Ok(Scope {
            id: chosen.row_id,
            slug: chosen.id.clone(),
            choices: all.iter().map(|t| t.id.clone()).collect(),
        })
    }
}

/// `GET /dashboard/login`.
pub async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    match Page::render("login.html", minijinja::context! { error => error }) {
        Ok(body) => html(status, body),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    key: String,
}

/// `POST /dashboard/login`: a key in, a session cookie out.
pub async fn login(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !same_origin(&app, &headers) {
        return login_page(
            StatusCode::FORBIDDEN,
            Some("This form was sent from another site."),
        );
    }
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return login_page(StatusCode::BAD_REQUEST, Some("key: enter an API key."));
    };
    let secret = form.key.trim().to_owned();
    if secret.is_empty() {
        return login_page(StatusCode::BAD_REQUEST, Some("key: enter an API key."));
    }
    let principal = match app
        .store
        .read(move |conn| tenants::authenticate(conn, &secret))
        .await
    {
        Ok(p) => p,
        Err(e) => return PageError::from(e).into_response(),
    };
    let Some(principal) = principal else {
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("key: unknown or revoked API key."),
        );
    };
    if principal.role == Role::Client {
        return login_page(
            StatusCode::FORBIDDEN,
            Some(
                "key: a client key cannot open the dashboard; log in with an admin or operator key.",
            ),
        );
    }
    let (key_id, now) = (principal.key_id.clone(), app.clock.now());
    let token = match app
        .store
        .write(move |conn| sessions::open(conn, &key_id, now))
        .await
    {
        Ok(token) => token,
        // Revoked between the two steps.
        Err(StoreError::NotFound { .. }) => {
            return login_page(
                StatusCode::UNAUTHORIZED,
                Some("key: unknown or revoked API key."),
            );
        }
        Err(e) => return PageError::from(e).into_response(),
    };
    let mut response = Redirect::to("/dashboard/overview").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&headers, &token, sessions::LIFETIME.num_seconds()),
    );
    response
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

/// `POST /dashboard/logout`: ends the session (with its CSRF token).
pub async fn logout(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = serde_urlencoded::from_bytes::<LogoutForm>(&body).ok();
    if !same_origin(&app, &headers) || form.is_none_or(|f| f.csrf != viewer.csrf) {
        return PageError::new(
            StatusCode::FORBIDDEN,
            "csrf: this form's token does not match your session; reload the page and try again.",
        )
        .into_response();
    }
    let token = viewer.token;
    if let Err(e) = app
        .store
        .write(move |conn| sessions::close(conn, &token))
        .await
    {
        return PageError::from(e).into_response();
    }
    to_login(Some(&headers))
}

/// A form post is from this site when its `Origin` (sent by browsers on
/// every POST) names this host, or the configured `public_url` (behind a
/// proxy that rewrites `Host`); requests without one (not browsers) pass.
fn same_origin(app: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let public = app.portal.as_ref().is_some_and(|l| l.origin() == origin);
    public
        || origin
            .split_once("://")
            .is_some_and(|(_, rest)| !host.is_empty() && rest == host)
}
