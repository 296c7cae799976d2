//! Seals (印章管理): a person's default name seal and handwritten signature, organization seals
//! generated from text or uploaded, enable / disable / soft delete, usage statistics
//! (盖章统计), and handwriting capture through a short-lived link opened on a phone.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use qz_domain::access::OrgAction;
use qz_domain::seal::{SealKind, SealOwner, SealStatus, check_seal_name};
use qz_seal::draw::{DrawKind, SealDrawing};
use qz_seal::handwriting::{HandwritingError, Ink};
use qz_store::{NewSeal, Page, Seal, SealStats, SealUse, StoreError, TrailContext};

use crate::api::auth::{Caller, Client};
use crate::api::orgs::authorized_org;
use crate::api::{ApiError, ApiResult, Body, ListQuery, PageOut};
use crate::app::AppState;
use crate::credentials;
use crate::secrets::{new_token, sha256_hex};

/// How long a handwriting capture link works.
pub const CAPTURE_LINK_TTL: i64 = 10 * 60;

/// Loads a seal the caller may see; deleted seals and other people's are 404.
pub async fn visible_seal(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Seal> {
    let seal = match state.store.seal(id).await {
        Ok(seal) => seal,
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("seal")),
        Err(err) => return Err(err.into()),
    };
    caller
        .actor
        .may_view_seal(seal.as_ref())
        .map_err(|err| match err {
            qz_domain::Error::Hidden => ApiError::not_found("seal"),
            other => other.into(),
        })?;
    Ok(seal)
}

/// Whether the caller may change a seal: its person, or the organization's seal managers.
fn may_manage(caller: &Caller, seal: &Seal) -> ApiResult<()> {
    match seal.as_ref().owner {
        SealOwner::Person(owner) if owner == caller.user.id => Ok(()),
        SealOwner::Person(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the person changes their own seals",
        )),
        SealOwner::Org(org) => Ok(caller.actor.may_manage_seals(org)?),
    }
}

/// `GET /me/seals`: the caller's seals (a verified person always has a default name seal).
pub async fn mine(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<Vec<Seal>>> {
    credentials::ensure_person(&state, &caller.user.id, &caller.context()).await?;
    Ok(Json(state.store.seals_of_user(&caller.user.id).await?))
}

/// `?ink=black|blue` of handwriting uploads.
#[derive(Debug, Deserialize)]
pub struct InkQuery {
    /// Stroke colour (black by default).
    pub ink: Option<String>,
}

fn ink(query: &InkQuery) -> ApiResult<Ink> {
    match query.ink.as_deref() {
        None | Some("black") => Ok(Ink::Black),
        Some("blue") => Ok(Ink::Blue),
        Some(_) => Err(ApiError::invalid("ink is black or blue")),
    }
}

/// Cleans a handwriting picture and stores it as a PNG blob owned by `owner`.
async fn clean_and_store(
    state: &AppState,
    body: Bytes,
    ink: Ink,
    owner: &str,
    context: &TrailContext,
) -> ApiResult<String> {
    if body.is_empty() {
        return Err(ApiError::invalid(
            "send the picture as the request body (PNG or JPEG)",
        ));
    }
    let _permit = state.image_jobs.acquire().await.map_err(ApiError::internal)?;
    let png = tokio::task::spawn_blocking(move || qz_seal::handwriting::clean(&body, ink))
        .await
        .map_err(ApiError::internal)?
        .map_err(|err| match err {
            HandwritingError::Encode(_) => ApiError::internal(err),
            other => ApiError::invalid(other.to_string()),
        })?;
    credentials::store_png(state, png, owner, context).await
}

async fn save_handwriting(
    state: &AppState,
    user_id: &str,
    blob_id: &str,
    context: &TrailContext,
) -> ApiResult<Seal> {
    Ok(state
        .store
        .create_seal(
            &NewSeal {
                owner: SealOwner::Person(user_id),
                kind: SealKind::Handwriting,
                name: "手写签名",
                blob_id,
                is_default: false,
            },
            context,
        )
        .await?)
}

/// `POST /me/seals/handwriting`: upload a signature picture; it is cleaned and replaces the
/// previous handwritten signature (the last one wins).
pub async fn upload_handwriting(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<InkQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Seal>)> {
    state
        .limiter
        .check(&format!("handwriting:{}", caller.user.id), 30)?;
    let context = caller.context();
    let blob_id = clean_and_store(&state, body, ink(&query)?, &caller.user.id, &context).await?;
    let seal = save_handwriting(&state, &caller.user.id, &blob_id, &context).await?;
    Ok((StatusCode::CREATED, Json(seal)))
}

/// `POST /admin/users/{id}/handwriting`: a platform admin uploads the scanned paper sample of
/// a person (采集表).
pub async fn admin_upload_handwriting(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(user_id): Path<String>,
    Query(query): Query<InkQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Seal>)> {
    caller.actor.may_administer()?;
    let user = state.store.user(&user_id).await?;
    let context = caller.context();
    let blob_id = clean_and_store(&state, body, ink(&query)?, &user.id, &context).await?;
    let seal = save_handwriting(&state, &user.id, &blob_id, &context).await?;
    Ok((StatusCode::CREATED, Json(seal)))
}

/// A capture link for the PC to show as a QR code.
#[derive(Debug, Serialize)]
pub struct CaptureLinkOut {
    /// The phone page to open.
    pub url: String,
    /// The token in it (the upload goes to `POST /handwriting-links/{token}`).
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The URL as an SVG QR code.
    pub qr_svg: String,
}

/// `POST /me/handwriting-links`: a one-time link, valid ten minutes, for capturing the
/// signature on a phone.
pub async fn create_capture_link(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<CaptureLinkOut>)> {
    state
        .limiter
        .check(&format!("capture-link:{}", caller.user.id), 20)?;
    let (token, digest) = new_token()?;
    let url = format!(
        "{}/m/handwriting/{token}",
        state.config.base_url.trim_end_matches('/')
    );
    let expires_at = state
        .store
        .create_capture_link(&digest, &caller.user.id, CAPTURE_LINK_TTL, &caller.context())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CaptureLinkOut {
            qr_svg: credentials::qr_svg(&url)?,
            url,
            token,
            expires_at,
        }),
    ))
}

/// `GET /handwriting-links/{token}`: whether the link still works (for the phone page).
pub async fn capture_link_status(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    state.limiter.check(&format!("capture:{}", client.ip), 60)?;
    let user_id = state
        .store
        .capture_link_user(&sha256_hex(token.as_bytes()))
        .await
        .map_err(|_| ApiError::not_found("capture link (it expired or was used)"))?;
    let user = state.store.user(&user_id).await?;
    Ok(Json(serde_json::json!({ "valid": true, "name": user.name })))
}

/// `POST /handwriting-links/{token}`: the phone uploads the drawn signature (the link is the
/// credential; it works once).
pub async fn capture(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(token): Path<String>,
    Query(query): Query<InkQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Seal>)> {
    state.limiter.check(&format!("capture:{}", client.ip), 60)?;
    let digest = sha256_hex(token.as_bytes());
    let user_id = state
        .store
        .capture_link_user(&digest)
        .await
        .map_err(|_| ApiError::not_found("capture link (it expired or was used)"))?;
    let context = TrailContext {
        actor: Some(user_id.clone()),
        ..client.context()
    };
    let blob_id = clean_and_store(&state, body, ink(&query)?, &user_id, &context).await?;
    let seal = state
        .store
        .use_capture_link(&digest, &blob_id, &context)
        .await
        .map_err(|err| match err {
            StoreError::NotFound(_) => ApiError::not_found("capture link (it expired or was used)"),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(seal)))
}

/// `GET /orgs/{id}/seals`: members see their organization's seals.
pub async fn of_org(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Seal>>> {
    authorized_org(&state, &caller.actor, &id, OrgAction::View).await?;
    Ok(Json(state.store.seals_of_org(&id).await?))
}

/// `POST /orgs/{id}/seals` body: draw from text, or use an uploaded PNG.
#[derive(Debug, Deserialize)]
pub struct NewOrgSeal {
    /// official, contract, finance, oval, or uploaded.
    pub kind: String,
    /// Display name (default: organization name plus the kind).
    pub name: Option<String>,
    /// Text on the arc: only the organization's own name (the default).
    pub text: Option<String>,
    /// Label in the middle.
    pub label: Option<String>,
    /// Code along the lower arc.
    pub code: Option<String>,
    /// For `uploaded`: a PNG the caller uploaded to `/blobs`.
    pub blob_id: Option<String>,
}

/// `POST /orgs/{id}/seals`: the org admin or a seal operator creates a seal.
pub async fn create_org_seal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<NewOrgSeal>,
) -> ApiResult<(StatusCode, Json<Seal>)> {
    let org = authorized_org(&state, &caller.actor, &id, OrgAction::View).await?;
    caller.actor.may_manage_seals(&org.id)?;
    if !org.verified {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "the organization is not verified yet",
        ));
    }
    let kind = SealKind::parse(&form.kind)?;
    if !kind.for_org() {
        return Err(ApiError::invalid(
            "an organization's seal is official, contract, finance, oval or uploaded",
        ));
    }
    let context = caller.context();
    let blob_id = if kind == SealKind::Uploaded {
        let blob_id = form
            .blob_id
            .as_deref()
            .ok_or_else(|| ApiError::invalid("an uploaded seal needs blob_id (a PNG from POST /blobs)"))?;
        let info = match state.store.blob(blob_id).await {
            Ok(info) if info.owner_id == caller.user.id && info.content_type == "image/png" => info,
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(ApiError::invalid("blob_id must be a PNG you uploaded"));
            }
            Err(err) => return Err(err.into()),
        };
        let bytes = state.blobs.get(&info.sha256).await?;
        qz_seal::SealImage::decode(&bytes).map_err(|e| ApiError::invalid(e.to_string()))?;
        info.id
    } else {
        let draw_kind = match kind {
            SealKind::Official => DrawKind::Official,
            SealKind::Contract => DrawKind::Contract,
            SealKind::Finance => DrawKind::Finance,
            _ => DrawKind::Oval,
        };
        // A seal bears its own organization's name: nobody draws another company's seal here.
        if form.text.as_deref().is_some_and(|t| t.trim() != org.name) {
            return Err(ApiError::invalid(
                "a seal bears the organization's verified name; leave text out",
            ));
        }
        let drawing = SealDrawing {
            kind: draw_kind,
            text: org.name.clone(),
            label: form.label.clone(),
            code: form.code.clone(),
            dpi: 300.0,
        };
        credentials::store_drawing(&state, drawing, &caller.user.id, &context).await?
    };
    let name = form.name.clone().unwrap_or_else(|| {
        let suffix = match kind {
            SealKind::Official => "公章",
            SealKind::Contract => "合同专用章",
            SealKind::Finance => "财务专用章",
            SealKind::Oval => "椭圆章",
            _ => "印章",
        };
        format!("{}{suffix}", org.name)
    });
    check_seal_name(&name)?;
    let seal = state
        .store
        .create_seal(
            &NewSeal {
                owner: SealOwner::Org(&org.id),
                kind,
                name: &name,
                blob_id: &blob_id,
                is_default: false,
            },
            &context,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(seal)))
}

/// `GET /seals/{id}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Seal>> {
    Ok(Json(visible_seal(&state, &caller, &id).await?))
}

/// `GET /seals/{id}/image`: the PNG.
pub async fn image(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let seal = visible_seal(&state, &caller, &id).await?;
    let info = state.store.blob(&seal.blob_id).await?;
    let bytes = state.blobs.get(&info.sha256).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("image/png"),
    );
    Ok((headers, bytes).into_response())
}

async fn change_status(state: &AppState, caller: &Caller, id: &str, to: SealStatus) -> ApiResult<Seal> {
    let seal = visible_seal(state, caller, id).await?;
    may_manage(caller, &seal)?;
    seal.status.may_become(to)?;
    state
        .store
        .set_seal_status(&seal.id, seal.status, to, &caller.context())
        .await?;
    Ok(state.store.seal(&seal.id).await?)
}

/// `POST /seals/{id}/enable`.
pub async fn enable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Seal>> {
    Ok(Json(
        change_status(&state, &caller, &id, SealStatus::Enabled).await?,
    ))
}

/// `POST /seals/{id}/disable`.
pub async fn disable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Seal>> {
    Ok(Json(
        change_status(&state, &caller, &id, SealStatus::Disabled).await?,
    ))
}

/// `DELETE /seals/{id}`: soft delete (kept for the trail; its grants end).
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    change_status(&state, &caller, &id, SealStatus::Deleted).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?from=&to=` (Unix seconds) of the statistics; the last 30 days by default.
#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    /// Start, inclusive.
    pub from: Option<i64>,
    /// End, exclusive.
    pub to: Option<i64>,
}

/// Statistics are for the person, or the organization's seal managers.
async fn ledger_seal(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Seal> {
    let seal = visible_seal(state, caller, id).await?;
    if !caller.actor.platform_admin {
        may_manage(caller, &seal)?;
    }
    Ok(seal)
}

/// `GET /seals/{id}/stats`: stamps per user and per day in a period (盖章统计).
pub async fn stats(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> ApiResult<Json<SealStats>> {
    let seal = ledger_seal(&state, &caller, &id).await?;
    let to = query.to.unwrap_or_else(|| qz_store::now() + 1);
    let from = query.from.unwrap_or(to - 30 * 86_400);
    if from >= to {
        return Err(ApiError::invalid("from must be before to"));
    }
    Ok(Json(state.store.seal_stats(&seal.id, from, to).await?))
}

/// `GET /seals/{id}/uses`: the stamp ledger.
pub async fn uses(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<PageOut<SealUse>>> {
    let seal = ledger_seal(&state, &caller, &id).await?;
    let page: Page<SealUse> = state
        .store
        .seal_uses_page(&seal.id, query.cursor(), query.limit())
        .await?;
    Ok(Json(page.into()))
}
