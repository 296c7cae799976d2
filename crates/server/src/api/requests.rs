//! Requests someone decides on (B 3.7.3, S 5.1): outside-company verification (decided by
//! platform admins; withdraw, continue after a rejection, re-verify after a change), joining
//! an organization (decided by its admin), and applying to become an organization's admin
//! (decided by platform admins, for when the admin is gone).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use qz_domain::access::OrgAction;
use qz_domain::identity::check_real_name;
use qz_domain::org::{
    OrgKind, RequestAction, RequestStatus, check_credit_code, check_org_name, check_reason,
};
use qz_store::{Request, RequestFilter, RequestKind, StoreError};

use crate::api::auth::Caller;
use crate::api::orgs::authorized_org;
use crate::api::{ApiError, ApiResult, Body, PageOut};
use crate::app::AppState;
use crate::notify::Template;

/// `POST /org-verifications` body.
#[derive(Debug, Deserialize)]
pub struct VerificationForm {
    /// Re-verify this organization (its admin only); absent for a new company.
    pub org_id: Option<String>,
    /// Registered name.
    pub name: String,
    /// Unified social credit code.
    pub credit_code: String,
    /// Legal representative.
    pub legal_rep: String,
    /// Business licence image (an uploaded blob).
    pub licence_blob: String,
}

async fn verification_details(
    state: &AppState,
    caller: &Caller,
    form: &VerificationForm,
) -> ApiResult<serde_json::Value> {
    check_org_name(&form.name)?;
    let credit_code = check_credit_code(&form.credit_code)?;
    check_real_name(form.legal_rep.trim())?;
    let blob = state
        .store
        .blob(&form.licence_blob)
        .await
        .map_err(|_| ApiError::invalid("licence_blob is not an uploaded file of yours"))?;
    if blob.owner_id != caller.user.id || !blob.content_type.starts_with("image/") {
        return Err(ApiError::invalid("licence_blob must be an image you uploaded"));
    }
    match state.store.org_by_credit_code(&credit_code).await {
        Ok(existing) if Some(&existing.id) != form.org_id.as_ref() => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "an organization with this credit code is already verified; ask its administrator to add you",
            ));
        }
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(err) => return Err(err.into()),
    }
    Ok(serde_json::json!({
        "name": form.name.trim(),
        "credit_code": credit_code,
        "legal_rep": form.legal_rep.trim(),
        "licence_blob": form.licence_blob,
    }))
}

/// `POST /org-verifications`: a verified person submits an outside company (new, or a
/// change of a verified one by its admin).
pub async fn submit_verification(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<VerificationForm>,
) -> ApiResult<(StatusCode, Json<Request>)> {
    caller.actor.may_apply()?;
    if let Some(org_id) = &form.org_id {
        let org = authorized_org(&state, &caller.actor, org_id, OrgAction::Edit).await?;
        if org.kind != OrgKind::External {
            return Err(ApiError::invalid("internal organizations are not verified"));
        }
    }
    let details = verification_details(&state, &caller, &form).await?;
    let request = state
        .store
        .create_request(
            RequestKind::OrgVerification,
            form.org_id.as_deref(),
            &caller.user.id,
            &details,
            &caller.context(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

/// `POST /orgs/{id}/join-requests` body.
#[derive(Debug, Deserialize, Default)]
pub struct JoinForm {
    /// A note for the admin.
    #[serde(default)]
    pub message: String,
}

/// `POST /orgs/{id}/join-requests`: ask to join a verified organization (found through
/// `/orgs/lookup`).
pub async fn join(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<JoinForm>,
) -> ApiResult<(StatusCode, Json<Request>)> {
    caller.actor.may_apply()?;
    let org = match state.store.org(&id).await {
        Ok(org) if org.verified && org.kind == OrgKind::External => org,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("organization")),
        Err(err) => return Err(err.into()),
    };
    if caller.actor.role_in(&org.id).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "you are already a member",
        ));
    }
    if form.message.chars().count() > 500 {
        return Err(ApiError::invalid("the message must have at most 500 characters"));
    }
    let request = state
        .store
        .create_request(
            RequestKind::Join,
            Some(&org.id),
            &caller.user.id,
            &serde_json::json!({ "message": form.message }),
            &caller.context(),
        )
        .await?;
    if let Some(admin) = state.store.org_admin(&org.id).await? {
        let locale = state.store.user(&admin).await?.locale;
        state
            .notifier
            .inbox(
                &admin,
                &locale,
                &Template::RequestWaiting {
                    kind: "join",
                    org: &org.name,
                    applicant: &caller.user.name,
                },
            )
            .await?;
    }
    Ok((StatusCode::CREATED, Json(request)))
}

/// `POST /orgs/{id}/admin-requests` body.
#[derive(Debug, Deserialize)]
pub struct AdminApplicationForm {
    /// Why (e.g. the previous admin left).
    pub reason: String,
    /// An authorization letter (uploaded blob), if any.
    pub letter_blob: Option<String>,
}

/// `POST /orgs/{id}/admin-requests`: a member applies to become the admin.
pub async fn apply_admin(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<AdminApplicationForm>,
) -> ApiResult<(StatusCode, Json<Request>)> {
    let org = authorized_org(&state, &caller.actor, &id, OrgAction::ActFor).await?;
    caller.actor.may_apply()?;
    check_reason(&form.reason)?;
    if caller.actor.role_in(&org.id) == Some(qz_domain::org::OrgRole::Admin) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "you are already the administrator",
        ));
    }
    if let Some(blob) = &form.letter_blob {
        let info = state.store.blob(blob).await?;
        if info.owner_id != caller.user.id {
            return Err(ApiError::invalid("letter_blob is not an uploaded file of yours"));
        }
    }
    let request = state
        .store
        .create_request(
            RequestKind::Admin,
            Some(&org.id),
            &caller.user.id,
            &serde_json::json!({ "reason": form.reason.trim(), "letter_blob": form.letter_blob }),
            &caller.context(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

/// Whether the caller decides `request`.
async fn decider(state: &AppState, caller: &Caller, request: &Request) -> ApiResult<bool> {
    Ok(match request.kind {
        RequestKind::Join => authorized_org(state, &caller.actor, &request.org_id, OrgAction::ManageMembers)
            .await
            .is_ok(),
        RequestKind::OrgVerification | RequestKind::Admin => caller.actor.platform_admin,
    })
}

/// Loads a request the caller may see (applicant or decider); 404 otherwise.
async fn visible(state: &AppState, caller: &Caller, id: &str) -> ApiResult<(Request, bool)> {
    let request = state
        .store
        .request(id)
        .await
        .map_err(|_| ApiError::not_found("request"))?;
    let decides = decider(state, caller, &request).await?;
    if request.applicant != caller.user.id && !decides {
        return Err(ApiError::not_found("request"));
    }
    Ok((request, decides))
}

/// `GET /requests` query.
#[derive(Debug, Deserialize)]
pub struct RequestQuery {
    /// Cursor.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
    /// org_verification, join or admin.
    pub kind: Option<String>,
    /// pending, approved, rejected, withdrawn.
    pub status: Option<String>,
    /// The join requests of one organization (its managers).
    pub org_id: Option<String>,
    /// "mine" (default): the caller's own; "decide": those the caller decides.
    pub view: Option<String>,
}

/// `GET /requests`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<RequestQuery>,
) -> ApiResult<Json<PageOut<Request>>> {
    let kind = match query.kind.as_deref() {
        None => None,
        Some("org_verification") => Some(RequestKind::OrgVerification),
        Some("join") => Some(RequestKind::Join),
        Some("admin") => Some(RequestKind::Admin),
        Some(_) => return Err(ApiError::invalid("kind must be org_verification, join or admin")),
    };
    let status = query.status.as_deref().map(RequestStatus::parse).transpose()?;
    let mut filter = RequestFilter {
        kind,
        status,
        ..Default::default()
    };
    match query.view.as_deref().unwrap_or("mine") {
        "mine" => filter.applicant = Some(&caller.user.id),
        "decide" => match &query.org_id {
            Some(org_id) => {
                authorized_org(&state, &caller.actor, org_id, OrgAction::ManageMembers).await?;
                filter.org_id = Some(org_id);
                filter.kind = Some(RequestKind::Join);
            }
            None => {
                caller.actor.may_administer()?;
                if filter.kind == Some(RequestKind::Join) {
                    return Err(ApiError::invalid("give org_id for join requests"));
                }
                // Platform admins decide verifications and admin applications, not joins.
                filter.without_joins = true;
            }
        },
        _ => return Err(ApiError::invalid("view must be mine or decide")),
    }
    let page = state
        .store
        .requests_page(
            filter,
            query.cursor.as_deref(),
            qz_store::clamp_limit(query.limit),
        )
        .await?;
    Ok(Json(page.into()))
}

/// `GET /requests/{id}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Request>> {
    Ok(Json(visible(&state, &caller, &id).await?.0))
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: RequestAction,
    reason: Option<&str>,
) -> ApiResult<Request> {
    let (request, decides) = visible(state, caller, id).await?;
    match action {
        RequestAction::Approve | RequestAction::Reject if !decides => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "you do not decide this request",
            ));
        }
        RequestAction::Withdraw | RequestAction::Resubmit if request.applicant != caller.user.id => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "only the applicant may do this",
            ));
        }
        _ => {}
    }
    let to = request.status.next(action)?;
    state
        .store
        .decide_request(
            &request,
            to,
            reason,
            None,
            matches!(action, RequestAction::Approve | RequestAction::Reject)
                .then_some(caller.user.id.as_str()),
            &caller.context(),
        )
        .await?;
    if matches!(action, RequestAction::Approve | RequestAction::Reject) {
        let org = state.store.org(&request.org_id).await?;
        let applicant = state.store.user(&request.applicant).await?;
        let kind = request.kind.as_str();
        let org_name = request
            .details
            .get("name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(&org.name)
            .to_owned();
        state
            .notifier
            .inbox(
                &applicant.id,
                &applicant.locale,
                &Template::RequestDecided {
                    kind,
                    org: &org_name,
                    outcome: to.as_str(),
                    reason,
                },
            )
            .await?;
    }
    Ok(state.store.request(id).await?)
}

/// `POST /requests/{id}/approve`.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Request>> {
    let request = decide(&state, &caller, &id, RequestAction::Approve, None).await?;
    if request.kind == RequestKind::OrgVerification {
        // A (re-)verified organization gets a certificate with its verified name and credit
        // code; one issued earlier is superseded.
        let org = state.store.org(&request.org_id).await?;
        let issued = crate::credentials::issue_hosted(
            &state,
            None,
            Some(&org.id),
            crate::credentials::org_subject(&org),
            &caller.context(),
        )
        .await;
        if let Err(err) = issued {
            eprintln!("qz: issuing the organization certificate: {}", err.detail);
        }
    }
    Ok(Json(request))
}

/// `POST /requests/{id}/reject` body.
#[derive(Debug, Deserialize)]
pub struct RejectForm {
    /// Why, for the applicant.
    pub reason: String,
}

/// `POST /requests/{id}/reject`.
pub async fn reject(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<RejectForm>,
) -> ApiResult<Json<Request>> {
    check_reason(&form.reason)?;
    Ok(Json(
        decide(
            &state,
            &caller,
            &id,
            RequestAction::Reject,
            Some(form.reason.trim()),
        )
        .await?,
    ))
}

/// `POST /requests/{id}/withdraw`.
pub async fn withdraw(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Request>> {
    Ok(Json(
        decide(&state, &caller, &id, RequestAction::Withdraw, None).await?,
    ))
}

/// `POST /requests/{id}/resubmit`: continue a rejected or withdrawn verification with
/// corrected data.
pub async fn resubmit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<VerificationForm>,
) -> ApiResult<Json<Request>> {
    let (request, _) = visible(&state, &caller, &id).await?;
    if request.kind != RequestKind::OrgVerification || request.applicant != caller.user.id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the applicant of a verification may resubmit it",
        ));
    }
    let form = VerificationForm {
        org_id: Some(request.org_id.clone()),
        ..form
    };
    let to = request.status.next(RequestAction::Resubmit)?;
    // The organization may be unverified still: its applicant is not yet its admin, so the
    // details are checked without the Edit rule.
    let details = verification_details(&state, &caller, &form).await?;
    state
        .store
        .decide_request(&request, to, None, Some(&details), None, &caller.context())
        .await?;
    Ok(Json(state.store.request(&id).await?))
}
