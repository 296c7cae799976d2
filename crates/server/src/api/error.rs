//! RFC 9457 problem details: every error of the API is one of these, mapped in one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use qz_store::StoreError;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (also the last segment of `type`).
    pub code: &'static str,
    /// What went wrong, for people.
    pub detail: String,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
        }
    }

    /// 400 with a message saying what to fix.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", detail)
    }

    /// 401.
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "log in first")
    }

    /// 404 (also what outsiders get for things they may not see).
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 429.
    pub fn rate_limited(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
    }

    /// 500 whose cause goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        eprintln!("qz: internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; the error was logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let problem = Problem {
            kind: format!("https://qianzhang.dev/problems/{}", self.code),
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
        };
        let mut response = (self.status, Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(what) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", format!("{what} already exists"))
            }
            StoreError::Stale(what) => ApiError::new(
                StatusCode::CONFLICT,
                "stale",
                format!("{what} changed meanwhile; reload and try again"),
            ),
            StoreError::Rule(rule) => rule.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<qz_domain::Error> for ApiError {
    fn from(err: qz_domain::Error) -> Self {
        use qz_domain::Error as E;
        match err {
            E::Invalid(text) => ApiError::invalid(text),
            E::Forbidden(text) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", text),
            E::Hidden => ApiError::not_found("the object"),
            E::State(text) => ApiError::new(StatusCode::CONFLICT, "state", text),
            other => ApiError::invalid(other.to_string()),
        }
    }
}

impl From<crate::secrets::SecretError> for ApiError {
    fn from(err: crate::secrets::SecretError) -> Self {
        ApiError::internal(err)
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(err: axum::extract::rejection::JsonRejection) -> Self {
        ApiError::new(err.status(), "invalid_body", err.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(err: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::invalid(err.body_text())
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
