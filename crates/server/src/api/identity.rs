//! Real-name verification (实名认证): the format checks of `qz_domain::identity`, then the
//! configured provider. The development provider accepts any well-formed number and says so
//! (`provider: "development"` in every answer); the HTTP provider may answer "pending" when an
//! outside step (a face check) must finish, and reports back through the callback.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use qz_domain::identity::{
    IdentityStatus, ProviderOutcome, check_id_number, check_real_name, mask_id_number,
};
use qz_store::NewIdentity;

use crate::api::auth::{Caller, Client};
use crate::api::{ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::config::IdentitySettings;
use crate::secrets::constant_time_eq;

/// Asks the configured provider about a name and number that passed the format checks.
pub async fn ask_provider(
    settings: &IdentitySettings,
    http: &reqwest::Client,
    name: &str,
    id_number: &str,
) -> Result<ProviderOutcome, ApiError> {
    match settings {
        IdentitySettings::Development => Ok(ProviderOutcome::Match),
        IdentitySettings::Http { url, key } => {
            #[derive(Deserialize)]
            struct Answer {
                result: String,
                reason: Option<String>,
                reference: Option<String>,
            }
            let response = http
                .post(url)
                .bearer_auth(&key.0)
                .timeout(Duration::from_secs(15))
                .json(&serde_json::json!({ "name": name, "id_number": id_number }))
                .send()
                .await
                .map_err(|e| unavailable(format!("the identity provider is unreachable: {e}")))?;
            if !response.status().is_success() {
                return Err(unavailable(format!(
                    "the identity provider answered {}",
                    response.status()
                )));
            }
            let answer: Answer = response
                .json()
                .await
                .map_err(|e| unavailable(format!("the identity provider's answer: {e}")))?;
            match (answer.result.as_str(), answer.reference) {
                ("match", _) => Ok(ProviderOutcome::Match),
                ("mismatch", _) => Ok(ProviderOutcome::Mismatch(
                    answer
                        .reason
                        .unwrap_or_else(|| "name and ID number do not match".into()),
                )),
                ("pending", Some(reference)) if !reference.is_empty() => {
                    Ok(ProviderOutcome::Pending(reference))
                }
                (other, _) => Err(unavailable(format!(
                    "the identity provider gave an unknown result {other:?}"
                ))),
            }
        }
    }
}

fn unavailable(detail: String) -> ApiError {
    eprintln!("qz: identity provider: {detail}");
    ApiError::new(
        axum::http::StatusCode::BAD_GATEWAY,
        "provider_unavailable",
        "the identity check service is unavailable; try again later",
    )
}

pub(crate) fn provider_name(settings: &IdentitySettings) -> &'static str {
    match settings {
        IdentitySettings::Development => "development",
        IdentitySettings::Http { .. } => "http",
    }
}

/// The submission.
#[derive(Debug, Deserialize)]
pub struct IdentityForm {
    /// Legal name.
    pub real_name: String,
    /// Resident ID number.
    pub id_number: String,
}

/// The caller's identity as shown.
#[derive(Debug, Serialize)]
pub struct IdentityOut {
    /// unverified, pending, verified, rejected.
    pub status: &'static str,
    /// Legal name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_name: Option<String>,
    /// Masked ID number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_masked: Option<String>,
    /// Which provider checked ("development" accepts any well-formed number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

async fn current(state: &AppState, user_id: &str) -> ApiResult<IdentityOut> {
    Ok(match state.store.identity(user_id).await? {
        Some(identity) => IdentityOut {
            status: identity.status.as_str(),
            real_name: Some(identity.real_name),
            id_masked: Some(identity.id_masked),
            provider: Some(identity.provider),
            reason: identity.reason,
        },
        None => IdentityOut {
            status: IdentityStatus::Unverified.as_str(),
            real_name: None,
            id_masked: None,
            provider: None,
            reason: None,
        },
    })
}

/// `GET /me/identity`.
pub async fn status(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<IdentityOut>> {
    Ok(Json(current(&state, &caller.user.id).await?))
}

/// `POST /me/identity`.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<IdentityForm>,
) -> ApiResult<Json<IdentityOut>> {
    state.limiter.check(&format!("identity:{}", caller.user.id), 10)?;
    let existing = state.store.identity(&caller.user.id).await?;
    existing
        .as_ref()
        .map_or(IdentityStatus::Unverified, |i| i.status)
        .may_submit()?;
    let real_name = form.real_name.trim();
    check_real_name(real_name)?;
    let id_number = check_id_number(&form.id_number)?;
    let outcome = ask_provider(&state.config.identity, &state.http, real_name, &id_number).await?;
    let (status, reference, reason) = match &outcome {
        ProviderOutcome::Match => (IdentityStatus::Verified, None, None),
        ProviderOutcome::Mismatch(reason) => (IdentityStatus::Rejected, None, Some(reason.as_str())),
        ProviderOutcome::Pending(reference) => (IdentityStatus::Pending, Some(reference.as_str()), None),
    };
    let sealed = state
        .key
        .seal(id_number.as_bytes(), &format!("identity:{}", caller.user.id))?;
    let digest = state.key.id_digest(&id_number);
    state
        .store
        .put_identity(
            &caller.user.id,
            &NewIdentity {
                real_name,
                id_masked: &mask_id_number(&id_number),
                id_digest: &digest,
                id_sealed: &sealed,
                provider: provider_name(&state.config.identity),
                status,
                reference,
                reason,
            },
            &caller.context(),
        )
        .await?;
    if status == IdentityStatus::Verified {
        // The name seal and certificate follow verification; a failure here heals on the next
        // listing of seals or certificates, so the verification itself stands.
        if let Err(err) = crate::credentials::ensure_person(&state, &caller.user.id, &caller.context()).await
        {
            eprintln!("qz: issuing credentials after verification: {}", err.detail);
        }
    }
    Ok(Json(current(&state, &caller.user.id).await?))
}

/// The provider's report on a pending check.
#[derive(Debug, Deserialize)]
pub struct CallbackForm {
    /// The reference it gave when it answered "pending".
    pub reference: String,
    /// "match" or "mismatch".
    pub result: String,
    /// Why not.
    pub reason: Option<String>,
}

/// `POST /identity/callback` (provider → platform, with `X-Provider-Key`).
pub async fn callback(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    Body(form): Body<CallbackForm>,
) -> ApiResult<Json<serde_json::Value>> {
    let IdentitySettings::Http { key, .. } = &state.config.identity else {
        return Err(ApiError::not_found("the callback"));
    };
    let sent = headers
        .get("x-provider-key")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !constant_time_eq(sent, key.0.as_bytes()) {
        state.limiter.check(&format!("callback:{}", client.ip), 10)?;
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "wrong or missing X-Provider-Key",
        ));
    }
    let identity = state.store.identity_by_reference(&form.reference).await?;
    let (status, reason) = match form.result.as_str() {
        "match" => (IdentityStatus::Verified, None),
        "mismatch" => (
            IdentityStatus::Rejected,
            Some(
                form.reason
                    .as_deref()
                    .unwrap_or("name and ID number do not match"),
            ),
        ),
        _ => return Err(ApiError::invalid("result must be match or mismatch")),
    };
    state
        .store
        .finish_identity(&identity.user_id, status, reason, &client.context())
        .await?;
    if status == IdentityStatus::Verified
        && let Err(err) =
            crate::credentials::ensure_person(&state, &identity.user_id, &client.context()).await
    {
        eprintln!("qz: issuing credentials after verification: {}", err.detail);
    }
    Ok(Json(serde_json::json!({ "status": status.as_str() })))
}
