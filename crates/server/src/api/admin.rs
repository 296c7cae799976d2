//! Files and administration: blob upload and download, the user list, the development
//! outbox, the trail of any object and its verification.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use qz_store::blobs::BlobInfo;
use qz_store::{Message, StoreError, TrailEvent, User};

use crate::api::auth::Caller;
use crate::api::{ApiError, ApiResult, ListQuery, PageOut};
use crate::app::AppState;

/// What an upload may be, told by its first bytes (the Content-Type header is only a claim).
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"PK\x03\x04") {
        // Both are ZIP packages; their part names are stored uncompressed in the headers.
        if contains(bytes, b"word/") {
            Some(crate::api::convert::DOCX)
        } else if contains(bytes, b"xl/") {
            Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        } else {
            None
        }
    } else if bytes.starts_with(&[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) {
        // OLE2 compound file: a Word 97–2003 document (converted, never parsed here).
        Some(crate::api::convert::DOC)
    } else {
        None
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `POST /blobs`: the raw body is the file (PNG, JPEG, PDF, XLSX, DOCX or DOC; at most the
/// configured upload size, 10 MiB by default).
pub async fn upload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<BlobInfo>)> {
    state.limiter.check(&format!("upload:{}", caller.user.id), 60)?;
    if body.is_empty() {
        return Err(ApiError::invalid("the body is empty"));
    }
    let content_type = sniff(&body).ok_or_else(|| {
        ApiError::invalid("only PNG, JPEG, PDF, XLSX and Word (DOCX, DOC) files are accepted")
    })?;
    let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
    let sha256 = state.blobs.put(body.to_vec()).await?;
    let info = state
        .store
        .create_blob(&sha256, size, content_type, &caller.user.id, &caller.context())
        .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// `GET /blobs/{id}`: the uploader, or a platform admin (who reviews licences).
pub async fn download(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let info = match state.store.blob(&id).await {
        Ok(info) if info.owner_id == caller.user.id || caller.actor.platform_admin => info,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("file")),
        Err(err) => return Err(err.into()),
    };
    let bytes = state.blobs.get(&info.sha256).await?;
    let mut headers = HeaderMap::new();
    if let Ok(value) = info.content_type.parse() {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    Ok((headers, bytes).into_response())
}

/// `GET /admin/users`.
pub async fn users(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<PageOut<User>>> {
    caller.actor.may_administer()?;
    Ok(Json(
        state
            .store
            .users_page(query.cursor(), query.limit())
            .await?
            .into(),
    ))
}

/// `GET /admin/users/{id}`: the account, its identity and memberships.
pub async fn user(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.actor.may_administer()?;
    let user = state.store.user(&id).await?;
    let identity = state.store.identity(&id).await?;
    let memberships: Vec<_> = state
        .store
        .memberships(&id)
        .await?
        .into_iter()
        .map(|m| serde_json::json!({ "org_id": m.org_id, "role": m.role.as_str() }))
        .collect();
    Ok(Json(serde_json::json!({
        "user": user,
        "identity": identity,
        "orgs": memberships,
    })))
}

/// `GET /admin/outbox` query.
#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    /// Cursor.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
    /// Only messages to this phone number or address.
    pub recipient: Option<String>,
}

/// `GET /admin/outbox`: SMS and e-mail with their delivery state; with no provider
/// configured this is the development outbox where codes can be read.
pub async fn outbox(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<OutboxQuery>,
) -> ApiResult<Json<PageOut<Message>>> {
    caller.actor.may_administer()?;
    Ok(Json(
        state
            .store
            .outbox_page(
                query.recipient.as_deref(),
                query.cursor.as_deref(),
                qz_store::clamp_limit(query.limit),
            )
            .await?
            .into(),
    ))
}

/// `GET /admin/trail` query.
#[derive(Debug, Deserialize)]
pub struct TrailQuery {
    /// e.g. `user:ID`, `org:ID`, `request:ID`.
    pub object: String,
    /// Cursor.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
}

/// `GET /admin/trail`: any object's events.
pub async fn trail(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<TrailQuery>,
) -> ApiResult<Json<PageOut<TrailEvent>>> {
    caller.actor.may_administer()?;
    Ok(Json(
        state
            .store
            .trail_page(
                &query.object,
                query.cursor.as_deref(),
                qz_store::clamp_limit(query.limit),
            )
            .await?
            .into(),
    ))
}

/// `POST /admin/trail/verify`: checks every chain (as `qz admin verify-trail` does).
pub async fn verify_trail(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    caller.actor.may_administer()?;
    match state.store.verify_trail().await {
        Ok(events) => Ok(Json(serde_json::json!({ "ok": true, "events": events }))),
        Err(StoreError::BrokenTrail { object, seq, why }) => Ok(Json(serde_json::json!({
            "ok": false, "object": object, "seq": seq, "problem": why
        }))),
        Err(err) => Err(err.into()),
    }
}
