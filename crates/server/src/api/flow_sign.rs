//! Signing a flow (签署): one PAdES signature (B-T, the platform's TSA) per signer per
//! document, with the intent check of DESIGN §5.
//!
//! * Hosted certificates: the SMS code (purpose `sign`) or a live auto-sign grant; the platform
//!   signs at once.
//! * Co-sign (协同签名) and token (Ukey) certificates: the key is not (wholly) here. The request
//!   answers 202 with a pending signature that lists, per document, the bytes the key must sign;
//!   the phone (password as intent, server half through `POST /cosign/sign`) or the local token
//!   helper (PIN as intent) signs them and posts the values to
//!   `POST /pending-signatures/{id}/finish`. Only the inputs of the preparation are stored; the
//!   finishing instance prepares the same revision again and must arrive at the same bytes, so
//!   any server can finish. A document that changed meanwhile (a parallel signer) makes the
//!   pending signature stale: the signer confirms again.
//!
//! Parallel signers of one document queue on a per-document lock on each instance; across
//! instances the version compare-and-set in `Store::append_signature` decides and the loser
//! signs the newer version. One signature per signer and document is all the store accepts, so
//! a retried request does not sign twice.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use der::Decode as _;
use serde::Deserialize;

use qz_domain::flow::{Party, SignerAction, SignerStatus};
use qz_domain::seal::{GrantRef, SealOwner};
use qz_pki::SignerIdentity;
use qz_pki::custody::remote::RemoteSigner;
use qz_store::{
    CertRecord, Custody, Flow, FlowSigner, NewPending, PendingDocument, PendingSignature, StoreError,
};

use crate::api::auth::Caller;
use crate::api::flows::{PresetForm, notify_current, notify_ended, visible_flow};
use crate::api::seals::visible_seal;
use crate::api::stamp::{
    Placement, confirmed_signer, data_request, prepare_with_marks, seal_image, sign_blocking,
    signing_certificate,
};
use crate::api::{ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::secrets::{hex, unhex};

/// Attempts at appending a signature when parallel signers keep winning the race.
const APPEND_ATTEMPTS: usize = 8;
/// How long a pending signature waits for the phone or the token.
pub const PENDING_TTL: i64 = 600;

/// The caller's slot: the one named, or the first of theirs whose turn it is.
pub(crate) fn my_slot(flow: &Flow, caller: &Caller, named: Option<&str>) -> ApiResult<String> {
    if let Some(id) = named {
        return Ok(id.to_owned());
    }
    let rules = flow.as_ref();
    rules
        .current_signers()
        .iter()
        .find(|s| match &s.party {
            Party::Person(user) => *user == caller.user.id,
            Party::Org(org) => caller.actor.role_in(org).is_some(),
        })
        .map(|s| s.id.clone())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "state",
                "nothing of this flow waits for you",
            )
        })
}

pub(crate) fn rule_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Rule(qz_domain::Error::Hidden) => ApiError::not_found("signer"),
        StoreError::Rule(rule) => rule.into(),
        other => other.into(),
    }
}

/// `POST /flows/{id}/sign` body.
#[derive(Debug, Deserialize)]
pub struct SignForm {
    /// The slot (default: the caller's current one).
    pub signer_id: Option<String>,
    /// The seal: a personal one for a person's slot, a granted organization seal for an
    /// organization's slot.
    pub seal_id: String,
    /// Where to stamp; absent: the slot's presets (一键盖章).
    pub placements: Option<Vec<PresetForm>>,
    /// SMS code, purpose `sign`.
    pub code: Option<String>,
    /// Sign under the caller's live auto-sign grant.
    #[serde(default)]
    pub autosign: bool,
}

/// What a signing request was checked to do.
struct Plan {
    flow: Flow,
    slot: FlowSigner,
    seal: qz_store::Seal,
    placements: Vec<PresetForm>,
}

/// Every check before the intent: the turn, the slot, the seal's owner and the caller's right
/// to stamp it, and placements on every document.
async fn plan(state: &AppState, caller: &Caller, id: &str, form: &SignForm) -> ApiResult<Plan> {
    let flow = visible_flow(state, caller, id).await?;
    let slot_id = my_slot(&flow, caller, form.signer_id.as_deref())?;
    let now = qz_store::now();
    flow.as_ref()
        .may_act(&caller.actor, &slot_id, SignerAction::Sign, now)
        .map_err(|e| match e {
            qz_domain::Error::Hidden => ApiError::not_found("signer"),
            other => other.into(),
        })?;
    let slot = flow
        .signers
        .iter()
        .find(|s| s.id == slot_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("signer"))?;
    crate::api::guests::matches_named(state, &slot, &caller.user.id).await?;
    let seal = visible_seal(state, caller, &form.seal_id).await?;
    // The seal must be the slot's own: the person's, or the organization's.
    let matches = match (seal.as_ref().owner, &slot.user_id, &slot.org_id) {
        (SealOwner::Person(owner), Some(user), _) => owner == user,
        (SealOwner::Org(owner), None, Some(org)) => owner == org,
        _ => false,
    };
    if !matches {
        return Err(ApiError::invalid(
            "sign a person's slot with their own seal, an organization's with one of its seals",
        ));
    }
    let grants: Vec<GrantRef> = state
        .store
        .grants_of_user(&caller.user.id)
        .await?
        .iter()
        .map(qz_store::Grant::as_ref)
        .collect();
    caller
        .actor
        .may_stamp(seal.as_ref(), &grants, flow.business_type.as_deref(), now)?;
    let placements: Vec<PresetForm> = match &form.placements {
        Some(placements) => placements.clone(),
        None => serde_json::from_value(slot.positions.clone()).unwrap_or_default(),
    };
    if placements.len() > 200 {
        return Err(ApiError::invalid("at most 200 stamps per signer"));
    }
    for doc in 0..flow.documents.len() {
        if !placements.iter().any(|p| p.document == doc) {
            return Err(ApiError::invalid(format!(
                "place the seal on document {doc} too (every document is signed)"
            )));
        }
    }
    Ok(Plan {
        flow,
        slot,
        seal,
        placements,
    })
}

fn marks_of(placements: &[PresetForm], doc: i64) -> Vec<Placement> {
    placements
        .iter()
        .filter(|p| i64::try_from(p.document).is_ok_and(|d| d == doc))
        .map(|p| p.placement)
        .collect()
}

/// `POST /flows/{id}/sign`: signs every document of the flow for one slot (200 with the
/// flow), or for a co-sign or token certificate without auto-sign answers 202 with the
/// pending signature the phone or the token helper completes.
pub async fn sign(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<SignForm>,
) -> ApiResult<Response> {
    state.limiter.check(&format!("sign:{}", caller.user.id), 120)?;
    let plan = plan(&state, &caller, &id, &form).await?;
    let now = qz_store::now();
    if !form.autosign && form.code.is_none() {
        let cert = signing_certificate(&state, &caller, plan.seal.as_ref().owner).await?;
        if cert.custody != Custody::Hosted {
            let pending = prepare_pending(&state, &caller, &plan, &cert).await?;
            // The PC shows a QR code the phone opens the co-sign companion with.
            let confirm_url = format!(
                "{}/m/certificate?pending={}",
                state.config.base_url.trim_end_matches('/'),
                pending.id
            );
            let mut body = serde_json::to_value(&pending).map_err(ApiError::internal)?;
            if let Some(object) = body.as_object_mut() {
                object.insert("qr_svg".into(), crate::credentials::qr_svg(&confirm_url)?.into());
                object.insert("confirm_url".into(), confirm_url.into());
            }
            return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
        }
    }
    let (key, identity) = confirmed_signer(
        &state,
        &caller,
        plan.seal.as_ref().owner,
        form.autosign,
        form.code.as_deref(),
        now,
    )
    .await?;
    let picture = seal_image(&state, &plan.seal).await?;
    let key: Arc<dyn qz_pki::DocumentSigner> = Arc::from(key);
    let identity = Arc::new(identity);
    let slot_id = plan.slot.id.clone();
    let done = state.store.signed_documents(&slot_id).await?;
    for doc in &plan.flow.documents {
        if done.contains(&doc.idx) {
            continue;
        }
        let marks = marks_of(&plan.placements, doc.idx);
        let local = LocalSignature {
            key: &key,
            identity: &identity,
            picture: &picture,
            marks: &marks,
        };
        if let Err(err) = append_one(
            &state,
            &caller,
            &id,
            &slot_id,
            doc.idx,
            &plan.seal.id,
            form.autosign,
            &local,
        )
        .await
        {
            record_failure(&state, &id, &slot_id, &err).await;
            return Err(err);
        }
    }
    let flow = finish_slot(&state, &caller, &plan.flow, &slot_id).await?;
    Ok(Json(crate::api::flows::with_names(&state, flow).await?).into_response())
}

/// Notes a failed signing among the flow's abnormal tasks (异常任务); refusals of the caller's
/// own making (4xx other than conflicts) are not abnormal.
async fn record_failure(state: &AppState, flow_id: &str, slot_id: &str, err: &ApiError) {
    if (err.status.is_server_error() || err.status == StatusCode::CONFLICT)
        && let Err(e) = state
            .store
            .record_flow_failure(flow_id, Some(slot_id), "signing", &err.detail)
            .await
    {
        eprintln!("qz: recording a failed signing: {e}");
    }
}

/// Marks the slot signed and tells whoever is next (or everyone, when the flow ended).
async fn finish_slot(state: &AppState, caller: &Caller, before: &Flow, slot_id: &str) -> ApiResult<Flow> {
    let flow = state
        .store
        .finish_signer(&caller.actor, &before.id, slot_id, &caller.context())
        .await
        .map_err(rule_error)?;
    if flow.status.ended() {
        notify_ended(state, &flow).await;
    } else {
        notify_current(state, &flow, Some(before)).await;
    }
    Ok(flow)
}

/// A signature made here with a key the platform holds (or completes under auto-sign).
struct LocalSignature<'a> {
    key: &'a Arc<dyn qz_pki::DocumentSigner>,
    identity: &'a Arc<SignerIdentity>,
    picture: &'a Arc<crate::api::stamp::SealPicture>,
    marks: &'a [Placement],
}

/// Signs one document on its latest version and appends the result, again on a newer version
/// when a parallel signer on another instance appended first.
#[allow(clippy::too_many_arguments)]
async fn append_one(
    state: &AppState,
    caller: &Caller,
    flow_id: &str,
    slot_id: &str,
    idx: i64,
    seal_id: &str,
    autosign: bool,
    local: &LocalSignature<'_>,
) -> ApiResult<()> {
    let lock = state.document_locks.get(&format!("{flow_id}/{idx}"));
    let _held = lock.lock().await;
    for _ in 0..APPEND_ATTEMPTS {
        let doc = state.store.flow_document(flow_id, idx).await?;
        let input = state.blobs.get(&doc.current_sha256).await?;
        let signed = sign_blocking(
            state,
            input,
            local.picture.clone(),
            local.marks.to_vec(),
            local.key.clone(),
            local.identity.clone(),
        )
        .await?;
        match store_version(
            state,
            caller,
            flow_id,
            slot_id,
            idx,
            doc.version,
            signed,
            seal_id,
            autosign,
        )
        .await
        {
            Ok(()) => return Ok(()),
            // A parallel signer appended first: sign their version.
            Err(StoreError::Stale(_)) => continue,
            Err(err) => return Err(rule_error(err)),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "busy",
        "the document kept changing under this signature; try again",
    ))
}

/// Stores a signed version and appends it to the flow (compare-and-set on `seen`).
#[allow(clippy::too_many_arguments)]
async fn store_version(
    state: &AppState,
    caller: &Caller,
    flow_id: &str,
    slot_id: &str,
    idx: i64,
    seen: i64,
    signed: Vec<u8>,
    seal_id: &str,
    autosign: bool,
) -> Result<(), StoreError> {
    let size = i64::try_from(signed.len()).unwrap_or(i64::MAX);
    let sha256 = state.blobs.put(signed).await?;
    state
        .store
        .append_signature(
            &caller.actor,
            flow_id,
            slot_id,
            idx,
            seen,
            &sha256,
            size,
            seal_id,
            autosign,
            &caller.context(),
        )
        .await
        .map(|_| ())
}

/// The certificate's key described without the key, and the identity to put in the CMS.
fn remote_of(state: &AppState, cert: &CertRecord) -> ApiResult<(RemoteSigner, SignerIdentity)> {
    let certificate = x509_cert::Certificate::from_der(&cert.cert_der).map_err(ApiError::internal)?;
    let remote = RemoteSigner::for_certificate(&certificate).map_err(ApiError::internal)?;
    let identity = SignerIdentity::new(vec![certificate], vec![state.pki.issuing_certificate().clone()])
        .map_err(ApiError::internal)?;
    Ok((remote, identity))
}

/// The bytes the remote key signs for one document, prepared on `input` (blocking).
fn to_be_signed(
    input: &[u8],
    picture: &crate::api::stamp::SealPicture,
    marks: &[Placement],
    remote: &RemoteSigner,
    identity: &SignerIdentity,
    signing_time: i64,
    reserve: usize,
) -> ApiResult<(qz_pdf::PreparedSignature, qz_pki::cms::PreparedCms)> {
    let (pdf, digest) = prepare_with_marks(input, picture, marks, remote, identity, signing_time, reserve)?;
    let cms = qz_pki::cms::prepare(remote, identity, &data_request(&digest)).map_err(ApiError::internal)?;
    Ok((pdf, cms))
}

async fn prepare_pending(
    state: &AppState,
    caller: &Caller,
    plan: &Plan,
    cert: &CertRecord,
) -> ApiResult<PendingSignature> {
    let (remote, identity) = remote_of(state, cert)?;
    let (remote, identity) = (Arc::new(remote), Arc::new(identity));
    let picture = seal_image(state, &plan.seal).await?;
    let signing_time = qz_store::now();
    let reserve = qz_pki::cms::Timestamper::max_token_len(&state.pki.timestamper());
    let done = state.store.signed_documents(&plan.slot.id).await?;
    let mut documents = Vec::new();
    for doc in &plan.flow.documents {
        if done.contains(&doc.idx) {
            continue;
        }
        let input = state.blobs.get(&doc.current_sha256).await?;
        let marks = marks_of(&plan.placements, doc.idx);
        let (remote, identity, picture) = (remote.clone(), identity.clone(), picture.clone());
        let (tbs, digest) = tokio::task::spawn_blocking(move || -> ApiResult<(Vec<u8>, Vec<u8>)> {
            let (_, cms) = to_be_signed(
                &input,
                &picture,
                &marks,
                &remote,
                &identity,
                signing_time,
                reserve,
            )?;
            Ok((
                cms.to_be_signed().map_err(ApiError::internal)?,
                cms.to_be_signed_digest().map_err(ApiError::internal)?,
            ))
        })
        .await
        .map_err(ApiError::internal)??;
        documents.push(PendingDocument {
            idx: doc.idx,
            version: doc.version,
            to_be_signed: hex(&tbs),
            digest: hex(&digest),
        });
    }
    let method = if cert.custody == Custody::Cosign {
        "cosign"
    } else {
        "token"
    };
    Ok(state
        .store
        .create_pending(
            &NewPending {
                flow_id: &plan.flow.id,
                signer_id: &plan.slot.id,
                user_id: &caller.user.id,
                seal_id: &plan.seal.id,
                method,
                certificate_id: &cert.id,
                signing_time,
                placements: serde_json::to_value(&plan.placements).map_err(ApiError::internal)?,
                documents,
                expires_at: signing_time + PENDING_TTL,
            },
            &caller.context(),
        )
        .await?)
}

/// `GET /me/pending-signatures`: what waits for the caller's phone or token (待确认).
pub async fn pending_list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<PendingSignature>>> {
    Ok(Json(state.store.pending_of_user(&caller.user.id).await?))
}

async fn my_pending(state: &AppState, caller: &Caller, id: &str) -> ApiResult<PendingSignature> {
    match state.store.pending_signature(id).await {
        Ok(p) if p.user_id == caller.user.id => Ok(p),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(ApiError::not_found("pending signature")),
        Err(err) => Err(err.into()),
    }
}

/// `GET /pending-signatures/{id}`.
pub async fn pending_show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PendingSignature>> {
    Ok(Json(my_pending(&state, &caller, &id).await?))
}

/// `POST /pending-signatures/{id}/cancel`: the signer refuses on the phone (or gives up).
pub async fn pending_cancel(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    my_pending(&state, &caller, &id).await?;
    if !state
        .store
        .end_pending(&id, "cancelled", None, &caller.context())
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "this signature is no longer pending",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// One document's signature value.
#[derive(Debug, Deserialize)]
pub struct SignatureValue {
    /// Document index.
    pub idx: i64,
    /// The DER signature over `to_be_signed`, hex.
    pub signature: String,
}

/// `POST /pending-signatures/{id}/finish` body.
#[derive(Debug, Deserialize)]
pub struct FinishForm {
    /// One value per document of the pending signature.
    pub signatures: Vec<SignatureValue>,
}

/// `POST /pending-signatures/{id}/finish`: the phone or the token helper hands over the
/// signature values; each is checked against the certificate, timestamped and appended.
pub async fn pending_finish(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<FinishForm>,
) -> ApiResult<Json<crate::api::flows::FlowOut>> {
    state.limiter.check(&format!("sign:{}", caller.user.id), 120)?;
    let pending = my_pending(&state, &caller, &id).await?;
    if pending.status != "pending" || pending.expires_at <= qz_store::now() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "expired",
            "this signature is no longer pending; sign again",
        ));
    }
    let cert = state.store.certificate(&pending.certificate_id).await?;
    if cert.status != "active" {
        return Err(ApiError::new(
            StatusCode::GONE,
            "redownload",
            "the certificate was replaced or revoked meanwhile; sign again",
        ));
    }
    let (remote, identity) = remote_of(&state, &cert)?;
    let (remote, identity) = (Arc::new(remote), Arc::new(identity));
    let seal = state.store.seal(&pending.seal_id).await?;
    let picture = seal_image(&state, &seal).await?;
    let placements: Vec<PresetForm> =
        serde_json::from_value(pending.placements.clone()).map_err(ApiError::internal)?;
    let flow_id = pending.flow_id.clone();
    let flow = state.store.flow(&flow_id).await?;
    let slot = flow
        .signers
        .iter()
        .find(|s| s.id == pending.signer_id)
        .ok_or_else(|| ApiError::not_found("signer"))?;
    crate::api::guests::matches_named(&state, slot, &caller.user.id).await?;
    for part in &pending.documents {
        let value = form
            .signatures
            .iter()
            .find(|s| s.idx == part.idx)
            .ok_or_else(|| ApiError::invalid(format!("no signature for document {}", part.idx)))?;
        let signature = unhex(&value.signature, 1024)
            .ok_or_else(|| ApiError::invalid("signature is hex (at most 1024 bytes)"))?;
        let lock = state.document_locks.get(&format!("{flow_id}/{}", part.idx));
        let _held = lock.lock().await;
        // A finish of the same pending signature that ran meanwhile (a retry from the phone)
        // may have appended it already.
        if state
            .store
            .signed_documents(&pending.signer_id)
            .await?
            .contains(&part.idx)
        {
            continue;
        }
        let flow = state.store.flow(&flow_id).await?;
        let doc = flow
            .documents
            .iter()
            .find(|d| d.idx == part.idx)
            .ok_or_else(|| ApiError::not_found("document"))?;
        if doc.version != part.version {
            return Err(stale(
                &state,
                &caller,
                &pending,
                "another signer signed the document meanwhile",
            )
            .await);
        }
        let input = state.blobs.get(&doc.current_sha256).await?;
        let marks = marks_of(&placements, part.idx);
        let (remote, identity, picture, pki) = (
            remote.clone(),
            identity.clone(),
            picture.clone(),
            state.pki.clone(),
        );
        let (signing_time, expected) = (pending.signing_time, part.to_be_signed.clone());
        let signed = tokio::task::spawn_blocking(move || -> ApiResult<Vec<u8>> {
            let timestamper = pki.timestamper();
            let reserve = qz_pki::cms::Timestamper::max_token_len(&timestamper);
            let (pdf, cms) = to_be_signed(
                &input,
                &picture,
                &marks,
                &remote,
                &identity,
                signing_time,
                reserve,
            )?;
            if hex(&cms.to_be_signed().map_err(ApiError::internal)?) != expected {
                // The seal image or the platform's chain changed since: confirm again.
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "stale",
                    "the signature could not be prepared the same way again",
                ));
            }
            let der = cms
                .assemble(&signature, Some(&timestamper))
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            let tail = pdf.finish(&der).map_err(ApiError::internal)?;
            Ok([input.as_slice(), &tail].concat())
        })
        .await
        .map_err(ApiError::internal)?;
        let signed = match signed {
            Ok(bytes) => bytes,
            Err(err) if err.code == "stale" => {
                return Err(stale(
                    &state,
                    &caller,
                    &pending,
                    "the seal image or the platform's certificates changed since it was prepared",
                )
                .await);
            }
            Err(err) => return Err(err),
        };
        match store_version(
            &state,
            &caller,
            &flow_id,
            &pending.signer_id,
            part.idx,
            part.version,
            signed,
            &pending.seal_id,
            false,
        )
        .await
        {
            Ok(()) => {}
            Err(StoreError::Stale(_)) => {
                return Err(stale(
                    &state,
                    &caller,
                    &pending,
                    "another signer signed the document meanwhile",
                )
                .await);
            }
            // Signed by an earlier attempt of this same finish: nothing to add.
            Err(StoreError::Conflict(_)) => {}
            Err(err) => {
                let err = rule_error(err);
                record_failure(&state, &flow_id, &pending.signer_id, &err).await;
                return Err(err);
            }
        }
    }
    let flow = match finish_slot(&state, &caller, &flow, &pending.signer_id).await {
        Ok(flow) => flow,
        Err(err) => {
            // A parallel finish of the same pending signature completed the slot first.
            let current = state.store.flow(&flow_id).await?;
            let signed = current
                .signers
                .iter()
                .any(|s| s.id == pending.signer_id && s.status == SignerStatus::Signed);
            if !signed {
                return Err(err);
            }
            current
        }
    };
    // False when a parallel finish marked it done already: nothing more to record.
    state
        .store
        .end_pending(&pending.id, "done", None, &caller.context())
        .await?;
    Ok(Json(crate::api::flows::with_names(&state, flow).await?))
}

async fn stale(state: &AppState, caller: &Caller, pending: &PendingSignature, why: &str) -> ApiError {
    if let Err(err) = state
        .store
        .end_pending(&pending.id, "stale", Some(why), &caller.context())
        .await
    {
        return err.into();
    }
    ApiError::new(
        StatusCode::CONFLICT,
        "stale",
        format!("{why}; sign again to confirm the current version"),
    )
}
