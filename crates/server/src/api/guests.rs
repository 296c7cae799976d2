//! Unregistered signers (未注册签署人, #8 item 7). The initiator names them by name, phone and
//! ID number; the platform makes them a password-less account and, when their turn comes,
//! texts a single-use link (`/m/sign/{token}`, the token only in the SMS, its hash stored).
//! Opening it takes an SMS code to the bound phone; the first time, the name and ID number are
//! checked with the identity provider, which gives the person a hosted certificate and a name
//! seal (the phone is the third element: the SMS code proves it). The link is then spent and a 30-minute session opens that is scoped to that one flow
//! (`auth::Caller` refuses everything else), so a guest sees only their own task. Signing then
//! works as for anyone: the SMS code (purpose `sign`) is the intent.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use qz_domain::account::CodePurpose;
use qz_domain::identity::{
    IdentityStatus, ProviderOutcome, check_id_number, check_real_name, mask_id_number,
};
use qz_store::{
    ExpectedIdentity, Flow, FlowSigner, GuestLink, NewIdentity, Session, StoreError, TrailContext, User,
};

use crate::api::accounts::{issue_code, use_code};
use crate::api::auth::{Client, session_cookies};
use crate::api::identity::{ask_provider, provider_name};
use crate::api::{ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::notify::Template;
use crate::secrets::{hex, new_token, random_bytes, sha256_hex};

/// A link works for three days at most (and never past the flow's deadline).
pub const LINK_TTL: i64 = 3 * 24 * 3600;
/// A guest session lasts half an hour.
pub const SESSION_TTL: i64 = 30 * 60;

/// The account for a person the initiator names by name, phone and ID number, and the
/// identity to bind to their slot. A phone that already has an account keeps it; a new one
/// becomes a password-less guest account. Nothing about an existing account is compared or
/// revealed here (that would let initiators test guesses of other people's ID numbers): the
/// slot carries the named identity, and only a person whose verified identity matches it can
/// sign it (`matches_named`).
pub(crate) async fn named_person(
    state: &AppState,
    name: &str,
    phone: &str,
    id_number: &str,
    context: &TrailContext,
) -> ApiResult<(User, ExpectedIdentity)> {
    let name = name.trim();
    check_real_name(name)?;
    let id_number = check_id_number(id_number)?;
    qz_domain::account::check_phone(phone)?;
    let user = state.store.guest_user(phone, name, context).await?;
    let expected = ExpectedIdentity {
        name: name.to_owned(),
        id_digest: state.key.id_digest(&id_number),
        id_sealed: state
            .key
            .seal(id_number.as_bytes(), &expected_context(&user.id))?,
    };
    Ok((user, expected))
}

fn expected_context(user_id: &str) -> String {
    format!("expected-identity:{user_id}")
}

fn mismatch() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "identity_mismatch",
        "your verified identity is not the one the sender named for this task (您的实名信息与发起方填写的不一致)",
    )
}

/// Refuses `user_id` for a slot whose initiator named someone else: the person's verified
/// identity must carry the named legal name and ID number.
pub(crate) async fn matches_named(state: &AppState, slot: &FlowSigner, user_id: &str) -> ApiResult<()> {
    let (Some(name), Some(digest)) = (&slot.expected_name, &slot.expected_id_digest) else {
        return Ok(());
    };
    let Some(identity) = state.store.identity(user_id).await? else {
        return Err(mismatch());
    };
    if identity.status != IdentityStatus::Verified || &identity.real_name != name {
        return Err(mismatch());
    }
    let number = state
        .key
        .open(&identity.id_sealed, &format!("identity:{user_id}"))?;
    let number = std::str::from_utf8(&number).map_err(ApiError::internal)?;
    if &state.key.id_digest(number) != digest {
        return Err(mismatch());
    }
    Ok(())
}

/// Texts a fresh link to a guest whose turn it is; earlier links of the slot stop working.
pub(crate) async fn send_link(
    state: &AppState,
    flow: &Flow,
    signer: &FlowSigner,
    user: &User,
) -> ApiResult<()> {
    let (token, hash) = new_token()?;
    let now = qz_store::now();
    let expires_at = flow.deadline.map_or(now + LINK_TTL, |d| d.min(now + LINK_TTL));
    state
        .store
        .create_guest_link(
            &hash,
            &GuestLink {
                flow_id: flow.id.clone(),
                signer_id: signer.id.clone(),
                user_id: user.id.clone(),
                expires_at,
                spent_at: None,
            },
            &TrailContext::default(),
        )
        .await?;
    let initiator = state.store.user(&flow.initiator).await?.name;
    let url = format!("{}/m/sign/{token}", state.config.base_url.trim_end_matches('/'));
    state
        .notifier
        .send(
            "sms",
            &user.phone,
            &user.locale,
            &Template::GuestLink {
                title: &flow.title,
                initiator: &initiator,
                url: &url,
            },
        )
        .await
}

async fn live_link(state: &AppState, token: &str) -> ApiResult<GuestLink> {
    match state.store.guest_link(&sha256_hex(token.as_bytes())).await {
        Ok(link) => Ok(link),
        Err(StoreError::NotFound(_)) => Err(ApiError::new(
            StatusCode::GONE,
            "link_used",
            "this link was used, replaced by a newer one, or has expired; ask the sender to remind you again",
        )),
        Err(err) => Err(err.into()),
    }
}

/// What the link's landing page shows before anything is proven.
#[derive(Debug, Serialize)]
pub struct GuestTaskOut {
    /// Flow title.
    pub title: String,
    /// Who sent it.
    pub initiator: String,
    /// The signer's name as the initiator gave it.
    pub name: String,
    /// Their phone, masked.
    pub phone: String,
    /// When the link stops working.
    pub expires_at: i64,
}

pub(crate) fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "****".into();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// `GET /guest/{token}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
) -> ApiResult<Json<GuestTaskOut>> {
    state.limiter.check(&format!("guest:{}", client.ip), 60)?;
    let link = live_link(&state, &token).await?;
    let flow = state.store.flow(&link.flow_id).await?;
    let user = state.store.user(&link.user_id).await?;
    Ok(Json(GuestTaskOut {
        title: flow.title,
        initiator: state.store.user(&flow.initiator).await?.name,
        name: user.name,
        phone: mask_phone(&user.phone),
        expires_at: link.expires_at,
    }))
}

/// `POST /guest/{token}/code`: the code to open the task goes to the bound phone.
pub async fn send_code(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    state.limiter.check(&format!("guest:{}", client.ip), 60)?;
    let link = live_link(&state, &token).await?;
    let user = state.store.user(&link.user_id).await?;
    issue_code(&state, CodePurpose::Login, &user.phone, &user.locale).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "sent": true }))))
}

/// `POST /guest/{token}/session` body.
#[derive(Debug, Deserialize)]
pub struct OpenForm {
    /// The SMS code (purpose `login`).
    pub code: String,
}

/// The answer: where to go and the CSRF token (the session is in the cookie).
#[derive(Debug, Serialize)]
pub struct OpenOut {
    /// The flow.
    pub flow_id: String,
    /// The signer slot.
    pub signer_id: String,
    /// Echo in `X-CSRF-Token`.
    pub csrf_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// `POST /guest/{token}/session`: proves the phone, confirms the identity (first time), spends
/// the link and opens the scoped session.
pub async fn open(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    Body(form): Body<OpenForm>,
) -> ApiResult<Response> {
    state.limiter.check(&format!("guest:{}", client.ip), 60)?;
    let link = live_link(&state, &token).await?;
    let user = state.store.user(&link.user_id).await?;
    if user.disabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "disabled",
            "this account is disabled",
        ));
    }
    use_code(&state, CodePurpose::Login, &user.phone, &form.code).await?;
    let mut context = client.context();
    context.actor = Some(user.id.clone());
    let flow = state.store.flow(&link.flow_id).await?;
    let slot = flow
        .signers
        .iter()
        .find(|s| s.id == link.signer_id)
        .ok_or_else(|| ApiError::not_found("signer"))?;
    confirm_identity(&state, &user, slot, &context).await?;
    crate::credentials::ensure_person(&state, &user.id, &context).await?;
    let (session_token, session_id) = new_token()?;
    let csrf = hex(&random_bytes::<16>()?);
    let session = Session {
        id: session_id,
        user_id: user.id.clone(),
        csrf: csrf.clone(),
        acting_for: None,
        expires_at: qz_store::now() + SESSION_TTL,
        scope: Some(link.flow_id.clone()),
    };
    let link = match state
        .store
        .spend_guest_link(&sha256_hex(token.as_bytes()), &session, &context)
        .await
    {
        Ok(link) => link,
        Err(StoreError::NotFound(_)) => {
            return Err(live_link(&state, &token).await.err().unwrap_or_else(|| {
                ApiError::new(StatusCode::GONE, "link_used", "this link was used meanwhile")
            }));
        }
        Err(err) => return Err(err.into()),
    };
    let mut response = (
        StatusCode::CREATED,
        Json(OpenOut {
            flow_id: link.flow_id,
            signer_id: link.signer_id,
            csrf_token: csrf.clone(),
            expires_at: session.expires_at,
        }),
    )
        .into_response();
    for cookie in session_cookies(&state.config, &session_token, &csrf) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The first time a guest proves their phone, the name and ID number the initiator gave are
/// checked with the identity provider and become the account's verified identity; a guest
/// verified before must match what this slot names.
async fn confirm_identity(
    state: &AppState,
    user: &User,
    slot: &FlowSigner,
    context: &TrailContext,
) -> ApiResult<()> {
    if let Some(identity) = state.store.identity(&user.id).await?
        && identity.status == IdentityStatus::Verified
    {
        return matches_named(state, slot, &user.id).await;
    }
    let (Some(name), Some(sealed)) = (&slot.expected_name, &slot.expected_id_sealed) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "no identity was given for this signer",
        ));
    };
    let number = state.key.open(sealed, &expected_context(&user.id))?;
    let number = String::from_utf8(number.to_vec()).map_err(ApiError::internal)?;
    let outcome = ask_provider(&state.config.identity, &state.http, name, &number).await?;
    let (status, reason) = match &outcome {
        ProviderOutcome::Match => (IdentityStatus::Verified, None),
        ProviderOutcome::Mismatch(reason) => (IdentityStatus::Rejected, Some(reason.as_str())),
        ProviderOutcome::Pending(_) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "identity_pending",
                "the real-name check has not answered yet; try again in a minute",
            ));
        }
    };
    if status == IdentityStatus::Rejected {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "identity_rejected",
            "the name and ID number given for you did not pass the real-name check; ask the sender to correct them",
        ));
    }
    let id_sealed = state
        .key
        .seal(number.as_bytes(), &format!("identity:{}", user.id))?;
    state
        .store
        .put_identity(
            &user.id,
            &NewIdentity {
                real_name: name,
                id_masked: &mask_id_number(&number),
                id_digest: &state.key.id_digest(&number),
                id_sealed: &id_sealed,
                provider: provider_name(&state.config.identity),
                status,
                reference: None,
                reason,
            },
            context,
        )
        .await?;
    Ok(())
}

/// What a scoped (guest) session may reach: its own flow, the person's own seals and
/// handwriting, and logging out.
pub fn scope_allows(path: &str, flow_id: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let flow = format!("/flows/{flow_id}");
    path == "/me"
        || path == "/me/seals"
        || path == "/me/seals/handwriting"
        || path == "/auth/logout"
        || (path.starts_with("/seals/") && path.ends_with("/image"))
        || path == flow
        || (path.starts_with(&flow) && path[flow.len()..].starts_with('/') && !path.ends_with("/revoke"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_session_reaches_only_its_flow() {
        assert!(scope_allows("/api/v1/flows/F1", "F1"));
        assert!(scope_allows("/api/v1/flows/F1/sign", "F1"));
        assert!(scope_allows("/api/v1/flows/F1/documents/0", "F1"));
        assert!(scope_allows("/api/v1/me/seals", "F1"));
        assert!(!scope_allows("/api/v1/flows/F12", "F1"));
        assert!(!scope_allows("/api/v1/flows/F2/sign", "F1"));
        assert!(!scope_allows("/api/v1/flows", "F1"));
        assert!(!scope_allows("/api/v1/flows/F1/revoke", "F1"));
        assert!(!scope_allows("/api/v1/orgs", "F1"));
        assert!(!scope_allows("/api/v1/me/certificates", "F1"));
    }

    #[test]
    fn phones_are_masked() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("123"), "****");
    }
}
