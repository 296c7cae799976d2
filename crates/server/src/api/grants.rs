//! Grants of organization seals (印章授权), grant requests (用印申请, S 5.1: a member asks, the
//! department head approves or rejects) and auto-sign grants (自动签署, W 5) with their ledger.
//!
//! Approvers are the seal's organization's admin and seal operators; for a department of the
//! internal tree its admin is the department head. Whether a grant lets someone stamp is decided
//! again at stamping time, inside the store's transaction (`Store::record_stamp`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use qz_domain::access::OrgAction;
use qz_domain::account::CodePurpose;
use qz_domain::grant::{GrantRequestAction, GrantRequestStatus, autosign_window, check_note};
use qz_domain::seal::{SealStatus, check_grant};
use qz_store::{AutoSignGrant, AutoSignUse, Grant, GrantRequest, NewGrant, Seal, StoreError};

use crate::api::accounts::use_code;
use crate::api::auth::Caller;
use crate::api::orgs::authorized_org;
use crate::api::{ApiError, ApiResult, Body, ListQuery, PageOut};
use crate::app::AppState;
use crate::notify::Template;

/// A grant's window and scope as sent.
#[derive(Debug, Deserialize)]
pub struct GrantForm {
    /// The organization seal.
    pub seal_id: String,
    /// Holder (user id); for requests, the caller.
    pub grantee: Option<String>,
    /// Unix seconds (default: now).
    pub not_before: Option<i64>,
    /// Unix seconds, exclusive.
    pub not_after: i64,
    /// Business types; empty or absent: all.
    #[serde(default)]
    pub scope: Vec<String>,
    /// Reason (requests).
    pub note: Option<String>,
}

/// The organization's live seal `seal_id`, or 404.
async fn org_seal(state: &AppState, org_id: &str, seal_id: &str) -> ApiResult<Seal> {
    match state.store.seal(seal_id).await {
        Ok(seal) if seal.owner_org.as_deref() == Some(org_id) && seal.status != SealStatus::Deleted => {
            Ok(seal)
        }
        Ok(_) | Err(StoreError::NotFound(_)) => Err(ApiError::not_found("seal")),
        Err(err) => Err(err.into()),
    }
}

fn window(form: &GrantForm) -> ApiResult<(i64, i64, Vec<String>)> {
    let now = qz_store::now();
    let not_before = form.not_before.unwrap_or(now);
    let scope: Vec<String> = form.scope.iter().map(|s| s.trim().to_owned()).collect();
    check_grant(not_before, form.not_after, &scope, now)?;
    Ok((not_before, form.not_after, scope))
}

/// `POST /orgs/{id}/grants`: the org admin or a seal operator grants a seal to a member.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<GrantForm>,
) -> ApiResult<(StatusCode, Json<Grant>)> {
    let org = authorized_org(&state, &caller.actor, &id, OrgAction::View).await?;
    caller.actor.may_manage_seals(&org.id)?;
    let seal = org_seal(&state, &org.id, &form.seal_id).await?;
    let grantee = form
        .grantee
        .as_deref()
        .ok_or_else(|| ApiError::invalid("grantee (a member's user id) is required"))?;
    let is_member = state
        .store
        .memberships(grantee)
        .await?
        .iter()
        .any(|m| m.org_id == org.id);
    if !is_member {
        return Err(ApiError::invalid(
            "seals are granted to members of the organization only",
        ));
    }
    let (not_before, not_after, scope) = window(&form)?;
    let grant = state
        .store
        .create_grant(
            &NewGrant {
                seal_id: &seal.id,
                org_id: &org.id,
                grantee,
                not_before,
                not_after,
                scope: &scope,
            },
            &caller.context(),
        )
        .await?;
    notify(&state, grantee, &Template::SealGranted { seal: &seal.name }).await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// `?seal_id=` of grant lists.
#[derive(Debug, Deserialize)]
pub struct GrantListQuery {
    /// One seal only.
    pub seal_id: Option<String>,
}

/// `GET /orgs/{id}/grants`: the organization's grants, for its seal managers.
pub async fn of_org(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<GrantListQuery>,
) -> ApiResult<Json<Vec<Grant>>> {
    let org = authorized_org(&state, &caller.actor, &id, OrgAction::View).await?;
    if !caller.actor.platform_admin {
        caller.actor.may_manage_seals(&org.id)?;
    }
    Ok(Json(
        state
            .store
            .grants_of_org(&org.id, query.seal_id.as_deref())
            .await?,
    ))
}

/// `GET /me/grants`: the caller's grants.
pub async fn mine(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<Vec<Grant>>> {
    Ok(Json(state.store.grants_of_user(&caller.user.id).await?))
}

/// `POST /grants/{id}/revoke`: the seal's managers end a grant at once.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Grant>> {
    let grant = match state.store.grant(&id).await {
        Ok(grant) => grant,
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("grant")),
        Err(err) => return Err(err.into()),
    };
    if caller.actor.role_in(&grant.org_id).is_none() {
        return Err(ApiError::not_found("grant"));
    }
    caller.actor.may_manage_seals(&grant.org_id)?;
    if grant.revoked_at.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "the grant is already revoked",
        ));
    }
    state.store.revoke_grant(&grant, &caller.context()).await?;
    Ok(Json(state.store.grant(&id).await?))
}

/// `POST /orgs/{id}/grant-requests`: a member asks for a seal.
pub async fn request(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<GrantForm>,
) -> ApiResult<(StatusCode, Json<GrantRequest>)> {
    let org = authorized_org(&state, &caller.actor, &id, OrgAction::ActFor).await?;
    let seal = org_seal(&state, &org.id, &form.seal_id).await?;
    let note = form.note.clone().unwrap_or_default();
    check_note(&note)?;
    let (not_before, not_after, scope) = window(&form)?;
    let request = state
        .store
        .create_grant_request(
            &NewGrant {
                seal_id: &seal.id,
                org_id: &org.id,
                grantee: &caller.user.id,
                not_before,
                not_after,
                scope: &scope,
            },
            &note,
            &caller.context(),
        )
        .await?;
    if let Some(admin) = state.store.org_admin(&org.id).await? {
        notify(
            &state,
            &admin,
            &Template::RequestWaiting {
                kind: "grant",
                org: &seal.name,
                applicant: &caller.user.name,
            },
        )
        .await?;
    }
    Ok((StatusCode::CREATED, Json(request)))
}

/// `?status=` of request lists.
#[derive(Debug, Deserialize)]
pub struct RequestListQuery {
    /// pending, approved, rejected, withdrawn.
    pub status: Option<String>,
}

/// `GET /grant-requests`: the caller's own requests and those they may decide.
pub async fn list_requests(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<RequestListQuery>,
) -> ApiResult<Json<Vec<GrantRequest>>> {
    let status = query
        .status
        .as_deref()
        .map(GrantRequestStatus::parse)
        .transpose()?;
    let managed: Vec<String> = caller
        .actor
        .memberships
        .iter()
        .filter(|m| caller.actor.may_manage_seals(&m.org_id).is_ok())
        .map(|m| m.org_id.clone())
        .collect();
    Ok(Json(
        state
            .store
            .grant_requests(&managed, Some(&caller.user.id), status)
            .await?,
    ))
}

async fn load_request(state: &AppState, caller: &Caller, id: &str) -> ApiResult<GrantRequest> {
    let request = match state.store.grant_request(id).await {
        Ok(request) => request,
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("grant request")),
        Err(err) => return Err(err.into()),
    };
    if request.applicant != caller.user.id && caller.actor.role_in(&request.org_id).is_none() {
        return Err(ApiError::not_found("grant request"));
    }
    Ok(request)
}

/// `POST /grant-requests/{id}/…` body.
#[derive(Debug, Deserialize, Default)]
pub struct DecisionForm {
    /// Rejection reason.
    pub reason: Option<String>,
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: GrantRequestAction,
    reason: Option<&str>,
) -> ApiResult<GrantRequest> {
    let request = load_request(state, caller, id).await?;
    match action {
        GrantRequestAction::Withdraw if request.applicant != caller.user.id => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only the applicant withdraws a request",
            ));
        }
        GrantRequestAction::Withdraw => {}
        GrantRequestAction::Approve | GrantRequestAction::Reject => {
            caller.actor.may_manage_seals(&request.org_id)?;
        }
    }
    let to = request.status.after(action)?;
    if let Some(reason) = reason {
        check_note(reason)?;
    }
    if action == GrantRequestAction::Approve {
        // The seal may have been deleted, or the applicant left, since the request was filed.
        org_seal(state, &request.org_id, &request.seal_id).await?;
        let still_member = state
            .store
            .memberships(&request.applicant)
            .await?
            .iter()
            .any(|m| m.org_id == request.org_id);
        if !still_member {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "state",
                "the applicant is no longer a member",
            ));
        }
    }
    let decided = state
        .store
        .decide_grant_request(&request, to, reason, &caller.context())
        .await?;
    if action != GrantRequestAction::Withdraw {
        let seal = state.store.seal(&request.seal_id).await?;
        notify(
            state,
            &request.applicant,
            &Template::RequestDecided {
                kind: "grant",
                org: &seal.name,
                outcome: to.as_str(),
                reason,
            },
        )
        .await?;
    }
    Ok(decided)
}

/// `POST /grant-requests/{id}/approve`: creates the grant.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GrantRequest>> {
    Ok(Json(
        decide(&state, &caller, &id, GrantRequestAction::Approve, None).await?,
    ))
}

/// `POST /grant-requests/{id}/reject` with a reason.
pub async fn reject(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<DecisionForm>,
) -> ApiResult<Json<GrantRequest>> {
    let reason = form
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::invalid("a rejection needs a reason"))?;
    Ok(Json(
        decide(&state, &caller, &id, GrantRequestAction::Reject, Some(reason)).await?,
    ))
}

/// `POST /grant-requests/{id}/withdraw`.
pub async fn withdraw(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GrantRequest>> {
    Ok(Json(
        decide(&state, &caller, &id, GrantRequestAction::Withdraw, None).await?,
    ))
}

/// `POST /me/autosign` body.
#[derive(Debug, Deserialize)]
pub struct AutoSignForm {
    /// Hours (default 24, at most 4320 = 180 days).
    pub hours: Option<i64>,
    /// Hosted custody: the SMS code (purpose `sign`).
    pub code: Option<String>,
    /// Co-sign custody: the phone's active key.
    pub key_id: Option<String>,
    /// Co-sign custody: the phone's share, hex, opened on the phone with the certificate
    /// password (W 5); kept sealed for the window only.
    pub client_share: Option<String>,
}

fn unhex(text: &str) -> ApiResult<Vec<u8>> {
    crate::secrets::unhex(text, 512).ok_or_else(|| ApiError::invalid("expected hex"))
}

/// The escrow of a co-sign person's auto-sign: checks that the share completes the person's
/// active key, then seals it.
async fn cosign_escrow(
    state: &AppState,
    caller: &Caller,
    form: &AutoSignForm,
) -> ApiResult<(String, Vec<u8>)> {
    let (Some(key_id), Some(share)) = (form.key_id.as_deref(), form.client_share.as_deref()) else {
        return Err(ApiError::invalid(
            "co-sign certificates: send key_id and client_share from the phone (opened with the certificate password)",
        ));
    };
    let key = match state.store.cosign_key(key_id).await {
        Ok(key) if key.user_id == caller.user.id => key,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("co-sign key")),
        Err(err) => return Err(err.into()),
    };
    if key.status != "active" {
        return Err(ApiError::new(
            StatusCode::GONE,
            "redownload",
            "this certificate was replaced or revoked; download it again (证书已失效，请重新下载)",
        ));
    }
    let share_bytes = unhex(share)?;
    let client = qz_pki::custody::cosign::ClientShare::from_bytes(&share_bytes)
        .map_err(|_| ApiError::invalid("client_share is not a key share"))?;
    let server_bytes = state.key.open(&key.share_sealed, &format!("cosign:{}", key.id))?;
    let server =
        qz_pki::custody::cosign::ServerShare::from_bytes(&server_bytes).map_err(ApiError::internal)?;
    qz_pki::custody::cosign::JointSigner::new(client, server, &unhex(&key.public_key)?)
        .map_err(|_| ApiError::invalid("client_share does not belong to this key"))?;
    let sealed = state.key.seal(
        &share_bytes,
        &format!("autosign-escrow:{}:{}", caller.user.id, key.id),
    )?;
    Ok((key.id, sealed))
}

/// `POST /me/autosign`: enables auto-sign; replaces a live grant.
pub async fn enable_autosign(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<AutoSignForm>,
) -> ApiResult<(StatusCode, Json<AutoSignGrant>)> {
    if !caller.actor.identity_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "verify your identity first",
        ));
    }
    let seconds = autosign_window(form.hours)?;
    let grant = if crate::credentials::person_custody(&state) == qz_store::Custody::Cosign {
        let (key_id, sealed) = cosign_escrow(&state, &caller, &form).await?;
        state
            .store
            .create_autosign(
                &caller.user.id,
                seconds,
                "cosign_password",
                Some((&key_id, &sealed)),
                &caller.context(),
            )
            .await?
    } else {
        let code = form
            .code
            .as_deref()
            .ok_or_else(|| ApiError::invalid("confirm with the SMS code (purpose sign)"))?;
        use_code(&state, CodePurpose::Sign, &caller.user.phone, code).await?;
        state
            .store
            .create_autosign(&caller.user.id, seconds, "sms_code", None, &caller.context())
            .await?
    };
    Ok((StatusCode::CREATED, Json(grant)))
}

/// `GET /me/autosign`: the caller's auto-sign grants, newest first.
pub async fn autosigns(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<AutoSignGrant>>> {
    Ok(Json(state.store.autosigns_of_user(&caller.user.id).await?))
}

/// `POST /me/autosign/{id}/revoke`: ends auto-sign at once.
pub async fn revoke_autosign(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AutoSignGrant>> {
    let grant = match state.store.autosign(&id).await {
        Ok(grant) if grant.user_id == caller.user.id => grant,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("auto-sign grant")),
        Err(err) => return Err(err.into()),
    };
    if grant.revoked_at.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, "state", "already revoked"));
    }
    state.store.revoke_autosign(&grant, &caller.context()).await?;
    Ok(Json(state.store.autosign(&id).await?))
}

/// `GET /me/autosign/uses`: the auto-sign ledger.
pub async fn autosign_uses(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<PageOut<AutoSignUse>>> {
    Ok(Json(
        state
            .store
            .autosign_uses_page(&caller.user.id, query.cursor(), query.limit())
            .await?
            .into(),
    ))
}

/// An in-app message in the recipient's language.
async fn notify(state: &AppState, user_id: &str, template: &Template<'_>) -> ApiResult<()> {
    let locale = state.store.user(user_id).await?.locale;
    state.notifier.inbox(user_id, &locale, template).await
}
