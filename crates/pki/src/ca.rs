//! Our own certification authority, kept in a directory: a root, an issuing CA under it, the
//! record of what was issued and revoked, and the CRLs.
//!
//! Layout of `DIR`: `root.pem`/`root.key` (the trust anchor), `ca.pem`/`ca.key` (the issuing
//! CA), `ca.json` (profile, URLs, serial counter, the salt for ID-number hashes), `issued.json`
//! (one record per certificate, revocations included), `crl/root.crl` and `crl/ca.crl`. Key
//! files are written 0600. A file lock is not taken: one `qz ca` command at a time per
//! directory (the platform's store will own this state later).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use der::{DecodePem, Encode, EncodePem};
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;

use crate::error::PkiError;
use crate::issue::{
    self, AT_COMMON_NAME, AT_COUNTRY, AT_ORGANIZATION, AT_ORGANIZATION_IDENTIFIER, AT_SERIAL_NUMBER,
    CertificateKind, CertificateTemplate, RevokedEntry, ServiceUrls,
};
use crate::keys::{KeyAlgorithm, PrivateKey};

const DAY: Duration = Duration::from_secs(86_400);

/// Which algorithms the CA family uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaProfile {
    /// ECDSA P-256 or RSA, SHA-256.
    Intl,
    /// SM2 with SM3 (national profile; not available yet).
    Sm2,
}

/// The CA's settings and counters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaConfig {
    /// Algorithm family.
    pub profile: CaProfile,
    /// Key type of issued certificates.
    pub algorithm: String,
    /// Where the services are reachable, e.g. `http://127.0.0.1:8080`.
    pub base_url: Option<String>,
    /// Next certificate serial (random high bits are added per certificate).
    pub next_serial: u64,
    /// Next CRL number.
    pub next_crl_number: u64,
    /// Salt for hashing ID numbers into subjects, hex.
    pub id_salt: String,
}

/// What the CA remembers of one certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedRecord {
    /// Serial, lower-case hex.
    pub serial: String,
    /// Subject DN.
    pub subject: String,
    /// person, org, tsa, ocsp.
    pub kind: String,
    /// Unix seconds.
    pub not_after: u64,
    /// Unix seconds of revocation.
    pub revoked_at: Option<u64>,
    /// RFC 5280 reason code.
    pub reason: Option<u8>,
}

/// Reasons accepted by `qz ca revoke` and their RFC 5280 codes.
pub const REASONS: &[(&str, u8)] = &[
    ("unspecified", 0),
    ("keyCompromise", 1),
    ("cACompromise", 2),
    ("affiliationChanged", 3),
    ("superseded", 4),
    ("cessationOfOperation", 5),
    ("certificateHold", 6),
    ("privilegeWithdrawn", 9),
];

/// Who a certificate is for.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A person: name and ID number (stored only as a salted hash).
    Person {
        /// Name.
        name: String,
        /// Resident ID number (GB 11643), if known.
        id_number: Option<String>,
    },
    /// An organization: name and unified social credit code (GB 32100).
    Organization {
        /// Name.
        name: String,
        /// Credit code.
        credit_code: Option<String>,
    },
    /// A service (TSA, OCSP responder) of this CA.
    Service {
        /// Name.
        name: String,
    },
}

/// A CA directory opened for use.
#[derive(Debug)]
pub struct CertificateAuthority {
    dir: PathBuf,
    /// Settings.
    pub config: CaConfig,
    /// The root certificate.
    pub root: Certificate,
    /// The issuing CA certificate.
    pub issuing: Certificate,
    issuing_key: PrivateKey,
}

fn io(path: &Path, err: std::io::Error) -> PkiError {
    PkiError::Certificate(format!("{}: {err}", path.display()))
}

fn write_file(path: &Path, data: &[u8], secret: bool) -> Result<(), PkiError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let tmp = path.with_extension("tmp");
    let mut file = options.open(&tmp).map_err(|e| io(&tmp, e))?;
    file.write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|e| io(path, e))
}

fn pem(cert: &Certificate) -> Result<String, PkiError> {
    Ok(cert.to_pem(der::pem::LineEnding::LF)?)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], PkiError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| PkiError::Sign(e.to_string()))?;
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a resident ID number: 18 characters, a valid birth date, GB 11643 check digit.
pub fn check_id_number(id: &str) -> Result<(), PkiError> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let bytes = id.as_bytes();
    let bad = || PkiError::Invalid(format!("{id:?} is not a valid resident ID number"));
    if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let sum: u32 = bytes[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    if CHECK[(sum % 11) as usize] != bytes[17].to_ascii_uppercase() {
        return Err(bad());
    }
    let number = |r: std::ops::Range<usize>| id[r].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(6..10), number(10..12), number(12..14));
    if !(1900..=2100).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    Ok(())
}

/// Checks a unified social credit code (GB 32100 check character).
pub fn check_credit_code(code: &str) -> Result<(), PkiError> {
    const CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let bad = || PkiError::Invalid(format!("{code:?} is not a valid unified social credit code"));
    let values: Vec<usize> = code
        .chars()
        .map(|c| CHARS.find(c.to_ascii_uppercase()))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    if values.len() != 18 {
        return Err(bad());
    }
    let sum: usize = values[..17].iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        return Err(bad());
    }
    Ok(())
}

impl CertificateAuthority {
    /// Creates a root (20 years) and an issuing CA (10 years) in `dir`.
    pub fn init(
        dir: &Path,
        profile: CaProfile,
        algorithm: KeyAlgorithm,
        base_url: Option<String>,
        name: &str,
    ) -> Result<Self, PkiError> {
        // The national profile (GM/T 0015) is SM2 throughout, whatever --algorithm says.
        let algorithm = if profile == CaProfile::Sm2 {
            KeyAlgorithm::Sm2
        } else {
            algorithm
        };
        if dir.join("root.pem").exists() {
            return Err(PkiError::Certificate(format!(
                "{} already holds a CA",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir.join("crl")).map_err(|e| io(dir, e))?;
        let now = SystemTime::now();
        let root_key = PrivateKey::generate(algorithm)?;
        let root_name = issue::name(&[
            (AT_COUNTRY, "CN"),
            (AT_ORGANIZATION, name),
            (AT_COMMON_NAME, &format!("{name} Root CA")),
        ])?;
        let root_spki = root_key.public_key_info()?;
        let root = issue::sign_certificate(
            &CertificateTemplate {
                serial: random_serial(1)?,
                subject: root_name.clone(),
                subject_public_key_info: root_spki.clone(),
                not_before: now - DAY,
                not_after: now + 20 * 365 * DAY,
                extensions: issue::profile_extensions(
                    CertificateKind::Root,
                    &root_spki,
                    &root_spki,
                    &ServiceUrls::default(),
                )?,
            },
            &root_name,
            &root_key,
        )?;
        let issuing_key = PrivateKey::generate(algorithm)?;
        let issuing_spki = issuing_key.public_key_info()?;
        let urls = base_url.as_deref().map(|base| ServiceUrls {
            crl: Some(format!("{base}/pki/crl/root.crl")),
            ocsp: None,
            ca_issuers: Some(format!("{base}/pki/cert/root.crt")),
        });
        let issuing_name = issue::name(&[
            (AT_COUNTRY, "CN"),
            (AT_ORGANIZATION, name),
            (AT_COMMON_NAME, &format!("{name} Issuing CA")),
        ])?;
        let issuing = issue::sign_certificate(
            &CertificateTemplate {
                serial: random_serial(2)?,
                subject: issuing_name,
                subject_public_key_info: issuing_spki.clone(),
                not_before: now - DAY,
                not_after: now + 10 * 365 * DAY,
                extensions: issue::profile_extensions(
                    CertificateKind::IssuingCa,
                    &issuing_spki,
                    &root_spki,
                    &urls.unwrap_or_default(),
                )?,
            },
            &root_name,
            &root_key,
        )?;
        write_file(
            &dir.join("root.key"),
            root_key.to_pkcs8_pem(None)?.as_bytes(),
            true,
        )?;
        write_file(&dir.join("root.pem"), pem(&root)?.as_bytes(), false)?;
        write_file(
            &dir.join("ca.key"),
            issuing_key.to_pkcs8_pem(None)?.as_bytes(),
            true,
        )?;
        write_file(&dir.join("ca.pem"), pem(&issuing)?.as_bytes(), false)?;
        let config = CaConfig {
            profile,
            algorithm: match algorithm {
                KeyAlgorithm::P256 => "p256".into(),
                KeyAlgorithm::Rsa3072 => "rsa3072".into(),
                KeyAlgorithm::Sm2 => "sm2".into(),
            },
            base_url,
            next_serial: 3,
            next_crl_number: 1,
            id_salt: hex(&random_bytes::<16>()?),
        };
        let mut ca = CertificateAuthority {
            dir: dir.to_path_buf(),
            config,
            root,
            issuing,
            issuing_key,
        };
        ca.save_config()?;
        ca.save_records(&[])?;
        ca.write_crls(&root_key)?;
        Ok(ca)
    }

    /// Opens an existing CA directory.
    pub fn open(dir: &Path) -> Result<Self, PkiError> {
        let config: CaConfig = serde_json::from_slice(&read(&dir.join("ca.json"))?)
            .map_err(|e| PkiError::Certificate(format!("ca.json: {e}")))?;
        let root = Certificate::from_pem(read(&dir.join("root.pem"))?)
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        let issuing = Certificate::from_pem(read(&dir.join("ca.pem"))?)
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        let issuing_key = PrivateKey::from_pem(&read(&dir.join("ca.key"))?, None)?;
        Ok(CertificateAuthority {
            dir: dir.to_path_buf(),
            config,
            root,
            issuing,
            issuing_key,
        })
    }

    /// The issuing CA's key, for services that sign as the CA.
    pub fn issuing_key(&self) -> &PrivateKey {
        &self.issuing_key
    }

    /// Where the services are, from the base URL.
    pub fn urls(&self) -> ServiceUrls {
        self.config
            .base_url
            .as_deref()
            .map_or_else(ServiceUrls::default, |base| ServiceUrls {
                crl: Some(format!("{base}/pki/crl/ca.crl")),
                ocsp: Some(format!("{base}/pki/ocsp")),
                ca_issuers: Some(format!("{base}/pki/cert/ca.crt")),
            })
    }

    fn save_config(&self) -> Result<(), PkiError> {
        let json =
            serde_json::to_vec_pretty(&self.config).map_err(|e| PkiError::Certificate(e.to_string()))?;
        write_file(&self.dir.join("ca.json"), &json, false)
    }

    /// Every certificate issued by the issuing CA.
    pub fn records(&self) -> Result<Vec<IssuedRecord>, PkiError> {
        let path = self.dir.join("issued.json");
        if !path.exists() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&read(&path)?).map_err(|e| PkiError::Certificate(format!("issued.json: {e}")))
    }

    fn save_records(&self, records: &[IssuedRecord]) -> Result<(), PkiError> {
        let json = serde_json::to_vec_pretty(records).map_err(|e| PkiError::Certificate(e.to_string()))?;
        write_file(&self.dir.join("issued.json"), &json, false)
    }

    /// The subject DN attributes for `subject`.
    fn subject_name(
        &self,
        subject: &Subject,
    ) -> Result<Vec<(const_oid::ObjectIdentifier, String)>, PkiError> {
        Ok(match subject {
            Subject::Person { name, id_number } => {
                let mut attributes = vec![(AT_COUNTRY, "CN".to_owned())];
                if let Some(id) = id_number {
                    check_id_number(id)?;
                    // Never the number itself: a salted hash identifies the person to us only.
                    let digest = crate::DigestAlgorithm::Sha256
                        .digest(&[self.config.id_salt.as_bytes(), id.to_ascii_uppercase().as_bytes()]);
                    attributes.push((AT_SERIAL_NUMBER, hex(&digest[..16])));
                }
                attributes.push((AT_COMMON_NAME, name.clone()));
                attributes
            }
            Subject::Organization { name, credit_code } => {
                let mut attributes = vec![(AT_COUNTRY, "CN".to_owned()), (AT_ORGANIZATION, name.clone())];
                if let Some(code) = credit_code {
                    check_credit_code(code)?;
                    attributes.push((AT_ORGANIZATION_IDENTIFIER, code.to_ascii_uppercase()));
                }
                attributes.push((AT_COMMON_NAME, name.clone()));
                attributes
            }
            Subject::Service { name } => vec![(AT_COUNTRY, "CN".to_owned()), (AT_COMMON_NAME, name.clone())],
        })
    }

    /// The key type of issued certificates.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        match self.config.algorithm.as_str() {
            "rsa3072" => KeyAlgorithm::Rsa3072,
            "sm2" => KeyAlgorithm::Sm2,
            _ => KeyAlgorithm::P256,
        }
    }

    /// Issues a certificate with a fresh key; returns the certificate and the key.
    pub fn issue(
        &mut self,
        kind: CertificateKind,
        subject: &Subject,
        validity: Duration,
    ) -> Result<(Certificate, PrivateKey), PkiError> {
        let key = PrivateKey::generate(self.key_algorithm())?;
        let cert = self.issue_for_key(kind, subject, key.public_key_info()?, validity)?;
        Ok((cert, key))
    }

    /// Issues a certificate for a public key held elsewhere (a token, a phone, a CSR).
    pub fn issue_for_key(
        &mut self,
        kind: CertificateKind,
        subject: &Subject,
        spki: spki::SubjectPublicKeyInfoOwned,
        validity: Duration,
    ) -> Result<Certificate, PkiError> {
        let serial = random_serial(self.config.next_serial)?;
        self.config.next_serial += 1;
        let cert = self.sign_for(kind, subject, spki, validity, serial.clone())?;
        let not_after = cert.tbs_certificate().validity().not_after.to_unix_duration();
        let mut records = self.records()?;
        records.push(IssuedRecord {
            serial: hex(&serial),
            subject: cert.tbs_certificate().subject().to_string(),
            kind: match subject {
                Subject::Person { .. } => "person",
                Subject::Organization { .. } => "org",
                Subject::Service { .. } if kind == CertificateKind::TimeStamping => "tsa",
                Subject::Service { .. } => "ocsp",
            }
            .into(),
            not_after: not_after.as_secs(),
            revoked_at: None,
            reason: None,
        });
        self.save_records(&records)?;
        self.save_config()?;
        Ok(cert)
    }

    /// Issues a certificate for a public key without touching the CA directory: for the
    /// platform, whose database records what was issued (several servers may share one CA
    /// directory, so they must not race on `issued.json`). The serial is 16 random bytes.
    pub fn certify(
        &self,
        kind: CertificateKind,
        subject: &Subject,
        spki: spki::SubjectPublicKeyInfoOwned,
        validity: Duration,
    ) -> Result<Certificate, PkiError> {
        let mut serial = vec![0x01];
        serial.extend_from_slice(&random_bytes::<15>()?);
        self.sign_for(kind, subject, spki, validity, serial)
    }

    /// Signs a certificate for `spki` under the issuing CA, valid from five minutes ago for
    /// `validity` but never past the issuing CA's own end.
    fn sign_for(
        &self,
        kind: CertificateKind,
        subject: &Subject,
        spki: spki::SubjectPublicKeyInfoOwned,
        validity: Duration,
        serial: Vec<u8>,
    ) -> Result<Certificate, PkiError> {
        let subject_name = self.subject_name(subject)?;
        let refs: Vec<(const_oid::ObjectIdentifier, &str)> =
            subject_name.iter().map(|(o, v)| (*o, v.as_str())).collect();
        let now = SystemTime::now();
        let not_after = (now + validity).min(
            SystemTime::UNIX_EPOCH
                + self
                    .issuing
                    .tbs_certificate()
                    .validity()
                    .not_after
                    .to_unix_duration(),
        );
        issue::sign_certificate(
            &CertificateTemplate {
                serial,
                subject: issue::name(&refs)?,
                subject_public_key_info: spki.clone(),
                not_before: now - Duration::from_secs(300),
                not_after,
                extensions: issue::profile_extensions(
                    kind,
                    &spki,
                    self.issuing.tbs_certificate().subject_public_key_info(),
                    &self.urls(),
                )?,
            },
            self.issuing.tbs_certificate().subject(),
            &self.issuing_key,
        )
    }

    /// Like [`Self::fresh_crl`] for the issuing CA, with revocations recorded elsewhere (the
    /// platform's database) added to those of `issued.json`.
    pub fn fresh_issuing_crl(&self, extra: &[RevokedEntry], number: u64) -> Result<Vec<u8>, PkiError> {
        let now = SystemTime::now();
        let mut revoked = self.revoked()?;
        revoked.extend_from_slice(extra);
        issue::sign_crl(
            &self.issuing,
            &self.issuing_key,
            &revoked,
            now,
            now + 7 * DAY,
            number,
        )
    }

    /// Marks a certificate revoked and publishes a new CRL.
    pub fn revoke(&mut self, serial_hex: &str, reason: &str) -> Result<(), PkiError> {
        let code = REASONS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(reason))
            .map(|(_, code)| *code)
            .ok_or_else(|| {
                PkiError::Certificate(format!(
                    "unknown reason {reason:?}; use one of {}",
                    REASONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ))
            })?;
        let wanted = serial_hex.trim_start_matches("0x").to_ascii_lowercase();
        let mut records = self.records()?;
        let record = records
            .iter_mut()
            .find(|r| r.serial.trim_start_matches('0') == wanted.trim_start_matches('0'))
            .ok_or_else(|| {
                PkiError::Certificate(format!("no certificate with serial {serial_hex} was issued here"))
            })?;
        if record.revoked_at.is_some() {
            return Err(PkiError::Certificate(format!(
                "certificate {serial_hex} is already revoked"
            )));
        }
        record.revoked_at = Some(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        );
        record.reason = Some(code);
        self.save_records(&records)?;
        self.write_issuing_crl()?;
        Ok(())
    }

    /// Revoked entries for the issuing CA's CRL.
    pub fn revoked(&self) -> Result<Vec<RevokedEntry>, PkiError> {
        Ok(self
            .records()?
            .into_iter()
            .filter_map(|r| {
                let at = r.revoked_at?;
                Some(RevokedEntry {
                    serial: (0..r.serial.len())
                        .step_by(2)
                        .filter_map(|i| u8::from_str_radix(r.serial.get(i..i + 2)?, 16).ok())
                        .collect(),
                    revoked_at: SystemTime::UNIX_EPOCH + Duration::from_secs(at),
                    reason: r.reason.unwrap_or(0),
                })
            })
            .collect())
    }

    /// Writes `crl/ca.crl` (7 days valid); returns its path.
    pub fn write_issuing_crl(&mut self) -> Result<PathBuf, PkiError> {
        let now = SystemTime::now();
        // Milliseconds since the epoch, as the CRL service numbers them: one growing sequence.
        let millis = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let number = millis.max(self.config.next_crl_number);
        let crl = issue::sign_crl(
            &self.issuing,
            &self.issuing_key,
            &self.revoked()?,
            now - Duration::from_secs(60),
            now + 7 * DAY,
            number,
        )?;
        self.config.next_crl_number = number + 1;
        self.save_config()?;
        let path = self.dir.join("crl").join("ca.crl");
        write_file(&path, &crl, false)?;
        Ok(path)
    }

    fn write_crls(&mut self, root_key: &PrivateKey) -> Result<(), PkiError> {
        let now = SystemTime::now();
        let root_crl = issue::sign_crl(
            &self.root,
            root_key,
            &[],
            now - Duration::from_secs(60),
            now + 365 * DAY,
            1,
        )?;
        write_file(&self.dir.join("crl").join("root.crl"), &root_crl, false)?;
        self.write_issuing_crl()?;
        Ok(())
    }

    /// Refreshes both CRLs (the root's needs the root key from `root.key`).
    pub fn refresh_crls(&mut self) -> Result<Vec<PathBuf>, PkiError> {
        let root_key = PrivateKey::from_pem(&read(&self.dir.join("root.key"))?, None)?;
        self.write_crls(&root_key)?;
        Ok(vec![
            self.dir.join("crl").join("root.crl"),
            self.dir.join("crl").join("ca.crl"),
        ])
    }

    /// A CRL signed now (`root` or `ca`) with the caller's (strictly growing) number; what
    /// the CRL service hands out, so relying parties always get revocation data issued after
    /// the signature they validate.
    pub fn fresh_crl(
        &self,
        which: &str,
        root_key: Option<&PrivateKey>,
        number: u64,
    ) -> Result<Vec<u8>, PkiError> {
        let now = SystemTime::now();
        match (which, root_key) {
            ("ca", _) => issue::sign_crl(
                &self.issuing,
                &self.issuing_key,
                &self.revoked()?,
                now,
                now + 7 * DAY,
                number,
            ),
            ("root", Some(root_key)) => {
                issue::sign_crl(&self.root, root_key, &[], now, now + 7 * DAY, number)
            }
            ("root", None) => self.crl("root"),
            (other, _) => Err(PkiError::Certificate(format!("no CRL named {other}"))),
        }
    }

    /// The root key, for services that publish the root's CRL.
    pub fn root_key(&self) -> Result<PrivateKey, PkiError> {
        PrivateKey::from_pem(&read(&self.dir.join("root.key"))?, None)
    }

    /// The DER of a stored CRL (`root` or `ca`).
    pub fn crl(&self, which: &str) -> Result<Vec<u8>, PkiError> {
        match which {
            "root" | "ca" => read(&self.dir.join("crl").join(format!("{which}.crl"))),
            other => Err(PkiError::Certificate(format!("no CRL named {other}"))),
        }
    }

    /// The DER of the root or issuing CA certificate.
    pub fn certificate_der(&self, which: &str) -> Result<Vec<u8>, PkiError> {
        match which {
            "root" => Ok(self.root.to_der()?),
            "ca" => Ok(self.issuing.to_der()?),
            other => Err(PkiError::Certificate(format!("no certificate named {other}"))),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A positive serial: a counter in the low bytes, 8 random bytes above it (RFC 5280 wants
/// unpredictable serials; the counter keeps them unique).
fn random_serial(counter: u64) -> Result<Vec<u8>, PkiError> {
    let mut serial = vec![0x01];
    serial.extend_from_slice(&random_bytes::<8>()?);
    serial.extend_from_slice(&counter.to_be_bytes());
    Ok(serial)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers() {
        assert!(check_id_number("11010519491231002X").is_ok());
        assert!(check_id_number("110105194912310021").is_err());
        assert!(check_id_number("1101051949123100").is_err());
    }

    #[test]
    fn credit_codes() {
        assert!(check_credit_code("91350100M000100Y43").is_ok());
        assert!(check_credit_code("91350100M000100Y44").is_err());
        assert!(check_credit_code("short").is_err());
    }
}
