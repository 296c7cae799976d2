//! Signing flows (签署流程, S 二, B 3.5–3.6): create, the inbox views, sign, decline, revoke,
//! download.
//!
//! Signing appends one PAdES signature (B-T, the platform's TSA) per signer per document. The
//! signature is made on the document version the signer read and appended only if nobody else
//! appended meanwhile (`Store::append_signature`); otherwise it is made again on the newer
//! version, so parallel signers of one document all end up in the file. Each document's
//! signature is recorded with the stamp's permission check in one transaction, and one
//! signature per signer and document is all the store accepts, so a retried request does not
//! sign twice.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use qz_domain::flow::{
    Inbox, Party, SignerRef, SignerStatus, check_signers, check_title, deadline_end_of_day,
};
use qz_domain::grant::check_note;
use qz_store::{Flow, FlowSummary, NewFlow, NewSigner, StoreError};

use crate::api::auth::Caller;
use crate::api::flow_sign::{my_slot, rule_error};
use crate::api::stamp::Placement;
use crate::api::{ApiError, ApiResult, Body, PageOut};
use crate::app::AppState;
use crate::notify::Template;

/// Most documents in one flow (a contract group).
pub const MAX_DOCUMENTS: usize = 20;

/// A document of a new flow.
#[derive(Debug, Deserialize)]
pub struct DocumentForm {
    /// A PDF the initiator uploaded.
    pub blob_id: String,
    /// File name shown to signers.
    pub name: Option<String>,
}

/// A signer of a new flow.
#[derive(Debug, Deserialize)]
pub struct SignerForm {
    /// A registered person, by id…
    pub user_id: Option<String>,
    /// …or by phone number.
    pub phone: Option<String>,
    /// An organization (internal department or verified outside company).
    pub org_id: Option<String>,
    /// An unregistered person: their name, with `phone` and `id_number`; they sign through an
    /// SMS link.
    pub name: Option<String>,
    /// ID number of an unregistered person (checked when they open the link).
    pub id_number: Option<String>,
    /// Stage for `order = staged`.
    pub stage: Option<u32>,
    /// Whether they may decline (default true).
    pub may_decline: Option<bool>,
    /// Preset stamp positions: `[{document, page, x, y, width?}]`.
    #[serde(default)]
    pub positions: Vec<PresetForm>,
}

/// A preset stamp position.
#[derive(Debug, Deserialize, serde::Serialize, Clone, Copy)]
pub struct PresetForm {
    /// Document index, from 0.
    pub document: usize,
    /// Where on it.
    #[serde(flatten)]
    pub placement: Placement,
}

/// `POST /flows` body.
#[derive(Debug, Deserialize)]
pub struct NewFlowForm {
    /// Title.
    pub title: String,
    /// Business type.
    pub business_type: Option<String>,
    /// `YYYY-MM-DD`: the flow expires at 24:00 of that day, China time.
    pub deadline: Option<String>,
    /// The documents.
    pub documents: Vec<DocumentForm>,
    /// The signers.
    pub signers: Vec<SignerForm>,
    /// unordered (everyone at once, default), ordered (one after another, as listed), staged
    /// (by each signer's `stage`).
    pub order: Option<String>,
    /// CC recipients (user ids).
    #[serde(default)]
    pub cc: Vec<String>,
}

/// Queues an in-app message; a message that cannot be queued must not undo a signature, so it
/// is logged and listed among the flow's abnormal tasks instead of returned.
async fn notify(state: &AppState, flow_id: &str, user_id: &str, template: &Template<'_>) {
    let result = match state.store.user(user_id).await {
        Ok(user) => state.notifier.inbox(user_id, &user.locale, template).await,
        Err(err) => Err(err.into()),
    };
    if let Err(err) = result {
        failed_notification(
            state,
            flow_id,
            None,
            &format!("notifying {user_id}: {}", err.detail),
        )
        .await;
    }
}

async fn failed_notification(state: &AppState, flow_id: &str, signer_id: Option<&str>, reason: &str) {
    eprintln!("qz: flow {flow_id}: {reason}");
    if let Err(err) = state
        .store
        .record_flow_failure(flow_id, signer_id, "notification", reason)
        .await
    {
        eprintln!("qz: recording a failed notification: {err}");
    }
}

/// The people whose turn has just come (compared with `before`, the flow as it was): person
/// slots (an unregistered signer gets their SMS link), and for organization slots the org's
/// admin. Slots whose turn had come already are not told again (a guest's link would be
/// replaced under their fingers).
pub(crate) async fn notify_current(state: &AppState, flow: &Flow, before: Option<&Flow>) {
    let rules = flow.as_ref();
    let earlier: Vec<String> = before
        .map(|b| {
            b.as_ref()
                .current_signers()
                .iter()
                .map(|s| s.id.clone())
                .collect()
        })
        .unwrap_or_default();
    for signer in rules.current_signers() {
        if earlier.contains(&signer.id) {
            continue;
        }
        let recipient = match &signer.party {
            Party::Person(user) => Some(user.clone()),
            Party::Org(org) => state.store.org_admin(org).await.ok().flatten(),
        };
        let Some(user_id) = recipient else {
            continue;
        };
        match state.store.user(&user_id).await {
            Ok(user) if user.guest => {
                let Some(slot) = flow.signers.iter().find(|s| s.id == signer.id) else {
                    continue;
                };
                if let Err(err) = crate::api::guests::send_link(state, flow, slot, &user).await {
                    let reason = format!("the signing link to {}: {}", user.phone, err.detail);
                    failed_notification(state, &flow.id, Some(&slot.id), &reason).await;
                }
            }
            _ => {
                notify(
                    state,
                    &flow.id,
                    &user_id,
                    &Template::FlowWaiting { title: &flow.title },
                )
                .await
            }
        }
    }
}

pub(crate) async fn notify_ended(state: &AppState, flow: &Flow) {
    let mut recipients: Vec<String> = vec![flow.initiator.clone()];
    recipients.extend(
        flow.signers
            .iter()
            .filter_map(|s| s.user_id.clone().or(s.signed_by.clone())),
    );
    recipients.extend(flow.cc.iter().cloned());
    recipients.sort();
    recipients.dedup();
    for user in recipients {
        notify(
            state,
            &flow.id,
            &user,
            &Template::FlowEnded {
                title: &flow.title,
                outcome: flow.status.as_str(),
                reason: flow.reason.as_deref(),
            },
        )
        .await;
    }
}

/// `POST /flows`: starts a flow (single-party signing is a flow whose only signer is the
/// initiator).
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<NewFlowForm>,
) -> ApiResult<(StatusCode, Json<FlowOut>)> {
    if !caller.actor.identity_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "verify your identity before starting a flow",
        ));
    }
    let title = form.title.trim();
    check_title(title)?;
    let settings = crate::api::settings::load(&state).await?;
    if let Some(kind) = &form.business_type {
        check_note(kind)?;
        if !settings.business_types.is_empty() && !settings.business_types.iter().any(|t| t == kind) {
            return Err(ApiError::invalid(format!(
                "business type is one of: {}",
                settings.business_types.join("、")
            )));
        }
    }
    if form.documents.is_empty() || form.documents.len() > settings.max_documents {
        return Err(ApiError::invalid(format!(
            "a flow has 1 to {} documents",
            settings.max_documents
        )));
    }
    let deadline = match (&form.deadline, settings.default_deadline_days) {
        (Some(d), _) => Some(deadline_end_of_day(d, 8 * 3600, qz_store::now())?),
        (None, Some(days)) => Some(qz_store::now() + i64::from(days) * 86_400),
        (None, None) => None,
    };
    let mut documents = Vec::new();
    for doc in &form.documents {
        let mut info = match state.store.blob(&doc.blob_id).await {
            Ok(info) if info.owner_id == caller.user.id => info,
            Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("document")),
            Err(err) => return Err(err.into()),
        };
        if !settings.allows(&info.content_type) {
            return Err(ApiError::invalid(format!(
                "documents are {} files",
                settings.file_types.join(", ")
            )));
        }
        if u64::try_from(info.size).unwrap_or(u64::MAX) > settings.max_file_mb * 1024 * 1024 {
            return Err(ApiError::invalid(format!(
                "a document is at most {} MiB",
                settings.max_file_mb
            )));
        }
        let mut bytes = state.blobs.get(&info.sha256).await?;
        if crate::api::convert::is_word(&info.content_type) {
            // The flow signs the PDF; the Word original stays the initiator's upload.
            bytes = crate::api::convert::word_to_pdf(&state, &bytes, &info.content_type).await?;
            let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
            let sha256 = state.blobs.put(bytes.clone()).await?;
            info = state
                .store
                .create_blob(
                    &sha256,
                    size,
                    "application/pdf",
                    &caller.user.id,
                    &caller.context(),
                )
                .await?;
        }
        let check =
            tokio::task::spawn_blocking(move || qz_pdf::Document::open(&bytes).map(|d| d.pages().len()))
                .await
                .map_err(ApiError::internal)?;
        let pages = check.map_err(|e| ApiError::invalid(format!("{}: {e}", doc.blob_id)))?;
        let name = doc
            .name
            .clone()
            .unwrap_or_else(|| format!("document-{}.pdf", documents.len() + 1));
        check_note(&name)?;
        documents.push(((name, info.id.clone(), info.sha256.clone(), info.size), pages));
    }
    let order = form.order.as_deref().unwrap_or("unordered");
    let mut signers = Vec::new();
    let mut rules = Vec::new();
    for (i, signer) in form.signers.iter().enumerate() {
        let stage = match order {
            "unordered" => 0,
            "ordered" => u32::try_from(i).unwrap_or(u32::MAX),
            "staged" => signer.stage.unwrap_or(0),
            _ => return Err(ApiError::invalid("order is unordered, ordered or staged")),
        };
        let mut expected = None;
        let party = match (&signer.user_id, &signer.phone, &signer.org_id) {
            (Some(user), None, None) => Party::Person(state.store.user(user).await?.id),
            (None, Some(phone), None) if signer.name.is_some() || signer.id_number.is_some() => {
                let (Some(name), Some(id_number)) = (&signer.name, &signer.id_number) else {
                    return Err(ApiError::invalid(
                        "an unregistered signer needs name, phone and id_number",
                    ));
                };
                let (user, named) = crate::api::guests::named_person(
                    &state,
                    name,
                    phone.trim(),
                    id_number,
                    &caller.context(),
                )
                .await?;
                expected = Some(named);
                Party::Person(user.id)
            }
            (None, Some(phone), None) => Party::Person(
                state
                    .store
                    .user_by_phone(phone.trim())
                    .await
                    .map_err(|_| {
                        ApiError::invalid(format!(
                            "no registered person with phone {phone} (give name and id_number to invite them)"
                        ))
                    })?
                    .id,
            ),
            (None, None, Some(org)) => {
                let org = state.store.org(org).await?;
                if !org.verified {
                    return Err(ApiError::invalid(format!("{} is not verified", org.name)));
                }
                Party::Org(org.id)
            }
            _ => return Err(ApiError::invalid("a signer is one of user_id, phone or org_id")),
        };
        for preset in &signer.positions {
            let Some((_, pages)) = documents.get(preset.document) else {
                return Err(ApiError::invalid(format!("no document {}", preset.document)));
            };
            let last = preset
                .placement
                .cross_page
                .map_or(preset.placement.page, |c| c.to);
            if preset.placement.page == 0 || preset.placement.page > *pages || last > *pages {
                return Err(ApiError::invalid(format!(
                    "document {} has {pages} pages",
                    preset.document
                )));
            }
        }
        let positions = serde_json::to_value(&signer.positions).map_err(ApiError::internal)?;
        let may_decline = signer.may_decline.unwrap_or(true);
        rules.push(SignerRef {
            id: i.to_string(),
            stage,
            party: party.clone(),
            status: SignerStatus::Waiting,
            may_decline,
        });
        let (user, org) = match party {
            Party::Person(user) => (Some(user), None),
            Party::Org(org) => (None, Some(org)),
        };
        signers.push(NewSigner {
            stage,
            user_id: user,
            org_id: org,
            may_decline,
            positions,
            expected,
        });
    }
    check_signers(&rules)?;
    if form.cc.len() > 50 {
        return Err(ApiError::invalid("at most 50 CC recipients"));
    }
    let flow = state
        .store
        .create_flow(
            &NewFlow {
                title,
                business_type: form.business_type.as_deref(),
                initiator: &caller.user.id,
                acting_for: caller.session.acting_for.as_deref(),
                deadline,
                documents: documents.into_iter().map(|(d, _)| d).collect(),
                signers,
                cc: form.cc.clone(),
            },
            &caller.context(),
        )
        .await?;
    notify_current(&state, &flow, None).await;
    Ok((StatusCode::CREATED, Json(with_names(&state, flow).await?)))
}

/// `?box=&cursor=&limit=` of `GET /flows`.
#[derive(Debug, Deserialize)]
pub struct InboxQuery {
    /// todo (待我签署, default), waiting_others (待他人签署), completed (已完成签署), void
    /// (已作废), cc (抄送我的), initiated (我发起的).
    #[serde(rename = "box")]
    pub view: Option<String>,
    /// Cursor.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
}

/// `GET /flows`: one inbox view, newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<InboxQuery>,
) -> ApiResult<Json<PageOut<FlowSummary>>> {
    let view = Inbox::parse(query.view.as_deref().unwrap_or("todo"))?;
    Ok(Json(
        state
            .store
            .inbox(
                &caller.user.id,
                view,
                query.cursor.as_deref(),
                qz_store::clamp_limit(query.limit),
            )
            .await?
            .into(),
    ))
}

/// A flow its parties may see, or any flow for a platform administrator: the overview and
/// trail only (the documents stay with the parties, [`visible_flow`]).
async fn overview_flow(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Flow> {
    if caller.actor.platform_admin {
        return Ok(state.store.flow(id).await?);
    }
    visible_flow(state, caller, id).await
}

pub(crate) async fn visible_flow(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Flow> {
    if !state.store.may_see_flow(&caller.user.id, id).await? {
        return Err(ApiError::not_found("flow"));
    }
    Ok(state.store.flow(id).await?)
}

/// A flow with the display names of the people and organizations it mentions.
#[derive(Debug, Serialize)]
pub struct FlowOut {
    /// The flow.
    #[serde(flatten)]
    pub flow: Flow,
    /// Display name by user or organization id: a person's name (masked phone when they have
    /// none yet), an organization's name.
    pub names: std::collections::BTreeMap<String, String>,
}

/// `GET /flows/{id}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<FlowOut>> {
    let flow = overview_flow(&state, &caller, &id).await?;
    Ok(Json(with_names(&state, flow).await?))
}

/// A flow as the API shows it: with its parties' display names.
pub(crate) async fn with_names(state: &AppState, flow: Flow) -> ApiResult<FlowOut> {
    let mut names = std::collections::BTreeMap::new();
    let people = std::iter::once(&flow.initiator)
        .chain(flow.signers.iter().filter_map(|s| s.user_id.as_ref()))
        .chain(flow.signers.iter().filter_map(|s| s.signed_by.as_ref()))
        .chain(flow.cc.iter());
    for user_id in people {
        if names.contains_key(user_id) {
            continue;
        }
        let user = state.store.user(user_id).await?;
        let name = if user.name.trim().is_empty() {
            crate::api::guests::mask_phone(&user.phone)
        } else {
            user.name
        };
        names.insert(user_id.clone(), name);
    }
    let orgs = flow.signers.iter().filter_map(|s| s.org_id.as_ref());
    for org_id in orgs.chain(flow.acting_for.iter()) {
        if !names.contains_key(org_id) {
            names.insert(org_id.clone(), state.store.org(org_id).await?.name);
        }
    }
    Ok(FlowOut { flow, names })
}

/// `?status=&q=&cursor=&limit=` of `GET /admin/flows`.
#[derive(Debug, Deserialize)]
pub struct AdminFlowQuery {
    /// in_progress, completed, declined, revoked, expired.
    pub status: Option<String>,
    /// Part of the title.
    pub q: Option<String>,
    /// Cursor.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
}

/// `GET /admin/flows`: every flow, newest first (platform admins; 流程查询).
pub async fn admin_list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<AdminFlowQuery>,
) -> ApiResult<Json<PageOut<FlowSummary>>> {
    caller.actor.may_administer()?;
    let status = match query.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => Some(qz_domain::flow::FlowStatus::parse(text)?),
        None => None,
    };
    let title = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if title.is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::invalid("search with at most 100 characters"));
    }
    Ok(Json(
        state
            .store
            .all_flows(
                status,
                title,
                query.cursor.as_deref(),
                qz_store::clamp_limit(query.limit),
            )
            .await?
            .into(),
    ))
}

/// `GET /flows/counts`: how many flows each inbox view holds (the tabs' badges).
pub async fn counts(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<std::collections::BTreeMap<&'static str, i64>>> {
    let counts = state.store.inbox_counts(&caller.user.id).await?;
    Ok(Json(
        counts
            .into_iter()
            .map(|(view, count)| (view.as_str(), count))
            .collect(),
    ))
}

/// `GET /flows/{id}/documents/{idx}`: the current version (every signature so far).
pub async fn document(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, idx)): Path<(String, usize)>,
) -> ApiResult<Response> {
    let flow = visible_flow(&state, &caller, &id).await?;
    let doc = flow
        .documents
        .get(idx)
        .ok_or_else(|| ApiError::not_found("document"))?;
    let bytes = state.blobs.get(&doc.current_sha256).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/pdf"),
    );
    Ok((headers, bytes).into_response())
}

/// `POST /flows/{id}/decline` and `/revoke` body.
#[derive(Debug, Deserialize)]
pub struct ReasonForm {
    /// The slot (decline; default: the caller's current one).
    pub signer_id: Option<String>,
    /// Why.
    pub reason: String,
}

pub(crate) fn reason(form: &ReasonForm) -> ApiResult<&str> {
    let reason = form.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::invalid("give a reason"));
    }
    check_note(reason)?;
    Ok(reason)
}

/// `POST /flows/{id}/decline`: the flow is void.
pub async fn decline(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<ReasonForm>,
) -> ApiResult<Json<FlowOut>> {
    let flow = visible_flow(&state, &caller, &id).await?;
    let slot = my_slot(&flow, &caller, form.signer_id.as_deref())?;
    let flow = state
        .store
        .decline_flow(&caller.actor, &id, &slot, reason(&form)?, &caller.context())
        .await
        .map_err(rule_error)?;
    notify_ended(&state, &flow).await;
    Ok(Json(with_names(&state, flow).await?))
}

/// `POST /flows/{id}/revoke`: the initiator voids a running flow.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<ReasonForm>,
) -> ApiResult<Json<FlowOut>> {
    visible_flow(&state, &caller, &id).await?;
    let flow = state
        .store
        .revoke_flow(&caller.actor, &id, reason(&form)?, &caller.context())
        .await
        .map_err(rule_error)?;
    notify_ended(&state, &flow).await;
    Ok(Json(with_names(&state, flow).await?))
}

/// `GET /flows/{id}/trail`: the flow's events, for everyone who may see it and platform admins.
pub async fn trail(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<qz_store::TrailEvent>>> {
    overview_flow(&state, &caller, &id).await?;
    Ok(Json(state.store.trail(&format!("flow:{id}")).await?))
}

/// Expires flows past their deadline and tells their parties; run every minute by `qz serve`.
pub async fn expire_due(state: &AppState) {
    match state.store.expire_flows(qz_store::now()).await {
        Ok(ids) => {
            for id in ids {
                if let Ok(flow) = state.store.flow(&id).await {
                    notify_ended(state, &flow).await;
                }
            }
        }
        Err(err) => eprintln!("qz: expiring flows failed: {err}"),
    }
}
