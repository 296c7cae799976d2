//! Work on several flows or on a flow's parties at once: reminders (催签), batch revocation
//! (批量撤销) and zip downloads (批量下载).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use qz_domain::flow::Party;
use qz_store::Flow;

use crate::api::auth::Caller;
use crate::api::flow_sign::rule_error;
use crate::api::flows::{ReasonForm, notify_ended, reason, visible_flow};
use crate::api::{ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::notify::Template;

/// A file name safe inside a zip: no directories, no control characters.
fn zip_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim();
    if cleaned.is_empty() {
        "document.pdf".to_owned()
    } else {
        cleaned.chars().take(120).collect()
    }
}

/// Most flows in one batch download.
const MAX_ZIP_FLOWS: usize = 50;

/// The current documents of `flows` as a zip: one folder per flow when there are several.
async fn zip_of(state: &AppState, flows: &[Flow]) -> ApiResult<Response> {
    let mut files = Vec::new();
    for flow in flows {
        for doc in &flow.documents {
            let folder = if flows.len() > 1 {
                format!(
                    "{}-{}/",
                    zip_name(&flow.title),
                    &flow.id[flow.id.len().saturating_sub(6)..]
                )
            } else {
                String::new()
            };
            let name = format!("{folder}{:02}-{}", doc.idx + 1, zip_name(&doc.name));
            files.push((name, state.blobs.get(&doc.current_sha256).await?));
        }
    }
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, zip::result::ZipError> {
        use std::io::Write as _;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        // PDFs are compressed already: stored, not deflated again.
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, data) in files {
            writer.start_file(name, options)?;
            writer.write_all(&data)?;
        }
        Ok(writer.finish()?.into_inner())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/zip"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"documents.zip\""),
    );
    Ok((headers, bytes).into_response())
}

/// `GET /flows/{id}/documents.zip`: every document of the flow.
pub async fn download_zip(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let flow = visible_flow(&state, &caller, &id).await?;
    zip_of(&state, &[flow]).await
}

/// `POST /flows/download` body.
#[derive(Debug, Deserialize)]
pub struct DownloadForm {
    /// Flow ids (at most 50).
    pub ids: Vec<String>,
}

/// `POST /flows/download`: the documents of several flows in one zip (批量下载); every flow
/// must be visible to the caller.
pub async fn download_many(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<DownloadForm>,
) -> ApiResult<Response> {
    if form.ids.is_empty() || form.ids.len() > MAX_ZIP_FLOWS {
        return Err(ApiError::invalid(format!(
            "download 1 to {MAX_ZIP_FLOWS} flows at once"
        )));
    }
    let mut flows = Vec::with_capacity(form.ids.len());
    for id in &form.ids {
        flows.push(visible_flow(&state, &caller, id).await?);
    }
    zip_of(&state, &flows).await
}

/// How often one signer of one flow may be reminded.
const REMIND_EVERY: i64 = 3600;

/// `POST /flows/{id}/remind`: the initiator reminds the signers whose turn it is by SMS (催签),
/// each at most once an hour per flow. Answers who was reminded and who was skipped.
pub async fn remind(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (reminded, skipped) = remind_flow(&state, &caller, &id).await?;
    Ok(Json(
        serde_json::json!({ "reminded": reminded, "skipped": skipped }),
    ))
}

/// `POST /flows/remind` body: several flows at once (批量催签).
#[derive(Debug, Deserialize)]
pub struct BatchRemindForm {
    /// Flow ids (at most 100).
    pub ids: Vec<String>,
}

/// `POST /flows/remind`: reminds the current signers of each flow; answers per flow.
pub async fn remind_many(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<BatchRemindForm>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    if form.ids.is_empty() || form.ids.len() > 100 {
        return Err(ApiError::invalid("remind 1 to 100 flows at once"));
    }
    let mut results = Vec::with_capacity(form.ids.len());
    for id in &form.ids {
        results.push(match remind_flow(&state, &caller, id).await {
            Ok((reminded, skipped)) => {
                serde_json::json!({ "id": id, "reminded": reminded, "skipped": skipped })
            }
            Err(err) => serde_json::json!({ "id": id, "error": err.code, "detail": err.detail }),
        });
    }
    Ok(Json(results))
}

/// Reminds one flow's current signers; the slots reminded and skipped.
async fn remind_flow(state: &AppState, caller: &Caller, id: &str) -> ApiResult<(Vec<String>, Vec<String>)> {
    let flow = visible_flow(state, caller, id).await?;
    if flow.initiator != caller.user.id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the initiator sends reminders",
        ));
    }
    if flow.status.ended() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            format!("the flow is {}", flow.status.as_str()),
        ));
    }
    let now = qz_store::now();
    let trail = state.store.trail(&format!("flow:{id}")).await?;
    let recently = |signer: &str| {
        trail.iter().any(|e| {
            e.action == "flow.reminded"
                && now - e.at < REMIND_EVERY
                && e.details.contains(&format!("\"{signer}\""))
        })
    };
    let (mut reminded, mut skipped) = (Vec::new(), Vec::new());
    for signer in flow.as_ref().current_signers() {
        if recently(&signer.id) {
            skipped.push(signer.id.clone());
            continue;
        }
        let recipient = match &signer.party {
            Party::Person(user) => Some(user.clone()),
            Party::Org(org) => state.store.org_admin(org).await?,
        };
        let Some(user_id) = recipient else {
            skipped.push(signer.id.clone());
            continue;
        };
        let user = state.store.user(&user_id).await?;
        let sent = match flow.signers.iter().find(|s| s.id == signer.id) {
            // An unregistered signer gets a fresh link (the older one stops working).
            Some(slot) if user.guest => crate::api::guests::send_link(state, &flow, slot, &user).await,
            _ => {
                state
                    .notifier
                    .send(
                        "sms",
                        &user.phone,
                        &user.locale,
                        &Template::FlowWaiting { title: &flow.title },
                    )
                    .await
            }
        };
        match sent {
            Ok(()) => {
                state
                    .store
                    .record(
                        &format!("flow:{id}"),
                        "flow.reminded",
                        &serde_json::json!({ "signer_id": signer.id }).to_string(),
                        &caller.context(),
                    )
                    .await?;
                reminded.push(signer.id.clone());
            }
            // The recipient's hourly message limit: skipped, not an error for the others.
            Err(err) if err.status == StatusCode::TOO_MANY_REQUESTS => skipped.push(signer.id.clone()),
            Err(err) => return Err(err),
        }
    }
    Ok((reminded, skipped))
}

/// `POST /flows/revoke` body: several flows at once (批量撤销).
#[derive(Debug, Deserialize)]
pub struct BatchRevokeForm {
    /// Flow ids (at most 100).
    pub ids: Vec<String>,
    /// Why.
    pub reason: String,
}

/// `POST /flows/revoke`: revokes each flow the caller initiated and that still runs; answers
/// per flow.
pub async fn revoke_many(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<BatchRevokeForm>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    if form.ids.is_empty() || form.ids.len() > 100 {
        return Err(ApiError::invalid("revoke 1 to 100 flows at once"));
    }
    let reason = reason(&ReasonForm {
        signer_id: None,
        reason: form.reason.clone(),
    })?
    .to_owned();
    let mut results = Vec::with_capacity(form.ids.len());
    for id in &form.ids {
        let outcome = match visible_flow(&state, &caller, id).await {
            Ok(_) => state
                .store
                .revoke_flow(&caller.actor, id, &reason, &caller.context())
                .await
                .map_err(rule_error),
            Err(err) => Err(err),
        };
        results.push(match outcome {
            Ok(flow) => {
                notify_ended(&state, &flow).await;
                serde_json::json!({ "id": id, "status": flow.status.as_str() })
            }
            Err(err) => serde_json::json!({ "id": id, "error": err.code, "detail": err.detail }),
        });
    }
    Ok(Json(results))
}

/// `?scope=` of `GET /flows/abnormal`.
#[derive(Debug, Deserialize)]
pub struct AbnormalQuery {
    /// `all` (platform admins): every flow's; default: the flows the caller started.
    pub scope: Option<String>,
}

/// `GET /flows/abnormal` (异常任务): signings and notifications of the caller's flows that
/// failed, with the reasons; platform admins may ask for all flows.
pub async fn abnormal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    axum::extract::Query(query): axum::extract::Query<AbnormalQuery>,
) -> ApiResult<Json<Vec<qz_store::FlowFailure>>> {
    let user = match query.scope.as_deref() {
        Some("all") if caller.actor.platform_admin => None,
        Some("all") => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only platform administrators see every flow's abnormal tasks",
            ));
        }
        _ => Some(caller.user.id.as_str()),
    };
    Ok(Json(state.store.flow_failures(user, 200).await?))
}
