//! `Idempotency-Key` on POST requests: the first response (below 500) is kept for a day per
//! (user, key) and replayed for a retry with the same method, path and body; a different
//! request under the same key gets 422, a retry while the first still runs gets 409. Kept in
//! the database so a retry that reaches another instance is answered the same way.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use qz_store::{IdempotencyBegin, StoredResponse};

use crate::api::ApiError;
use crate::api::auth::session_of;
use crate::app::AppState;
use crate::secrets::sha256_hex;

/// The header.
pub const HEADER: &str = "idempotency-key";

/// Responses larger than this are not kept (lists are not created by POST).
const MAX_KEPT: usize = 1024 * 1024;

/// The middleware.
pub async fn layer(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    // Authentication answers carry cookies, which a replay could not give again.
    if request.method() != Method::POST || request.uri().path().contains("/auth/") {
        return next.run(request).await;
    }
    let Some(key) = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(request).await;
    };
    match with_key(&state, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn with_key(state: &AppState, key: String, request: Request, next: Next) -> Result<Response, Response> {
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::invalid("Idempotency-Key must have 1 to 255 characters").into_response());
    }
    // Keys are per user; before login (registration) per client address is not safe to
    // share, so anonymous requests are scoped by the key alone under a fixed owner.
    let owner = match session_of(state, request.headers()).await {
        Ok(Some((_, user))) => user.id,
        Ok(None) => "anonymous".to_owned(),
        Err(err) => return Err(err.into_response()),
    };
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, state.config.max_upload + 1024)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            )
            .into_response()
        })?;
    let mut fingerprint = format!("{} {}\n", parts.method, parts.uri.path()).into_bytes();
    fingerprint.extend_from_slice(&bytes);
    let hash = sha256_hex(&fingerprint);
    match state.store.begin_idempotent(&owner, &key, &hash).await {
        Ok(IdempotencyBegin::Proceed) => {}
        Ok(IdempotencyBegin::Replay(stored)) => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            let mut response = (status, stored.body).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(response);
        }
        Ok(IdempotencyBegin::Mismatch) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_mismatch",
                "this Idempotency-Key was used for a different request",
            )
            .into_response());
        }
        Ok(IdempotencyBegin::InProgress) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still running",
            )
            .into_response());
        }
        Err(err) => return Err(ApiError::from(err).into_response()),
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let status = response.status();
    if status.is_server_error() {
        let _ = state.store.abandon_idempotent(&owner, &key).await;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_KEPT).await else {
        let _ = state.store.abandon_idempotent(&owner, &key).await;
        return Err(ApiError::internal("response too large to keep for Idempotency-Key").into_response());
    };
    let stored = StoredResponse {
        status: status.as_u16(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    if let Err(err) = state.store.finish_idempotent(&owner, &key, &stored).await {
        eprintln!("qz: could not keep an idempotent response: {err}");
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}
