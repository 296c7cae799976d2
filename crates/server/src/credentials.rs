//! What a verified person or organization gets from the platform: a default name seal and a
//! certificate. Issued right after verification and checked again whenever the person lists
//! seals or certificates, so a failure in between (a crash, a full disk) heals by itself.
//!
//! Hosted keys are generated here, certified by the platform CA and stored PKCS#8 sealed under
//! the platform key, bound to the certificate row id; the CA directory is not written (several
//! servers may share it), the database records what was issued and revoked, and the OCSP
//! responder and CRL learn it through [`sync_revocations`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use der::Encode as _;

use qz_domain::identity::IdentityStatus;
use qz_pki::ca::Subject;
use qz_pki::{PrivateKey, SignerIdentity};
use qz_seal::draw::{DrawKind, SealDrawing};
use qz_store::{CertRecord, Custody, NewCertificate, NewSeal, Org, StoreError, TrailContext};

use crate::api::{ApiError, ApiResult};
use crate::app::AppState;
use crate::secrets::hex;

/// Validity of platform-issued certificates.
pub const CERT_VALIDITY: Duration = Duration::from_secs(2 * 365 * 86_400);

/// Where persons' keys live in this installation.
pub fn person_custody(state: &AppState) -> Custody {
    state
        .config
        .person_custody
        .unwrap_or(match state.pki.key_algorithm() {
            qz_pki::KeyAlgorithm::Sm2 => Custody::Cosign,
            _ => Custody::Hosted,
        })
}

fn sealed_context(cert_id: &str) -> String {
    format!("certificate:{cert_id}")
}

/// Issues a hosted certificate for a person or an organization and records it (the previous
/// active one is superseded).
pub async fn issue_hosted(
    state: &AppState,
    owner_user: Option<&str>,
    owner_org: Option<&str>,
    subject: Subject,
    context: &TrailContext,
) -> ApiResult<CertRecord> {
    issue_hosted_if(state, owner_user, owner_org, subject, false, context).await
}

/// [`issue_hosted`]; with `only_first`, a conflict if the owner ever had a certificate.
async fn issue_hosted_if(
    state: &AppState,
    owner_user: Option<&str>,
    owner_org: Option<&str>,
    subject: Subject,
    only_first: bool,
    context: &TrailContext,
) -> ApiResult<CertRecord> {
    let id = state.store.new_certificate_id();
    let pki = state.pki.clone();
    let (cert_der, key_der, serial, subject_dn) = tokio::task::spawn_blocking(move || {
        let key = PrivateKey::generate(pki.key_algorithm())?;
        let cert = pki.certify(&subject, key.public_key_info()?, CERT_VALIDITY)?;
        let serial = hex(cert.tbs_certificate().serial_number().as_bytes());
        let subject_dn = cert.tbs_certificate().subject().to_string();
        Ok::<_, qz_pki::PkiError>((cert.to_der()?, key.to_pkcs8_der()?, serial, subject_dn))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let sealed = state.key.seal(&key_der, &sealed_context(&id))?;
    let not_after = not_after_of(&cert_der);
    let record = state
        .store
        .insert_certificate_if(
            &NewCertificate {
                id: &id,
                owner_user,
                owner_org,
                serial: &serial,
                subject: &subject_dn,
                custody: Custody::Hosted,
                algorithm: algorithm_name(state),
                cert_der: &cert_der,
                key_sealed: Some(&sealed),
                not_after,
            },
            None,
            only_first,
            context,
        )
        .await?;
    sync_revocations(state).await;
    Ok(record)
}

/// Certifies a key held outside the platform (the phone's co-sign key, a token's key) for the
/// person with `identity`, records it as their active certificate (the previous one is revoked
/// as superseded) and tells the revocation services.
#[allow(clippy::too_many_arguments)]
pub async fn certify_person_key(
    state: &AppState,
    user_id: &str,
    identity: &qz_store::Identity,
    spki: spki::SubjectPublicKeyInfoOwned,
    custody: Custody,
    algorithm: &str,
    cosign_key: Option<&str>,
    context: &TrailContext,
) -> ApiResult<CertRecord> {
    let subject = person_subject(state, user_id, identity)?;
    let pki = state.pki.clone();
    let cert = tokio::task::spawn_blocking(move || pki.certify(&subject, spki, CERT_VALIDITY))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let der = cert.to_der().map_err(ApiError::internal)?;
    let id = state.store.new_certificate_id();
    let record = state
        .store
        .insert_certificate(
            &NewCertificate {
                id: &id,
                owner_user: Some(user_id),
                owner_org: None,
                serial: &hex(cert.tbs_certificate().serial_number().as_bytes()),
                subject: &cert.tbs_certificate().subject().to_string(),
                custody,
                algorithm,
                cert_der: &der,
                key_sealed: None,
                not_after: not_after_of(&der),
            },
            cosign_key,
            context,
        )
        .await?;
    sync_revocations(state).await;
    Ok(record)
}

/// The CA's key type as stored.
pub fn algorithm_name(state: &AppState) -> &'static str {
    match state.pki.key_algorithm() {
        qz_pki::KeyAlgorithm::P256 => "p256",
        qz_pki::KeyAlgorithm::Rsa3072 => "rsa3072",
        qz_pki::KeyAlgorithm::Sm2 => "sm2",
    }
}

/// Unix seconds of a DER certificate's notAfter (0 if it does not parse).
pub fn not_after_of(der: &[u8]) -> i64 {
    use der::Decode as _;
    x509_cert::Certificate::from_der(der)
        .map(|c| {
            i64::try_from(
                c.tbs_certificate()
                    .validity()
                    .not_after
                    .to_unix_duration()
                    .as_secs(),
            )
            .unwrap_or(i64::MAX)
        })
        .unwrap_or(0)
}

/// The key and certificate chain of a hosted certificate.
pub fn hosted_signer(state: &AppState, cert: &CertRecord) -> ApiResult<(PrivateKey, SignerIdentity)> {
    use der::Decode as _;
    let sealed = cert
        .key_sealed
        .as_deref()
        .ok_or_else(|| ApiError::internal("a hosted certificate without a key"))?;
    let der = state.key.open(sealed, &sealed_context(&cert.id))?;
    let key = PrivateKey::from_pkcs8_der(&der).map_err(ApiError::internal)?;
    let certificate = x509_cert::Certificate::from_der(&cert.cert_der).map_err(ApiError::internal)?;
    let identity = SignerIdentity::new(vec![certificate], vec![state.pki.issuing_certificate().clone()])
        .map_err(ApiError::internal)?;
    Ok((key, identity))
}

/// Renders a seal and stores the PNG as a blob owned by `owner`; returns the blob id.
pub async fn store_drawing(
    state: &AppState,
    drawing: SealDrawing,
    owner: &str,
    context: &TrailContext,
) -> ApiResult<String> {
    let permit = state.image_jobs.acquire().await.map_err(ApiError::internal)?;
    let png = tokio::task::spawn_blocking(move || qz_seal::draw::render_png(&drawing))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            qz_seal::draw::DrawError::Text(text) => ApiError::invalid(text),
            other => ApiError::internal(other),
        })?;
    drop(permit);
    store_png(state, png, owner, context).await
}

/// Stores PNG bytes as a blob owned by `owner`; returns the blob id.
pub async fn store_png(
    state: &AppState,
    png: Vec<u8>,
    owner: &str,
    context: &TrailContext,
) -> ApiResult<String> {
    let size = i64::try_from(png.len()).unwrap_or(i64::MAX);
    let sha256 = state.blobs.put(png).await?;
    let info = state
        .store
        .create_blob(&sha256, size, "image/png", owner, context)
        .await?;
    Ok(info.id)
}

/// The subject of a person's certificate: the verified name and the ID number, opened from its
/// seal (the CA keeps only a salted hash of it in the certificate).
pub fn person_subject(state: &AppState, user_id: &str, identity: &qz_store::Identity) -> ApiResult<Subject> {
    let id_number = state
        .key
        .open(&identity.id_sealed, &format!("identity:{user_id}"))?;
    Ok(Subject::Person {
        name: identity.real_name.clone(),
        id_number: Some(String::from_utf8(id_number.to_vec()).map_err(ApiError::internal)?),
    })
}

/// The subject of an organization's certificate: its verified name and credit code.
pub fn org_subject(org: &Org) -> Subject {
    Subject::Organization {
        name: org.name.clone(),
        credit_code: org.credit_code.clone(),
    }
}

/// Gives a verified person a default name seal where missing and, under hosted custody, a
/// first certificate. Does nothing for unverified persons.
pub async fn ensure_person(state: &AppState, user_id: &str, context: &TrailContext) -> ApiResult<()> {
    let Some(identity) = state.store.identity(user_id).await? else {
        return Ok(());
    };
    if identity.status != IdentityStatus::Verified {
        return Ok(());
    }
    let seals = state.store.seals_of_user(user_id).await?;
    if !seals.iter().any(|s| s.is_default) {
        let chars = identity.real_name.chars().count();
        let drawing = SealDrawing {
            // Two to four characters fit the square name seal; longer names go on an oval.
            kind: if (2..=4).contains(&chars) {
                DrawKind::Name
            } else {
                DrawKind::Oval
            },
            text: identity.real_name.clone(),
            label: None,
            code: None,
            dpi: 300.0,
        };
        let blob_id = store_drawing(state, drawing, user_id, context).await?;
        let created = state
            .store
            .create_seal(
                &NewSeal {
                    owner: qz_domain::seal::SealOwner::Person(user_id),
                    kind: qz_domain::seal::SealKind::Name,
                    name: &format!("{}（名章）", identity.real_name),
                    blob_id: &blob_id,
                    is_default: true,
                },
                context,
            )
            .await;
        match created {
            // Another request made it meanwhile.
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    // Only the first certificate comes by itself: after a revocation the person asks for a
    // new one (re-issue with an SMS code), so a revoked key is never replaced silently.
    // Guests have no phone app to hold a co-sign share: theirs is always hosted.
    let hosted = person_custody(state) == Custody::Hosted || state.store.user(user_id).await?.guest;
    if hosted && !state.store.has_certificate(Some(user_id), None).await? {
        let subject = person_subject(state, user_id, &identity)?;
        let issued = issue_hosted_if(state, Some(user_id), None, subject, true, context).await;
        match issued {
            Ok(_) | Err(ApiError { code: "conflict", .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Gives a verified organization its first hosted certificate.
pub async fn ensure_org(state: &AppState, org: &Org, context: &TrailContext) -> ApiResult<()> {
    // As for persons, only the first: later ones follow re-verification or an explicit re-issue.
    if !org.verified || state.store.has_certificate(None, Some(&org.id)).await? {
        return Ok(());
    }
    let issued = issue_hosted_if(state, None, Some(&org.id), org_subject(org), true, context).await;
    match issued {
        Ok(_) | Err(ApiError { code: "conflict", .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Seconds of overlap when reading changes: a change stamped by a server whose clock lags, or
/// committed a while after it was stamped, is still read. [`full_sync`] covers the rest.
const SYNC_OVERLAP: i64 = 120;

/// Feeds certificate changes recorded in the database since the last call into the OCSP
/// responder and CRL. Runs after local changes and every few seconds (other servers' changes).
pub async fn sync_revocations(state: &AppState) {
    let since = state
        .pki
        .synced_until
        .load(Ordering::SeqCst)
        .saturating_sub(SYNC_OVERLAP);
    match state.store.certificate_changes(since).await {
        Ok(rows) => {
            state.pki.apply_platform_changes(&rows);
            if let Some(latest) = rows.iter().map(|r| r.updated_at).max() {
                state.pki.synced_until.fetch_max(latest, Ordering::SeqCst);
            }
        }
        Err(err) => eprintln!("qz: reading certificate changes failed: {err}"),
    }
}

/// Reads every platform certificate's state again (run every few minutes, so a change that
/// slipped past the incremental reads, e.g. by clock skew between servers, is taken in).
pub async fn full_sync(state: &AppState) {
    match state.store.certificate_changes(i64::MIN).await {
        Ok(rows) => state.pki.apply_platform_changes(&rows),
        Err(err) => eprintln!("qz: reading certificates failed: {err}"),
    }
}

/// An SVG QR code of `text`, for the PC to show links the phone opens (capture links,
/// certificate invitations).
pub fn qr_svg(text: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(ApiError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}
