//! `POST /stamp` (盖章): the caller stamps one of their seals, or an organization seal they hold
//! a grant for, on a PDF they uploaded; the result is a PAdES signature (one incremental
//! update) by the seal owner's hosted certificate: the organization's for an organization
//! seal, the person's own for a personal seal.
//!
//! Intent (DESIGN §5): an SMS code (purpose `sign`) or a live auto-sign grant. The permission is
//! checked before the work and once more inside the transaction that records the stamp; the
//! signed file becomes downloadable only after that record commits, so a grant revoked during
//! signing lets nothing out. Signing flows (several signers, co-sign on the phone) build on
//! this later. A co-sign certificate (split with the phone) signs here only under a live
//! auto-sign grant, whose escrowed phone share completes the key for its window.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use der::Decode as _;
use qz_domain::account::CodePurpose;
use qz_domain::seal::{GrantRef, SealOwner};
use qz_pdf::{Appearance, Document, Mark, Rect, SignatureOptions};
use qz_pki::cms::SignedDataRequest;
use qz_pki::custody::cosign::{ClientShare, JointSigner, ServerShare};
use qz_pki::{DocumentSigner, SignerIdentity};
use qz_store::{CertRecord, Custody, StampRecord, StoreError};

use crate::api::accounts::use_code;
use crate::api::auth::Caller;
use crate::api::seals::visible_seal;
use crate::api::{ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::credentials;

/// `POST /stamp` body.
#[derive(Debug, Deserialize)]
pub struct StampForm {
    /// A PDF the caller uploaded (`POST /blobs`).
    pub document: String,
    /// The seal.
    pub seal_id: String,
    /// Page, from 1.
    pub page: usize,
    /// Left edge, points from the page's left (as displayed).
    pub x: f64,
    /// Bottom edge, points from the page's bottom.
    pub y: f64,
    /// Width in points (default: the seal's printed size).
    pub width: Option<f64>,
    /// Business type (for scoped grants).
    pub purpose: Option<String>,
    /// SMS code, purpose `sign`.
    pub code: Option<String>,
    /// Sign under the caller's live auto-sign grant instead of a code.
    #[serde(default)]
    pub autosign: bool,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct StampOut {
    /// The signed PDF (download with `GET /blobs/{id}`).
    pub blob_id: String,
    /// SHA-256 of the signed PDF.
    pub sha256: String,
    /// The ledger entry and what allowed it.
    #[serde(flatten)]
    pub record: StampRecord,
    /// Serial of the signing certificate.
    pub certificate_serial: String,
}

pub(crate) fn pdf_date(at: i64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC));
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}+08'00'",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// The certificate that signs for `seal`: the organization's or the person's, hosted.
pub(crate) async fn signing_certificate(
    state: &AppState,
    caller: &Caller,
    owner: SealOwner<'_>,
) -> ApiResult<CertRecord> {
    // The common case: the certificate exists. Issuing the first one (and the person's
    // default seal) is only looked at when it does not.
    let existing = match owner {
        SealOwner::Org(org_id) => state.store.active_certificate(None, Some(org_id)).await?,
        SealOwner::Person(user_id) => state.store.active_certificate(Some(user_id), None).await?,
    };
    if let Some(cert) = existing {
        return Ok(cert);
    }
    let cert = match owner {
        SealOwner::Org(org_id) => {
            let org = state.store.org(org_id).await?;
            credentials::ensure_org(state, &org, &caller.context()).await?;
            state.store.active_certificate(None, Some(org_id)).await?
        }
        SealOwner::Person(user_id) => {
            credentials::ensure_person(state, user_id, &caller.context()).await?;
            state.store.active_certificate(Some(user_id), None).await?
        }
    };
    let cert = cert.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_certificate",
            "there is no valid certificate to sign with (verify first, or download it on the phone)",
        )
    })?;
    Ok(cert)
}

/// The signer for `cert`: its hosted key, or for a co-sign certificate both shares while the
/// person's auto-sign grant holds the phone's share.
pub(crate) async fn signer_for(
    state: &AppState,
    caller: &Caller,
    cert: &CertRecord,
    autosign: bool,
) -> ApiResult<(Box<dyn DocumentSigner>, SignerIdentity)> {
    match cert.custody {
        Custody::Hosted => {
            let (key, identity) = credentials::hosted_signer(state, cert)?;
            Ok((Box::new(key), identity))
        }
        Custody::Token => Err(ApiError::new(
            StatusCode::CONFLICT,
            "token_required",
            "this certificate is on your token (Ukey): sign through the signing helper",
        )),
        Custody::Cosign => {
            let escrow = if autosign {
                state.store.autosign_escrow(&caller.user.id).await?
            } else {
                None
            };
            let Some((_, key_id, sealed)) = escrow else {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "cosign_required",
                    "this certificate is split with your phone: confirm the signature on the phone, or turn on auto-sign there",
                ));
            };
            let key = state.store.cosign_key(&key_id).await?;
            if key.certificate_id.as_deref() != Some(cert.id.as_str()) || key.status != "active" {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "cosign_required",
                    "auto-sign was enabled for an earlier certificate; turn it on again on the phone",
                ));
            }
            let client = ClientShare::from_bytes(
                &state
                    .key
                    .open(&sealed, &format!("autosign-escrow:{}:{key_id}", caller.user.id))?,
            )
            .map_err(ApiError::internal)?;
            let server =
                ServerShare::from_bytes(&state.key.open(&key.share_sealed, &format!("cosign:{key_id}"))?)
                    .map_err(ApiError::internal)?;
            let public = crate::secrets::unhex(&key.public_key, 65)
                .ok_or_else(|| ApiError::internal("a stored co-sign public key is not hex"))?;
            let signer = JointSigner::new(client, server, &public).map_err(ApiError::internal)?;
            let certificate = x509_cert::Certificate::from_der(&cert.cert_der).map_err(ApiError::internal)?;
            let identity =
                SignerIdentity::new(vec![certificate], vec![state.pki.issuing_certificate().clone()])
                    .map_err(ApiError::internal)?;
            Ok((Box::new(signer), identity))
        }
    }
}

/// Where a seal goes on a page (points, bottom-left origin as displayed).
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct Placement {
    /// Page, from 1 (the first page of a cross-page seal).
    pub page: usize,
    /// Left edge (ignored for a cross-page seal, which sits at the right edge).
    pub x: f64,
    /// Bottom edge.
    pub y: f64,
    /// Width (default: the seal's printed size; of the whole seal for a cross-page seal).
    pub width: Option<f64>,
    /// A cross-page seal (骑缝章) from `page` to `cross_page.to`: the seal is cut into one
    /// vertical strip per page, each at the page's right edge, so fanning the pages shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_page: Option<CrossPage>,
    /// A date stamp (签署日期) instead of the seal: the signing date in China time, e.g.
    /// 2026年12月04日, in seal red with its box's bottom-left corner at (`x`, `y`); `width` is the
    /// font size (default 12).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub date: bool,
}

/// The text of a date stamp: the day of `signing_time` (Unix seconds) in China time.
pub fn date_text(signing_time: i64) -> String {
    let china = time::OffsetDateTime::from_unix_timestamp(signing_time.saturating_add(8 * 3600))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{}年{:02}月{:02}日",
        china.year(),
        u8::from(china.month()),
        china.day()
    )
}

/// The pages of a cross-page seal.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct CrossPage {
    /// Last page, from 1.
    pub to: usize,
    /// Only every other page of the range (隔页骑缝).
    #[serde(default)]
    pub every_other: bool,
}

/// The revision with the seal picture at every placement, waiting for its CMS, and the digest of
/// the bytes it covers. Deterministic for the same input, placements, signing time and
/// certificate, which lets a remote signature be finished by any instance.
pub(crate) fn prepare_with_marks(
    input: &[u8],
    picture: &SealPicture,
    placements: &[Placement],
    key: &dyn DocumentSigner,
    identity: &SignerIdentity,
    signing_time: i64,
    reserve: usize,
) -> Result<(qz_pdf::PreparedSignature, Vec<u8>), ApiError> {
    let document = Document::open(input).map_err(|e| ApiError::invalid(format!("the PDF: {e}")))?;
    let mut marks = Vec::with_capacity(placements.len());
    let pages = document.pages().len();
    // Each cross-page seal cuts and compresses the image again: a few per document is what
    // anyone stamps.
    if placements.iter().filter(|p| p.cross_page.is_some()).count() > 4 {
        return Err(ApiError::invalid("at most 4 cross-page seals per document"));
    }
    let aspect = f64::from(picture.height) / f64::from(picture.width.max(1));
    for placement in placements {
        let page = placement.page;
        if page == 0 || page > pages {
            return Err(ApiError::invalid(format!(
                "page {page} does not exist; the document has {pages} pages"
            )));
        }
        if placement.date {
            if placement.cross_page.is_some() {
                return Err(ApiError::invalid("a date stamp cannot be a cross-page seal"));
            }
            let font = picture.date_font.clone().ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no_font",
                    "no CJK font is installed for date stamps (QZ_FONT)",
                )
            })?;
            let size = placement.width.unwrap_or(12.0);
            if !(6.0..=48.0).contains(&size) {
                return Err(ApiError::invalid("a date stamp's size is 6 to 48 points"));
            }
            let style = qz_pdf::TextStyle {
                font,
                size,
                color: [0.78, 0.06, 0.18],
            };
            marks.push(
                Mark::text(page, placement.x, placement.y, date_text(signing_time), style)
                    .map_err(|e| ApiError::invalid(e.to_string()))?,
            );
            continue;
        }
        // Seal images are drawn at 300 dpi: their printed size in points is pixels × 72 / 300.
        let width = placement.width.unwrap_or(f64::from(picture.width) * 72.0 / 300.0);
        if let Some(cross) = placement.cross_page {
            if cross.to <= page || cross.to > pages {
                return Err(ApiError::invalid(format!(
                    "a cross-page seal runs from page {page} to a later page of the {pages}"
                )));
            }
            let range: Vec<usize> = (page..=cross.to)
                .step_by(if cross.every_other { 2 } else { 1 })
                .collect();
            if range.len() < 2 {
                return Err(ApiError::invalid("a cross-page seal spans at least two pages"));
            }
            let strips = picture
                .seal
                .vertical_strips(range.len())
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            for (on, (strip, share)) in range.into_iter().zip(strips) {
                let geometry = document
                    .page(on)
                    .map_err(|e| ApiError::invalid(e.to_string()))?
                    .geometry;
                let strip_width = width * share;
                let image = qz_pdf::Image::from_rgba(strip.width(), strip.height(), strip.rgba())
                    .map_err(ApiError::internal)?;
                marks.push(Mark {
                    page: on,
                    rect: Rect::new(
                        geometry.display_width() - strip_width,
                        placement.y,
                        strip_width,
                        width * aspect,
                    )
                    .map_err(|e| ApiError::invalid(e.to_string()))?,
                    appearance: Appearance::Image(Arc::new(image)),
                });
            }
            continue;
        }
        let rect = Rect::new(placement.x, placement.y, width, width * aspect)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        marks.push(Mark {
            page,
            rect,
            appearance: Appearance::Image(picture.image.clone()),
        });
    }
    let options = SignatureOptions {
        signing_time: pdf_date(signing_time),
        name: Some(identity.subject_name()),
        marks,
        contents_capacity: qz_pki::cms::estimated_len(key, identity).map_err(ApiError::internal)? + reserve,
        ..SignatureOptions::default()
    };
    let prepared = document
        .prepare_signature(&options)
        .map_err(|e| ApiError::invalid(format!("cannot stamp this PDF: {e}")))?;
    let digest = key.digest_algorithm().digest(&prepared.signed_parts(input));
    Ok((prepared, digest))
}

/// The CMS request of a PDF signature over `digest`.
pub(crate) fn data_request(digest: &[u8]) -> SignedDataRequest<'_> {
    SignedDataRequest {
        content_type: qz_pki::oid::ID_DATA,
        content: None,
        content_digest: digest,
        include_certificates: true,
        gm_oids: false,
    }
}

/// Appends one signature revision to `input` with the seal picture at every placement, PAdES with a
/// timestamp from `timestamper` (B-T) when given. Blocking: run it on the blocking pool.
pub(crate) fn sign_with_marks(
    input: &[u8],
    picture: &SealPicture,
    placements: &[Placement],
    key: &dyn DocumentSigner,
    identity: &SignerIdentity,
    timestamper: Option<&dyn qz_pki::cms::Timestamper>,
) -> Result<Vec<u8>, ApiError> {
    let reserve = timestamper.map_or(0, |t| t.max_token_len());
    let (prepared, digest) = prepare_with_marks(
        input,
        picture,
        placements,
        key,
        identity,
        qz_store::now(),
        reserve,
    )?;
    let cms = qz_pki::cms::build_signed_data(key, identity, &data_request(&digest), timestamper)
        .map_err(ApiError::internal)?;
    let tail = prepared.finish(&cms).map_err(ApiError::internal)?;
    Ok([input, &tail].concat())
}

/// [`sign_with_marks`] on the blocking pool, timestamped by the platform's TSA (B-T).
pub(crate) async fn sign_blocking(
    state: &AppState,
    input: Vec<u8>,
    picture: Arc<SealPicture>,
    marks: Vec<Placement>,
    key: Arc<dyn DocumentSigner>,
    identity: Arc<SignerIdentity>,
) -> ApiResult<Vec<u8>> {
    let pki = state.pki.clone();
    tokio::task::spawn_blocking(move || {
        let timestamper = pki.timestamper();
        sign_with_marks(
            &input,
            &picture,
            &marks,
            key.as_ref(),
            &identity,
            Some(&timestamper),
        )
    })
    .await
    .map_err(ApiError::internal)?
}

/// The intent check and the signer, shared by `/stamp` and flow signing (DESIGN §5): a live
/// auto-sign grant, or the SMS code (purpose `sign`), which is spent last, once nothing else
/// can refuse the signature; then the seal owner's certificate and key.
pub(crate) async fn confirmed_signer(
    state: &AppState,
    caller: &Caller,
    owner: SealOwner<'_>,
    autosign: bool,
    code: Option<&str>,
    now: i64,
) -> ApiResult<(Box<dyn DocumentSigner>, SignerIdentity)> {
    if autosign {
        let live = state
            .store
            .autosigns_of_user(&caller.user.id)
            .await?
            .iter()
            .any(|g| g.as_ref().live(&caller.user.id, now));
        if !live {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "auto-sign is not enabled (or has ended)",
            ));
        }
    }
    let cert = signing_certificate(state, caller, owner).await?;
    let signer = signer_for(state, caller, &cert, autosign).await?;
    if !autosign {
        let code = code
            .ok_or_else(|| ApiError::invalid("confirm with the SMS code (purpose sign), or use auto-sign"))?;
        use_code(state, CodePurpose::Sign, &caller.user.phone, code).await?;
    }
    Ok(signer)
}

/// A seal image ready for stamping: decoded and compressed once, then shared by every
/// signature that uses it (decoding the PNG and deflating the pixels again for each signature
/// cost more than the signature itself).
#[derive(Debug)]
pub struct SealPicture {
    /// The image XObject data.
    pub image: Arc<qz_pdf::Image>,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// The decoded pixels, cut into strips for cross-page seals.
    pub seal: qz_seal::SealImage,
    /// The platform's CJK font, for date stamps beside the seal (`None`: none installed).
    pub date_font: Option<Arc<qz_pdf::Font>>,
}

/// Most seal pictures kept; the cache starts over when full (seals are few and small).
const PICTURES_KEPT: usize = 64;

/// A seal's picture, from the cache or decoded now (keyed by the image's SHA-256, so a
/// replaced image is never served stale).
pub(crate) async fn seal_image(state: &AppState, seal: &qz_store::Seal) -> ApiResult<Arc<SealPicture>> {
    let sha256 = state.store.blob(&seal.blob_id).await?.sha256;
    if let Some(found) = state
        .seal_pictures
        .lock()
        .ok()
        .and_then(|c| c.get(&sha256).cloned())
    {
        return Ok(found);
    }
    let png = state.blobs.get(&sha256).await?;
    let date_font = state.report_font();
    let picture = tokio::task::spawn_blocking(move || -> ApiResult<SealPicture> {
        let image = qz_seal::SealImage::decode(&png).map_err(ApiError::internal)?;
        Ok(SealPicture {
            image: Arc::new(
                qz_pdf::Image::from_rgba(image.width(), image.height(), image.rgba())
                    .map_err(ApiError::internal)?,
            ),
            width: image.width(),
            height: image.height(),
            seal: image,
            date_font,
        })
    })
    .await
    .map_err(ApiError::internal)??;
    let picture = Arc::new(picture);
    if let Ok(mut cache) = state.seal_pictures.lock() {
        if cache.len() >= PICTURES_KEPT {
            cache.clear();
        }
        cache.insert(sha256, picture.clone());
    }
    Ok(picture)
}

/// `POST /stamp`.
pub async fn stamp(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<StampForm>,
) -> ApiResult<(StatusCode, Json<StampOut>)> {
    state.limiter.check(&format!("stamp:{}", caller.user.id), 120)?;
    if form
        .purpose
        .as_deref()
        .is_some_and(|p| p.trim().is_empty() || p.chars().count() > 40)
    {
        return Err(ApiError::invalid("purpose (business type) has 1–40 characters"));
    }
    let info = match state.store.blob(&form.document).await {
        Ok(info) if info.owner_id == caller.user.id && info.content_type == "application/pdf" => info,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("PDF document")),
        Err(err) => return Err(err.into()),
    };
    let seal = visible_seal(&state, &caller, &form.seal_id).await?;
    // Fail early with the rule's own message; the store checks again when recording.
    let grants: Vec<GrantRef> = state
        .store
        .grants_of_user(&caller.user.id)
        .await?
        .iter()
        .map(qz_store::Grant::as_ref)
        .collect();
    let now = qz_store::now();
    caller
        .actor
        .may_stamp(seal.as_ref(), &grants, form.purpose.as_deref(), now)
        .map_err(|err| match err {
            qz_domain::Error::Hidden => ApiError::not_found("seal"),
            other => other.into(),
        })?;
    let (key, identity) = confirmed_signer(
        &state,
        &caller,
        seal.as_ref().owner,
        form.autosign,
        form.code.as_deref(),
        now,
    )
    .await?;
    let certificate_serial =
        crate::secrets::hex(identity.certificate.tbs_certificate().serial_number().as_bytes());
    let input = state.blobs.get(&info.sha256).await?;
    let picture = seal_image(&state, &seal).await?;
    let placements = [Placement {
        page: form.page,
        x: form.x,
        y: form.y,
        width: form.width,
        cross_page: None,
        date: false,
    }];
    let signed = sign_blocking(
        &state,
        input,
        picture,
        placements.to_vec(),
        Arc::from(key),
        Arc::new(identity),
    )
    .await?;
    let size = i64::try_from(signed.len()).unwrap_or(i64::MAX);
    let sha256 = state.blobs.put(signed).await?;
    let record = state
        .store
        .record_stamp(
            &caller.actor,
            &seal.id,
            form.purpose.as_deref(),
            &format!("sha256:{sha256}"),
            form.autosign,
            &caller.context(),
        )
        .await
        .map_err(|err| match err {
            StoreError::Rule(qz_domain::Error::Hidden) => ApiError::not_found("seal"),
            StoreError::Rule(rule) => rule.into(),
            other => other.into(),
        })?;
    let blob = state
        .store
        .create_blob(
            &sha256,
            size,
            "application/pdf",
            &caller.user.id,
            &caller.context(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(StampOut {
            blob_id: blob.id,
            sha256,
            record,
            certificate_serial,
        }),
    ))
}
