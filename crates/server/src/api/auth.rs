//! Who is calling: the session cookie, the CSRF check, the client's address for the trail and
//! rate limits.
//!
//! The cookie holds a random token; the database holds its SHA-256. State-changing requests
//! must carry the session's CSRF token in `X-CSRF-Token` (the login answer and the readable
//! `qz_csrf` cookie give it to the page): a cross-site form can make the browser send the
//! cookie, but cannot read the token. The session cookie is also SameSite=Lax.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use qz_domain::access::Actor;
use qz_domain::identity::IdentityStatus;
use qz_store::{Session, StoreError, TrailContext, User};

use crate::api::ApiError;
use crate::app::AppState;
use crate::config::ServerConfig;
use crate::secrets::{constant_time_eq, sha256_hex};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "qz_session";
/// The readable cookie holding the CSRF token.
pub const CSRF_COOKIE: &str = "qz_csrf";
/// The header that must echo it.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The client's address and user agent (for the trail and rate limits).
#[derive(Debug, Clone)]
pub struct Client {
    /// IP address.
    pub ip: String,
    /// User agent (truncated).
    pub user_agent: Option<String>,
}

impl Client {
    /// The trail context of an anonymous request.
    pub fn context(&self) -> TrailContext {
        TrailContext {
            actor: None,
            acting_for: None,
            ip: Some(self.ip.clone()),
            user_agent: self.user_agent.clone(),
        }
    }
}

fn client_of(parts: &Parts, config: &ServerConfig) -> Client {
    let forwarded = config
        .trust_proxy
        .then(|| {
            parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_owned())
        })
        .flatten();
    let ip = forwarded.unwrap_or_else(|| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    });
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(200).collect());
    Client { ip, user_agent }
}

impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        Ok(client_of(parts, &state.config))
    }
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` headers that start a session.
pub fn session_cookies(config: &ServerConfig, token: &str, csrf: &str) -> [HeaderValue; 2] {
    let secure = if config.secure_cookies() { "; Secure" } else { "" };
    let ttl = config.session_ttl;
    [
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={ttl}{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("")),
        HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict; Max-Age={ttl}{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("")),
    ]
}

/// The `Set-Cookie` headers that end one.
pub fn clear_cookies() -> [HeaderValue; 2] {
    [
        HeaderValue::from_static("qz_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        HeaderValue::from_static("qz_csrf=; Path=/; SameSite=Strict; Max-Age=0"),
    ]
}

/// A logged-in caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account.
    pub user: User,
    /// The session.
    pub session: Session,
    /// Roles and memberships, for the domain's checks.
    pub actor: Actor,
    /// Address and user agent.
    pub client: Client,
}

impl Caller {
    /// The trail context of this caller's changes.
    pub fn context(&self) -> TrailContext {
        TrailContext {
            actor: Some(self.user.id.clone()),
            acting_for: self.session.acting_for.clone(),
            ip: Some(self.client.ip.clone()),
            user_agent: self.client.user_agent.clone(),
        }
    }
}

/// Whether the request echoes the session's CSRF token.
pub fn check_csrf(headers: &HeaderMap, session: &Session) -> Result<(), ApiError> {
    let sent = headers
        .get(CSRF_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if constant_time_eq(sent, session.csrf.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "missing or wrong X-CSRF-Token header",
        ))
    }
}

/// The session behind the request's cookie, if any (no CSRF check: for reading only).
pub async fn session_of(state: &AppState, headers: &HeaderMap) -> Result<Option<(Session, User)>, ApiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    match state.store.session(&sha256_hex(token.as_bytes())).await {
        Ok(found) => Ok(Some(found)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (session, user) = session_of(state, &parts.headers)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        if user.disabled {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "disabled",
                "this account is disabled",
            ));
        }
        if let Some(flow) = &session.scope
            && !crate::api::guests::scope_allows(parts.uri.path(), flow)
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "scoped",
                "this signing link opens only its own task; log in to do anything else",
            ));
        }
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            check_csrf(&parts.headers, &session)?;
        }
        let memberships = state.store.memberships(&user.id).await?;
        let identity_verified = state
            .store
            .identity(&user.id)
            .await?
            .is_some_and(|i| i.status == IdentityStatus::Verified);
        let actor = Actor {
            user_id: user.id.clone(),
            platform_admin: user.platform_admin,
            identity_verified,
            memberships,
        };
        Ok(Caller {
            user,
            session,
            actor,
            client: client_of(parts, &state.config),
        })
    }
}
