//! Token certificates (Ukey, 数字证书介质): the person's key stays on their token; the platform
//! certifies it from a PKCS#10 request the token signed, with the SMS code as the person's
//! consent. The new certificate supersedes the person's active one; flow signatures with it go
//! through the pending-signature steps (prepare, sign the digest on the token, finish), driven
//! by the local helper `qz token sign-pending`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use der::{Decode as _, Encode as _};
use serde::Deserialize;

use qz_domain::account::CodePurpose;
use qz_pki::custody::remote::RemoteSigner;
use qz_store::Custody;

use crate::api::accounts::use_code;
use crate::api::auth::Caller;
use crate::api::certs::{CertOut, out};
use crate::api::{ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::credentials;
use crate::secrets::unhex;

/// A PKCS#10 request (hex DER) whose signature verifies under its own key, and that key
/// described; shared with co-sign enrolment.
pub(crate) fn checked_request(hex_der: &str) -> ApiResult<(x509_cert::request::CertReq, RemoteSigner)> {
    let der = unhex(hex_der.trim(), 16 * 1024).ok_or_else(|| ApiError::invalid("csr is hex DER"))?;
    let csr = x509_cert::request::CertReq::from_der(&der)
        .map_err(|_| ApiError::invalid("csr is not a PKCS#10 request"))?;
    let info = csr.info.to_der().map_err(|_| ApiError::invalid("bad request"))?;
    let signature = csr
        .signature
        .as_bytes()
        .ok_or_else(|| ApiError::invalid("bad signature"))?;
    // What the key is, and so how it signs, is read off the request's own public key.
    let remote =
        RemoteSigner::for_public_key(&csr.info.public_key).map_err(|e| ApiError::invalid(e.to_string()))?;
    qz_pki::verify::verify_signature(
        &csr.info.public_key,
        &csr.algorithm,
        remote.digest,
        &info,
        signature,
    )
    .map_err(|_| {
        ApiError::invalid("the request's signature does not verify (it must be signed by its own key)")
    })?;
    Ok((csr, remote))
}

/// `POST /me/certificates/token` body.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    /// DER PKCS#10 request signed by the token's key, hex.
    pub csr: String,
    /// SMS code, purpose `sign`.
    pub code: String,
}

/// `POST /me/certificates/token`.
pub async fn enrol(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<TokenForm>,
) -> ApiResult<(StatusCode, Json<CertOut>)> {
    state.limiter.check(&format!("token:{}", caller.user.id), 10)?;
    if !caller.actor.identity_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "verify your identity first",
        ));
    }
    let (csr, remote) = checked_request(&form.csr)?;
    if remote.algorithm.oid == qz_pki::oid::SHA256_WITH_RSA && remote.max_len < 256 {
        return Err(ApiError::invalid("RSA keys have at least 2048 bits"));
    }
    use_code(&state, CodePurpose::Sign, &caller.user.phone, &form.code).await?;
    let identity = state
        .store
        .identity(&caller.user.id)
        .await?
        .ok_or_else(|| ApiError::not_found("identity"))?;
    let algorithm = match remote.digest {
        qz_pki::DigestAlgorithm::Sm3 => "sm2",
        _ if remote.algorithm.oid == qz_pki::oid::ECDSA_WITH_SHA256 => "p256",
        _ => "rsa",
    };
    let record = credentials::certify_person_key(
        &state,
        &caller.user.id,
        &identity,
        csr.info.public_key.clone(),
        Custody::Token,
        algorithm,
        None,
        &caller.context(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out(record))))
}
