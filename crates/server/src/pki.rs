//! `/pki/…` routes: CRLs, CA certificates, the OCSP responder (GET and POST) and the TSA.
//!
//! The answers are computed by `qz-pki`; this module only moves bytes between HTTP and it.
//! Revocation state is read from the CA directory and cached until `issued.json` changes, so
//! `qz ca revoke` takes effect on the next request without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use der::{DecodePem as _, Encode as _};
use x509_cert::Certificate;
use x509_cert::serial_number::SerialNumber;

use qz_pki::ca::{CertificateAuthority, Subject};
use qz_pki::issue::CertificateKind;
use qz_pki::ocsp::{CertStatus, Responder};
use qz_pki::tsa::{DEFAULT_POLICY, TimestampAuthority};
use qz_pki::{PkiError, PrivateKey, SignerIdentity};

/// Requests larger than this are refused before parsing (OCSP and TSA requests are < 1 KiB).
const MAX_REQUEST: usize = 16 * 1024;

/// Why the services could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The CA directory is unusable.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Files could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// The certificate and key of one service (TSA, OCSP responder).
#[derive(Debug)]
struct ServiceKey {
    key: PrivateKey,
    identity: SignerIdentity,
}

#[derive(Debug, Default)]
struct RevocationCache {
    /// Modification time and length of `issued.json`: the length too, because two writes can
    /// share one timestamp tick.
    stamp: Option<(SystemTime, u64)>,
    status: HashMap<Vec<u8>, CertStatus>,
}

/// Shared state of the PKI routes.
#[derive(Debug)]
pub struct PkiServices {
    dir: PathBuf,
    issuing: Certificate,
    root_der: Vec<u8>,
    issuing_der: Vec<u8>,
    tsa: ServiceKey,
    ocsp: ServiceKey,
    /// Signs the documents the platform itself writes (completion reports).
    documents: ServiceKey,
    cache: RwLock<RevocationCache>,
    /// Last CRL number handed out: CRL numbers must grow strictly (RFC 5280 5.2.3).
    crl_number: std::sync::atomic::AtomicU64,
    /// The CA, for certificates the platform issues.
    ca: CertificateAuthority,
    /// State of the certificates the platform issued (recorded in its database, fed in by
    /// [`Self::apply_platform_changes`]).
    platform: RwLock<HashMap<Vec<u8>, CertStatus>>,
    /// Latest change time taken in by [`Self::apply_platform_changes`] (Unix seconds).
    pub synced_until: std::sync::atomic::AtomicI64,
}

fn load_or_issue(
    ca: &mut CertificateAuthority,
    dir: &Path,
    name: &str,
    kind: CertificateKind,
) -> Result<ServiceKey, ServiceError> {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    if !cert_path.exists() || !key_path.exists() {
        let label = match kind {
            CertificateKind::TimeStamping => "Time Stamping Authority",
            CertificateKind::Signing => "Platform",
            _ => "OCSP Responder",
        };
        let (cert, key) = ca.issue(
            kind,
            &Subject::Service {
                name: format!("Qianzhang {label}"),
            },
            Duration::from_secs(5 * 365 * 86_400),
        )?;
        let pem = der::EncodePem::to_pem(&cert, der::pem::LineEnding::LF).map_err(PkiError::from)?;
        std::fs::write(&cert_path, pem)
            .map_err(|e| ServiceError::Io(format!("{}: {e}", cert_path.display())))?;
        write_secret(&key_path, key.to_pkcs8_pem(None)?.as_bytes())?;
    }
    let read = |p: &Path| std::fs::read(p).map_err(|e| ServiceError::Io(format!("{}: {e}", p.display())));
    let key = PrivateKey::from_pem(&read(&key_path)?, None)?;
    let cert = Certificate::from_pem(read(&cert_path)?).map_err(|e| ServiceError::Io(e.to_string()))?;
    let identity = SignerIdentity::new(vec![cert], vec![ca.issuing.clone()])?;
    Ok(ServiceKey { key, identity })
}

fn write_secret(path: &Path, data: &[u8]) -> Result<(), ServiceError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(data))
        .map_err(|e| ServiceError::Io(format!("{}: {e}", path.display())))
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Serials compare by value: strip the sign byte DER may add.
fn serial_key(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

impl PkiServices {
    /// Opens the CA in `dir`, issuing the TSA and OCSP responder certificates on first use
    /// (kept in `dir/services/`).
    pub fn open(dir: &Path) -> Result<Self, ServiceError> {
        let mut ca = CertificateAuthority::open(dir)?;
        let services = dir.join("services");
        std::fs::create_dir_all(&services)
            .map_err(|e| ServiceError::Io(format!("{}: {e}", services.display())))?;
        let tsa = load_or_issue(&mut ca, &services, "tsa", CertificateKind::TimeStamping)?;
        let ocsp = load_or_issue(&mut ca, &services, "ocsp", CertificateKind::OcspResponder)?;
        let documents = load_or_issue(&mut ca, &services, "platform", CertificateKind::Signing)?;
        let ca = CertificateAuthority::open(dir)?;
        Ok(PkiServices {
            dir: dir.to_path_buf(),
            root_der: ca.certificate_der("root")?,
            issuing_der: ca.certificate_der("ca")?,
            issuing: ca.issuing.clone(),
            tsa,
            ocsp,
            documents,
            cache: RwLock::new(RevocationCache::default()),
            crl_number: std::sync::atomic::AtomicU64::new(0),
            ca,
            platform: RwLock::new(HashMap::new()),
            synced_until: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// Issues a certificate for the platform (no CA directory writes; the caller records it).
    pub fn certify(
        &self,
        subject: &Subject,
        spki: spki::SubjectPublicKeyInfoOwned,
        validity: Duration,
    ) -> Result<Certificate, PkiError> {
        self.ca.certify(CertificateKind::Signing, subject, spki, validity)
    }

    /// The key type the CA issues for.
    pub fn key_algorithm(&self) -> qz_pki::KeyAlgorithm {
        self.ca.key_algorithm()
    }

    /// The issuing CA certificate.
    pub fn issuing_certificate(&self) -> &Certificate {
        &self.issuing
    }

    /// Takes in changes of platform-issued certificates (issued, revoked).
    pub fn apply_platform_changes(&self, rows: &[qz_store::CertStatusRow]) {
        if let Ok(mut map) = self.platform.write() {
            for row in rows {
                let status = match row.revoked_at {
                    Some(at) => CertStatus::Revoked(
                        SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0)),
                        u8::try_from(row.reason.unwrap_or(0)).unwrap_or(0),
                    ),
                    None => CertStatus::Good,
                };
                map.insert(serial_key(&unhex(&row.serial)), status);
            }
        }
    }

    fn platform_revoked(&self) -> Vec<qz_pki::issue::RevokedEntry> {
        self.platform
            .read()
            .map(|map| {
                map.iter()
                    .filter_map(|(serial, status)| match status {
                        CertStatus::Revoked(at, reason) => Some(qz_pki::issue::RevokedEntry {
                            serial: serial.clone(),
                            revoked_at: *at,
                            reason: *reason,
                        }),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The platform's TSA, to timestamp signatures in process (PAdES B-T).
    pub fn timestamper(&self) -> TimestampAuthority<'_> {
        TimestampAuthority {
            signer: &self.tsa.key,
            identity: &self.tsa.identity,
            policy: DEFAULT_POLICY,
        }
    }

    /// A CRL (`root` or `ca`) signed now with a strictly growing number; the issuing CA's
    /// includes the platform's revocations.
    pub fn current_crl(&self, which: &str) -> Result<Vec<u8>, PkiError> {
        let ca = CertificateAuthority::open(&self.dir)?;
        let root_key = if which == "root" { ca.root_key().ok() } else { None };
        // Milliseconds since the epoch, bumped past the last number given out.
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let previous = self
            .crl_number
            .fetch_max(now, std::sync::atomic::Ordering::SeqCst);
        let number = if previous >= now {
            self.crl_number.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
        } else {
            now
        };
        if which == "ca" {
            ca.fresh_issuing_crl(&self.platform_revoked(), number)
        } else {
            ca.fresh_crl(which, root_key.as_ref(), number)
        }
    }

    /// The root certificate (the trust anchor of everything the platform issues).
    pub fn root_certificate(&self) -> Result<Certificate, PkiError> {
        use der::Decode as _;
        Certificate::from_der(&self.root_der).map_err(PkiError::from)
    }

    /// The key and certificate the platform signs its own documents with (completion reports).
    pub fn platform_signer(&self) -> (&PrivateKey, &SignerIdentity) {
        (&self.documents.key, &self.documents.identity)
    }

    /// The TSA's certificate and chain.
    pub fn tsa_identity(&self) -> &SignerIdentity {
        &self.tsa.identity
    }

    fn status(&self, serial: &SerialNumber) -> CertStatus {
        if let Some(found) = self
            .platform
            .read()
            .ok()
            .and_then(|map| map.get(&serial_key(serial.as_bytes())).copied())
        {
            return found;
        }
        let stamp = std::fs::metadata(self.dir.join("issued.json"))
            .and_then(|m| Ok((m.modified()?, m.len())))
            .ok();
        let fresh = self
            .cache
            .read()
            .map(|c| c.stamp.is_some() && c.stamp == stamp)
            .unwrap_or(false);
        if !fresh {
            let mut status = HashMap::new();
            if let Ok(ca) = CertificateAuthority::open(&self.dir)
                && let Ok(records) = ca.records()
            {
                for record in records {
                    let value = match (record.revoked_at, record.reason) {
                        (Some(at), reason) => CertStatus::Revoked(
                            SystemTime::UNIX_EPOCH + Duration::from_secs(at),
                            reason.unwrap_or(0),
                        ),
                        _ => CertStatus::Good,
                    };
                    status.insert(serial_key(&unhex(&record.serial)), value);
                }
                // The services' own certificates are issued here too and good.
                for own in [&self.tsa.identity.certificate, &self.ocsp.identity.certificate] {
                    status
                        .entry(serial_key(own.tbs_certificate().serial_number().as_bytes()))
                        .or_insert(CertStatus::Good);
                }
            }
            if let Ok(mut cache) = self.cache.write() {
                *cache = RevocationCache { stamp, status };
            }
        }
        self.cache
            .read()
            .ok()
            .and_then(|c| c.status.get(&serial_key(serial.as_bytes())).copied())
            .unwrap_or(CertStatus::Unknown)
    }

    fn ocsp(&self, request: &[u8]) -> Response {
        let responder = Responder {
            issuer: &self.issuing,
            responder: &self.ocsp.identity.certificate,
            key: &self.ocsp.key,
            validity: Duration::from_secs(3600),
        };
        match responder.respond(request, SystemTime::now(), |serial| self.status(serial)) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/ocsp-response")], body).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }

    fn timestamp(&self, request: &[u8]) -> Response {
        let tsa = TimestampAuthority {
            signer: &self.tsa.key,
            identity: &self.tsa.identity,
            policy: DEFAULT_POLICY,
        };
        match tsa.respond(request, SystemTime::now()) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/timestamp-reply")], body).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

async fn crl(State(services): State<Arc<PkiServices>>, UrlPath(name): UrlPath<String>) -> Response {
    let which = name.trim_end_matches(".crl").to_owned();
    if which != "root" && which != "ca" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let services = services.clone();
    let result = tokio::task::spawn_blocking(move || services.current_crl(&which)).await;
    match result {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/pkix-crl")], body).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn certificate(State(services): State<Arc<PkiServices>>, UrlPath(name): UrlPath<String>) -> Response {
    let body = match name.as_str() {
        "root.crt" => services.root_der.clone(),
        "ca.crt" => services.issuing_der.clone(),
        "tsa.crt" => match services.tsa.identity.certificate.to_der() {
            Ok(der) => der,
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, "application/pkix-cert")], body).into_response()
}

async fn ocsp_post(State(services): State<Arc<PkiServices>>, body: Bytes) -> Response {
    let services = services.clone();
    tokio::task::spawn_blocking(move || services.ocsp(&body))
        .await
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn ocsp_get(State(services): State<Arc<PkiServices>>, UrlPath(encoded): UrlPath<String>) -> Response {
    // RFC 6960 A.1: base64 of the DER, URL-encoded; accept both alphabets.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(
            encoded
                .replace("%2F", "/")
                .replace("%2B", "+")
                .replace("%3D", "="),
        )
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&encoded));
    match decoded {
        Ok(request) if request.len() <= MAX_REQUEST => services.ocsp(&request),
        // Undecodable: let the responder answer malformedRequest.
        _ => services.ocsp(&[]),
    }
}

async fn tsa(State(services): State<Arc<PkiServices>>, body: Bytes) -> Response {
    let services = services.clone();
    tokio::task::spawn_blocking(move || services.timestamp(&body))
        .await
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The `/pki` routes.
pub fn router(services: Arc<PkiServices>) -> Router {
    Router::new()
        .route("/pki/crl/{name}", get(crl))
        .route("/pki/cert/{name}", get(certificate))
        .route("/pki/ocsp", post(ocsp_post))
        .route("/pki/ocsp/{*request}", get(ocsp_get))
        .route("/pki/tsa", post(tsa))
        .route("/pki/cosign/enroll", post(cosign::enroll))
        .route("/pki/cosign/certify", post(cosign::certify))
        .route("/pki/cosign/sign", post(cosign::sign))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .with_state(services)
}

/// Serves the PKI routes on `listener` until Ctrl-C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, services: Arc<PkiServices>) -> std::io::Result<()> {
    axum::serve(listener, router(services))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Two-party SM2 co-signing: the server's half, for `qz cosign` (the phone stand-in) and, later,
/// the mobile pages. State lives in `DIR/cosign/<key id>.share` (the server share, 0600; the
/// platform store will keep it sealed under its KEK) and every co-signed digest is appended to
/// `DIR/cosign/<key id>.log`.
pub mod cosign {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use der::{Decode as _, Encode as _};
    use serde::{Deserialize, Serialize};

    use qz_pki::ca::{CertificateAuthority, Subject};
    use qz_pki::custody::cosign::{ServerShare, SignRequest};
    use qz_pki::issue::CertificateKind;

    use super::PkiServices;

    /// Phone → server: start an enrolment.
    #[derive(Debug, Deserialize)]
    pub struct EnrollRequest {
        /// P1, hex.
        pub client_partial: String,
    }

    /// Server → phone.
    #[derive(Debug, Serialize)]
    pub struct EnrollResponse {
        /// Key id for later calls.
        pub key_id: String,
        /// P2, hex.
        pub server_partial: String,
        /// The joint public key P, hex.
        pub public_key: String,
    }

    /// Phone → server: a CSR for P, signed through the protocol.
    #[derive(Debug, Deserialize)]
    pub struct CertifyRequest {
        /// Key id.
        pub key_id: String,
        /// DER PKCS#10, hex.
        pub csr: String,
    }

    /// Phone → server: one signing run.
    #[derive(Debug, Deserialize)]
    pub struct CosignRequest {
        /// Key id.
        pub key_id: String,
        /// The protocol message.
        #[serde(flatten)]
        pub request: SignRequest,
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) || text.len() > 64 * 1024 {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect()
    }

    fn bad(message: impl Into<String>) -> Response {
        (StatusCode::BAD_REQUEST, message.into()).into_response()
    }

    fn valid_id(id: &str) -> bool {
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
    }

    fn paths(dir: &Path, key_id: &str) -> (PathBuf, PathBuf, PathBuf) {
        let base = dir.join("cosign");
        (
            base.join(format!("{key_id}.share")),
            base.join(format!("{key_id}.pub")),
            base.join(format!("{key_id}.log")),
        )
    }

    fn load(dir: &Path, key_id: &str) -> Option<(ServerShare, Vec<u8>)> {
        if !valid_id(key_id) {
            return None;
        }
        let (share, public, _) = paths(dir, key_id);
        let share = ServerShare::from_bytes(&std::fs::read(share).ok()?).ok()?;
        Some((share, std::fs::read(public).ok()?))
    }

    pub(super) async fn enroll(
        State(services): State<Arc<PkiServices>>,
        Json(body): Json<EnrollRequest>,
    ) -> Response {
        let Some(partial) = unhex(&body.client_partial) else {
            return bad("client_partial is not hex");
        };
        let (share, server_partial) = match ServerShare::generate() {
            Ok(v) => v,
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        let public = match share.joint_public_key(&partial) {
            Ok(p) => p,
            Err(e) => return bad(e.to_string()),
        };
        let mut id = [0u8; 16];
        if getrandom::fill(&mut id).is_err() {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        let key_id = hex(&id);
        let (share_path, public_path, _) = paths(&services.dir, &key_id);
        let stored = std::fs::create_dir_all(services.dir.join("cosign"))
            .and_then(|()| super::write_secret(&share_path, &share.to_bytes()).map_err(std::io::Error::other))
            .and_then(|()| std::fs::write(&public_path, &public));
        if stored.is_err() {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Json(EnrollResponse {
            key_id,
            server_partial: hex(&server_partial),
            public_key: hex(&public),
        })
        .into_response()
    }

    pub(super) async fn certify(
        State(services): State<Arc<PkiServices>>,
        Json(body): Json<CertifyRequest>,
    ) -> Response {
        let Some((_, public)) = load(&services.dir, &body.key_id) else {
            return bad("unknown key");
        };
        let Some(csr_der) = unhex(&body.csr) else {
            return bad("csr is not hex");
        };
        let Ok(csr) = x509_cert::request::CertReq::from_der(&csr_der) else {
            return bad("not a PKCS#10 request");
        };
        if csr.info.public_key.subject_public_key.raw_bytes() != public.as_slice() {
            return bad("the request is not for this key");
        }
        // The request's own signature, made through the protocol, proves the joint key works.
        let Ok(info) = csr.info.to_der() else {
            return bad("bad request");
        };
        let Some(signature) = csr.signature.as_bytes() else {
            return bad("bad signature");
        };
        if qz_pki::verify::verify_signature(
            &csr.info.public_key,
            &csr.algorithm,
            qz_pki::DigestAlgorithm::Sm3,
            &info,
            signature,
        )
        .is_err()
        {
            return bad("the request's signature does not verify");
        }
        let name = csr
            .info
            .subject
            .iter()
            .find(|atv| atv.oid == const_oid::db::rfc4519::CN)
            .and_then(|atv| {
                atv.value
                    .decode_as::<der::asn1::Utf8StringRef<'_>>()
                    .ok()
                    .map(|s| s.to_string())
            })
            .unwrap_or_else(|| "co-signing user".into());
        let dir = services.dir.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<String, qz_pki::PkiError> {
            let mut ca = CertificateAuthority::open(&dir)?;
            let cert = ca.issue_for_key(
                CertificateKind::Signing,
                &Subject::Person {
                    name,
                    id_number: None,
                },
                csr.info.public_key.clone(),
                Duration::from_secs(365 * 86_400),
            )?;
            let mut pem = der::EncodePem::to_pem(&cert, der::pem::LineEnding::LF)?;
            pem.push_str(&der::EncodePem::to_pem(&ca.issuing, der::pem::LineEnding::LF)?);
            Ok(pem)
        })
        .await;
        match result {
            Ok(Ok(pem)) => (
                [(axum::http::header::CONTENT_TYPE, "application/x-pem-file")],
                pem,
            )
                .into_response(),
            Ok(Err(e)) => bad(e.to_string()),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }

    pub(super) async fn sign(
        State(services): State<Arc<PkiServices>>,
        Json(body): Json<CosignRequest>,
    ) -> Response {
        let Some((share, _)) = load(&services.dir, &body.key_id) else {
            return bad("unknown key");
        };
        match share.respond(&body.request) {
            Ok(response) => {
                // What was co-signed, for the audit trail (the digest, never a key).
                let (_, _, log) = paths(&services.dir, &body.key_id);
                let line = format!(
                    "{{\"time\":{},\"e\":\"{}\"}}\n",
                    SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs(),
                    hex(&body.request.e)
                );
                use std::io::Write as _;
                let logged = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .and_then(|mut f| f.write_all(line.as_bytes()));
                if logged.is_err() {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                Json(response).into_response()
            }
            Err(e) => bad(e.to_string()),
        }
    }
}

/// Revocation data for the platform's own verification service: fresh CRLs of this CA,
/// computed in process (no network), so a certificate the platform revoked a moment ago is
/// reported revoked.
#[derive(Debug)]
pub struct PlatformRevocation(pub Arc<PkiServices>);

impl qz_verify::RevocationSource for PlatformRevocation {
    fn fetch(&self, _cert: &Certificate, issuer: &Certificate) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let subject = issuer.tbs_certificate().subject();
        let which = if subject == self.0.issuing.tbs_certificate().subject() {
            "ca"
        } else if self
            .0
            .root_certificate()
            .is_ok_and(|root| root.tbs_certificate().subject() == subject)
        {
            "root"
        } else {
            return (Vec::new(), Vec::new());
        };
        match self.0.current_crl(which) {
            Ok(crl) => (vec![crl], Vec::new()),
            Err(_) => (Vec::new(), Vec::new()),
        }
    }
}
