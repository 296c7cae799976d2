//! Certificates in the platform (数字证书): listing, revocation, re-issue, and co-sign
//! enrolment by invitation code (下载证书邀请码, W 三): the PC shows a one-time code as a QR
//! code, the phone exchanges key halves with the server, proves the joint key by signing its
//! certificate request through the protocol, and receives the certificate. Re-downloading
//! with a new password supersedes (revokes) the previous certificate; a phone whose key was
//! superseded is told to download again.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use der::{Decode as _, Encode as _};
use serde::{Deserialize, Serialize};

use qz_domain::access::OrgAction;
use qz_domain::account::CodePurpose;
use qz_domain::identity::IdentityStatus;
use qz_pki::custody::cosign::{ServerShare, SignRequest, SignResponse};
use qz_store::{CertRecord, Custody, StoreError, TrailContext};

use crate::api::accounts::use_code;
use crate::api::auth::{Caller, Client, session_of};
use crate::api::orgs::authorized_org;
use crate::api::{ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::credentials;
use crate::secrets::{hex, random_bytes};

/// How long an invitation code works.
pub const INVITE_TTL: i64 = 30 * 60;

/// A certificate as the API shows it (with its PEM).
#[derive(Debug, Serialize)]
pub struct CertOut {
    /// The record.
    #[serde(flatten)]
    pub record: CertRecord,
    /// PEM of the certificate.
    pub pem: String,
}

fn pem_of(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap_or_default()
}

pub(crate) fn out(record: CertRecord) -> CertOut {
    CertOut {
        pem: pem_of(&record.cert_der),
        record,
    }
}

/// `GET /me/certificates`.
pub async fn mine(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<serde_json::Value>> {
    credentials::ensure_person(&state, &caller.user.id, &caller.context()).await?;
    let certs: Vec<CertOut> = state
        .store
        .certificates_of(Some(&caller.user.id), None)
        .await?
        .into_iter()
        .map(out)
        .collect();
    Ok(Json(serde_json::json!({
        "custody": credentials::person_custody(&state),
        "items": certs,
    })))
}

/// `GET /orgs/{id}/certificates`: members see their organization's certificates.
pub async fn of_org(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<CertOut>>> {
    let org = authorized_org(&state, &caller.actor, &id, OrgAction::View).await?;
    credentials::ensure_org(&state, &org, &caller.context()).await?;
    Ok(Json(
        state
            .store
            .certificates_of(None, Some(&org.id))
            .await?
            .into_iter()
            .map(out)
            .collect(),
    ))
}

/// `POST /me/certificates/reissue` body.
#[derive(Debug, Deserialize)]
pub struct ReissueForm {
    /// SMS code (purpose `sign`): the hosted key's holder confirms.
    pub code: String,
}

/// `POST /me/certificates/reissue`: a new hosted certificate; the old one is revoked as
/// superseded. Co-sign persons download again with an invitation code instead.
pub async fn reissue(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<ReissueForm>,
) -> ApiResult<(StatusCode, Json<CertOut>)> {
    if !caller.actor.identity_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "verify your identity first",
        ));
    }
    if credentials::person_custody(&state) == Custody::Cosign {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "co-sign certificates are downloaded again on the phone with a new invitation code",
        ));
    }
    use_code(&state, CodePurpose::Sign, &caller.user.phone, &form.code).await?;
    let identity = state
        .store
        .identity(&caller.user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("identity"))?;
    let subject = credentials::person_subject(&state, &caller.user.id, &identity)?;
    let record =
        credentials::issue_hosted(&state, Some(&caller.user.id), None, subject, &caller.context()).await?;
    Ok((StatusCode::CREATED, Json(out(record))))
}

/// `POST /orgs/{id}/certificates/reissue`: the organization's admin asks for a new hosted
/// certificate (SMS code to the admin's phone); the old one is revoked as superseded.
pub async fn reissue_org(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<ReissueForm>,
) -> ApiResult<(StatusCode, Json<CertOut>)> {
    let org = authorized_org(&state, &caller.actor, &id, OrgAction::View).await?;
    if caller.actor.role_in(&org.id) != Some(qz_domain::org::OrgRole::Admin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the organization's admin asks for its certificate",
        ));
    }
    if !org.verified {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "the organization is not verified",
        ));
    }
    use_code(&state, CodePurpose::Sign, &caller.user.phone, &form.code).await?;
    let record = credentials::issue_hosted(
        &state,
        None,
        Some(&org.id),
        credentials::org_subject(&org),
        &caller.context(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out(record))))
}

/// `POST …/revoke` body.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    /// RFC 5280 reason name (`keyCompromise`, `affiliationChanged`, `superseded`,
    /// `cessationOfOperation`, `privilegeWithdrawn`, `unspecified`).
    pub reason: Option<String>,
}

fn reason_code(name: Option<&str>) -> ApiResult<i64> {
    let name = name.unwrap_or("unspecified");
    qz_pki::ca::REASONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, code)| i64::from(*code))
        .ok_or_else(|| ApiError::invalid(format!("unknown revocation reason {name:?}")))
}

async fn load_cert(state: &AppState, id: &str) -> ApiResult<CertRecord> {
    match state.store.certificate(id).await {
        Ok(cert) => Ok(cert),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("certificate")),
        Err(err) => Err(err.into()),
    }
}

/// `POST /certificates/{id}/revoke`: the person for their own certificate, the organization's
/// admin for its certificate, or a platform admin for any.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<RevokeForm>,
) -> ApiResult<Json<CertOut>> {
    let cert = load_cert(&state, &id).await?;
    let allowed = caller.actor.platform_admin
        || cert.owner_user.as_deref() == Some(caller.user.id.as_str())
        || cert
            .owner_org
            .as_deref()
            .is_some_and(|org| caller.actor.role_in(org) == Some(qz_domain::org::OrgRole::Admin));
    if !allowed {
        return Err(ApiError::not_found("certificate"));
    }
    if cert.status != "active" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "the certificate is already revoked",
        ));
    }
    let reason = reason_code(form.reason.as_deref())?;
    state
        .store
        .revoke_certificate(&cert, reason, &caller.context())
        .await?;
    credentials::sync_revocations(&state).await;
    Ok(Json(out(load_cert(&state, &id).await?)))
}

/// An invitation for the PC to show as a QR code.
#[derive(Debug, Serialize)]
pub struct InviteOut {
    /// The code the phone enters or scans.
    pub code: String,
    /// The phone page.
    pub url: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The URL as an SVG QR code.
    pub qr_svg: String,
}

/// Invitation codes: 12 characters of an alphabet without look-alikes (60 bits).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

fn new_invite_code() -> ApiResult<String> {
    let bytes = random_bytes::<12>()?;
    // 31 letters: the bias of `% 31` on a byte is under 1 %, irrelevant at 60 bits.
    Ok(bytes
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect())
}

fn invite_digest(state: &AppState, code: &str) -> String {
    state
        .key
        .code_digest("cosign_invite", "", &code.trim().to_ascii_uppercase())
}

/// `POST /me/cosign/invitations`: a one-time code, valid 30 minutes, for downloading the
/// co-sign certificate on the phone (earlier unused codes stop working).
pub async fn invite(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<InviteOut>)> {
    if !caller.actor.identity_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "verify your identity before downloading a certificate",
        ));
    }
    if credentials::person_custody(&state) != Custody::Cosign {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "this installation keeps persons' keys hosted; there is nothing to download",
        ));
    }
    state.limiter.check(&format!("invite:{}", caller.user.id), 10)?;
    let code = new_invite_code()?;
    let url = format!(
        "{}/m/certificate?code={code}",
        state.config.base_url.trim_end_matches('/')
    );
    let expires_at = state
        .store
        .create_cosign_invite(
            &invite_digest(&state, &code),
            &caller.user.id,
            INVITE_TTL,
            &caller.context(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InviteOut {
            qr_svg: credentials::qr_svg(&url)?,
            url,
            code,
            expires_at,
        }),
    ))
}

fn unhex(text: &str) -> ApiResult<Vec<u8>> {
    crate::secrets::unhex(text, 8 * 1024).ok_or_else(|| ApiError::invalid("expected hex"))
}

/// `POST /cosign/enrol` body.
#[derive(Debug, Deserialize)]
pub struct EnrolForm {
    /// The invitation code.
    pub code: String,
    /// P1 = [d1⁻¹]G, hex.
    pub client_partial: String,
}

/// Server → phone.
#[derive(Debug, Serialize)]
pub struct EnrolOut {
    /// Key id for the next calls.
    pub key_id: String,
    /// P2, hex.
    pub server_partial: String,
    /// The joint public key, hex.
    pub public_key: String,
}

fn share_context(key_id: &str) -> String {
    format!("cosign:{key_id}")
}

/// `POST /cosign/enrol`: the phone spends the invitation and gets the server's key half.
pub async fn enrol(
    State(state): State<Arc<AppState>>,
    client: Client,
    Body(form): Body<EnrolForm>,
) -> ApiResult<(StatusCode, Json<EnrolOut>)> {
    state.limiter.check(&format!("enrol:{}", client.ip), 20)?;
    let partial = unhex(&form.client_partial)?;
    let (share, server_partial) = ServerShare::generate().map_err(ApiError::internal)?;
    let public = share
        .joint_public_key(&partial)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let key_id = qz_store::new_id();
    let sealed = state.key.seal(&share.to_bytes(), &share_context(&key_id))?;
    state
        .store
        .start_cosign_enrolment(
            &invite_digest(&state, &form.code),
            &key_id,
            &hex(&public),
            &sealed,
            &client.context(),
        )
        .await
        .map_err(|err| match err {
            StoreError::NotFound(_) => ApiError::not_found("invitation (wrong, used or expired code)"),
            other => other.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(EnrolOut {
            key_id,
            server_partial: hex(&server_partial),
            public_key: hex(&public),
        }),
    ))
}

/// `POST /cosign/certify` body.
#[derive(Debug, Deserialize)]
pub struct CertifyForm {
    /// Key id from enrolment.
    pub key_id: String,
    /// DER PKCS#10 for the joint key, hex, signed through the protocol.
    pub csr: String,
}

/// `POST /cosign/certify`: issues the certificate for an enrolling key. The subject comes from
/// the person's verified identity, never from the request; the previous certificate is revoked
/// as superseded (re-download = password reset).
pub async fn certify(
    State(state): State<Arc<AppState>>,
    client: Client,
    Body(form): Body<CertifyForm>,
) -> ApiResult<(StatusCode, String)> {
    state.limiter.check(&format!("enrol:{}", client.ip), 20)?;
    let key = state
        .store
        .cosign_key(&form.key_id)
        .await
        .map_err(|_| ApiError::not_found("co-sign key"))?;
    if key.status != "enrolling" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "this key is already certified",
        ));
    }
    if qz_store::now() - key.created_at > INVITE_TTL {
        return Err(ApiError::new(
            StatusCode::GONE,
            "redownload",
            "this enrolment expired; ask for a new invitation code",
        ));
    }
    let (csr, _) = crate::api::token::checked_request(&form.csr)?;
    if hex(csr.info.public_key.subject_public_key.raw_bytes()) != key.public_key {
        return Err(ApiError::invalid("the request is not for this key"));
    }
    let identity = state
        .store
        .identity(&key.user_id)
        .await?
        .filter(|i| i.status == IdentityStatus::Verified)
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "forbidden", "the identity is not verified"))?;
    let context = TrailContext {
        actor: Some(key.user_id.clone()),
        ..client.context()
    };
    let record = credentials::certify_person_key(
        &state,
        &key.user_id,
        &identity,
        csr.info.public_key.clone(),
        Custody::Cosign,
        "sm2",
        Some(&key.id),
        &context,
    )
    .await?;
    let der = record.cert_der;
    let issuing = state
        .pki
        .issuing_certificate()
        .to_der()
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        format!("{}{}", pem_of(&der), pem_of(&issuing)),
    ))
}

/// `POST /cosign/sign` body.
#[derive(Debug, Deserialize)]
pub struct CosignForm {
    /// Key id.
    pub key_id: String,
    /// While enrolling: the DER CertificationRequestInfo (hex) being signed. An enrolling key
    /// signs nothing else, so a stolen invitation code cannot pre-sign documents with a key
    /// that will later be certified in the victim's name.
    pub csr_info: Option<String>,
    /// The protocol message.
    #[serde(flatten)]
    pub request: SignRequest,
}

/// `POST /cosign/sign`: the server's half of one signature. While enrolling, only to prove the
/// key (the certificate request); once certified, only in a session of the key's owner. A key
/// that was superseded or revoked answers 410: the phone must download again.
pub async fn sign(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: axum::http::HeaderMap,
    Body(form): Body<CosignForm>,
) -> ApiResult<Json<SignResponse>> {
    state.limiter.check(&format!("cosign:{}", client.ip), 120)?;
    let key = state
        .store
        .cosign_key(&form.key_id)
        .await
        .map_err(|_| ApiError::not_found("co-sign key"))?;
    let mut context = client.context();
    match key.status.as_str() {
        "enrolling" => {
            if qz_store::now() - key.created_at > INVITE_TTL {
                return Err(ApiError::new(
                    StatusCode::GONE,
                    "redownload",
                    "this enrolment expired; ask for a new invitation code",
                ));
            }
            let info_der = unhex(form.csr_info.as_deref().unwrap_or_default())?;
            let info = x509_cert::request::CertReqInfo::from_der(&info_der).map_err(|_| {
                ApiError::invalid("an enrolling key signs only its certificate request (csr_info)")
            })?;
            let public = unhex(&key.public_key)?;
            if info.public_key.subject_public_key.raw_bytes() != public.as_slice() {
                return Err(ApiError::invalid("the certificate request is not for this key"));
            }
            let e =
                qz_pki::custody::cosign::message_digest(&public, &info_der).map_err(ApiError::internal)?;
            if e != form.request.e {
                return Err(ApiError::invalid(
                    "an enrolling key signs only its certificate request",
                ));
            }
        }
        "active" => {
            let (session, user) = session_of(&state, &headers)
                .await?
                .ok_or_else(ApiError::unauthenticated)?;
            crate::api::auth::check_csrf(&headers, &session)?;
            if user.id != key.user_id {
                return Err(ApiError::not_found("co-sign key"));
            }
            context.actor = Some(user.id);
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "redownload",
                "this certificate was replaced or revoked; download it again with a new invitation code (证书已失效，请重新下载)",
            ));
        }
    }
    let share_bytes = state.key.open(&key.share_sealed, &share_context(&key.id))?;
    let share = ServerShare::from_bytes(&share_bytes).map_err(ApiError::internal)?;
    let response = share
        .respond(&form.request)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    state
        .store
        .record_cosign(&key, &hex(&form.request.e), &context)
        .await?;
    Ok(Json(response))
}

/// `GET /cosign/keys/{key_id}`: whether a phone's key still works.
pub async fn key_status(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(key_id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    state.limiter.check(&format!("cosign:{}", client.ip), 120)?;
    let key = state
        .store
        .cosign_key(&key_id)
        .await
        .map_err(|_| ApiError::not_found("co-sign key"))?;
    Ok(Json(serde_json::json!({
        "status": key.status,
        "redownload": key.status == "retired",
    })))
}
