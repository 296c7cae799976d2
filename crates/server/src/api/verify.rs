//! `POST /verify` (文件验证): anyone may check a signed PDF, logged in or not. The report is
//! `qz verify`'s (integrity, signer, chain to the platform root, revocation from fresh CRLs of
//! the platform CA, every change after signing), plus the document revocation registry
//! (文件吊销): the file, or any earlier revision of it, revoked by its flow's initiator or an
//! admin is reported with the reason.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use qz_store::RevokedDocument;

use crate::api::auth::{Caller, Client};
use crate::api::{ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::pki::PlatformRevocation;
use crate::secrets::sha256_hex;

/// The SHA-256 of the file and of every revision in it (each prefix ending with `%%EOF` and
/// its line end), so a revoked document is found even with later updates appended.
pub fn revision_hashes(bytes: &[u8]) -> Vec<String> {
    let mut hashes = vec![sha256_hex(bytes)];
    let marker = b"%%EOF";
    let mut at = 0;
    while let Some(found) = bytes
        .get(at..)
        .and_then(|rest| rest.windows(marker.len()).position(|w| w == marker))
    {
        // A revision ends at `%%EOF` or after its end-of-line marker: both are hashed.
        let bare = at + found + marker.len();
        let eol = match bytes.get(bare..bare + 2) {
            Some(b"\r\n") => 2,
            _ if matches!(bytes.get(bare), Some(b'\n' | b'\r')) => 1,
            _ => 0,
        };
        for end in [bare, bare + eol] {
            if end < bytes.len() {
                let hash = sha256_hex(&bytes[..end]);
                if !hashes.contains(&hash) {
                    hashes.push(hash);
                }
            }
        }
        at = bare;
    }
    hashes.truncate(100);
    hashes
}

/// `POST /verify`: the report and the registry's entry, if any.
pub async fn verify(
    State(state): State<Arc<AppState>>,
    client: Client,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    state.limiter.check(&format!("verify:{}", client.ip), 30)?;
    Ok(Json(verify_bytes(&state, body).await?))
}

/// The verification answer for one file: the report and the registry's entry.
pub async fn verify_bytes(state: &AppState, body: Bytes) -> ApiResult<serde_json::Value> {
    if body.is_empty() {
        return Err(ApiError::invalid("send the PDF as the request body"));
    }
    let hashes = revision_hashes(&body);
    let pki = state.pki.clone();
    let report = tokio::task::spawn_blocking(move || {
        let options = qz_verify::VerifyOptions {
            trust_anchors: pki.root_certificate().into_iter().collect(),
            online: Some(Arc::new(PlatformRevocation(pki.clone())) as Arc<dyn qz_verify::RevocationSource>),
            ..qz_verify::VerifyOptions::default()
        };
        qz_verify::verify(&body, &options)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::invalid(format!("cannot verify this file: {e}")))?;
    let revoked: Option<RevokedDocument> = state.store.revoked_document(&hashes).await?;
    Ok(serde_json::json!({
        "report": report,
        "document_revocation": revoked,
    }))
}

/// `POST /flows/{id}/documents/{idx}/revoke` body.
#[derive(Debug, Deserialize)]
pub struct RevokeDocumentForm {
    /// Why.
    pub reason: String,
}

/// `POST /flows/{id}/documents/{idx}/revoke`: the initiator or a platform admin enters a
/// completed document in the revocation registry.
pub async fn revoke_document(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, idx)): Path<(String, i64)>,
    Body(form): Body<RevokeDocumentForm>,
) -> ApiResult<(StatusCode, Json<RevokedDocument>)> {
    let visible = caller.actor.platform_admin || state.store.may_see_flow(&caller.user.id, &id).await?;
    if !visible {
        return Err(ApiError::not_found("flow"));
    }
    let flow = state.store.flow(&id).await?;
    if flow.initiator != caller.user.id && !caller.actor.platform_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the initiator or a platform admin revokes a document",
        ));
    }
    let reason = form.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::invalid("give a reason"));
    }
    qz_domain::grant::check_note(reason)?;
    let entry = state
        .store
        .revoke_document(&flow, idx, reason, &caller.context())
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_revision_is_hashed() {
        let file = b"%PDF-1.7\n1 0 obj\n%%EOF\n\nmore\n%%EOF\r\n".to_vec();
        let hashes = revision_hashes(&file);
        assert_eq!(hashes[0], sha256_hex(&file));
        assert!(hashes.contains(&sha256_hex(b"%PDF-1.7\n1 0 obj\n%%EOF\n")));
        assert!(hashes.contains(&sha256_hex(b"%PDF-1.7\n1 0 obj\n%%EOF")));
        assert!(hashes.contains(&sha256_hex(&file[..file.len() - 2])));
        assert_eq!(hashes.len(), 4);
        assert_eq!(revision_hashes(b"no marker"), [sha256_hex(b"no marker")]);
    }
}
