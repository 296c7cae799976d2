//! Network side of PAdES levels: asking a TSA for tokens, and collecting certificates, CRLs and
//! OCSP responses for the DSS (B-LT) from the URLs in the certificates.

use std::time::Duration;

use qz_pki::verify::SignedMessage;
use qz_pki::{DigestAlgorithm, PkiError};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints};

/// Responses larger than this are refused (a CRL of a big CA can be a few MB).
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .http_status_as_error(true)
        .build()
        .into()
}

fn fetch(
    request: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
) -> Result<Vec<u8>, PkiError> {
    request
        .and_then(|mut response| {
            response
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE)
                .read_to_vec()
        })
        .map_err(|e| PkiError::Sign(format!("{url}: {e}")))
}

/// POSTs `body` with `content_type`.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, PkiError> {
    fetch(
        agent().post(url).header("Content-Type", content_type).send(body),
        url,
    )
}

/// GETs `url`.
pub fn get(url: &str) -> Result<Vec<u8>, PkiError> {
    fetch(agent().get(url).call(), url)
}

/// An RFC 3161 client for one TSA URL.
#[derive(Debug, Clone)]
pub struct HttpTimestamper {
    /// The TSA endpoint.
    pub url: String,
    /// Imprint hash: SHA-256, or SM3 with the national profile.
    pub digest: DigestAlgorithm,
}

impl HttpTimestamper {
    /// A token over `data` (the parts are hashed with [`Self::digest`]).
    pub fn token_for(&self, data: &[&[u8]]) -> Result<Vec<u8>, PkiError> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| PkiError::Sign(e.to_string()))?;
        nonce[0] = (nonce[0] & 0x7F) | 0x01;
        let request = qz_pki::tsa::request(self.digest, data, &nonce)?;
        let response = post(&self.url, "application/timestamp-query", &request)?;
        qz_pki::tsa::token_from_response(&response, &nonce)
    }
}

impl qz_pki::cms::Timestamper for HttpTimestamper {
    fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, PkiError> {
        self.token_for(&[signature])
    }
}

fn uris<'a>(names: impl Iterator<Item = &'a GeneralName>) -> Vec<String> {
    names
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
            _ => None,
        })
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .collect()
}

fn crl_urls(cert: &Certificate) -> Vec<String> {
    let Ok(Some((_, points))) = cert.tbs_certificate().get_extension::<CrlDistributionPoints>() else {
        return Vec::new();
    };
    points
        .0
        .iter()
        .filter_map(|p| match &p.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(uris(names.iter())),
            _ => None,
        })
        .flatten()
        .collect()
}

/// URLs of one access method in the certificate's AIA (RFC 5280 4.2.2.1).
fn access_urls(cert: &Certificate, method: const_oid::ObjectIdentifier) -> Vec<String> {
    let Ok(Some((_, access))) = cert
        .tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
    else {
        return Vec::new();
    };
    uris(
        access
            .0
            .iter()
            .filter(|a| a.access_method == method)
            .map(|a| &a.access_location),
    )
}

fn ocsp_urls(cert: &Certificate) -> Vec<String> {
    access_urls(
        cert,
        const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1"),
    )
}

fn ca_issuer_urls(cert: &Certificate) -> Vec<String> {
    access_urls(
        cert,
        const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2"),
    )
}

fn is_self_signed(cert: &Certificate) -> bool {
    cert.tbs_certificate().issuer() == cert.tbs_certificate().subject()
}

fn has_ocsp_nocheck(cert: &Certificate) -> bool {
    cert.tbs_certificate()
        .extensions()
        .is_some_and(|exts| exts.iter().any(|e| e.extn_id == qz_pki::issue::OCSP_NOCHECK))
}

/// Everything a validator needs for the certificates in `seed`: the certificates themselves
/// and, for each one that is not a root, a CRL or an OCSP response from its issuer's services.
pub fn collect(seed: &[Certificate]) -> Result<qz_pdf::ValidationData, PkiError> {
    use der::Encode as _;
    let mut certs: Vec<Certificate> = Vec::new();
    for cert in seed {
        if !certs.contains(cert) {
            certs.push(cert.clone());
        }
    }
    let mut data = qz_pdf::ValidationData::default();
    let mut i = 0;
    while i < certs.len() {
        let cert = certs[i].clone();
        i += 1;
        if is_self_signed(&cert) {
            continue;
        }
        if has_ocsp_nocheck(&cert) {
            continue;
        }
        let mut issuer = certs
            .iter()
            .find(|c| c.tbs_certificate().subject() == cert.tbs_certificate().issuer())
            .cloned();
        if issuer.is_none() {
            // Complete the chain from the caIssuers URL (RFC 5280 4.2.2.1).
            for url in ca_issuer_urls(&cert) {
                if let Ok(der) = get(&url)
                    && let Ok(found) = <Certificate as der::Decode>::from_der(&der)
                {
                    certs.push(found.clone());
                    issuer = Some(found);
                    break;
                }
            }
        }
        let mut done = false;
        for url in issuer.as_ref().map(|_| ocsp_urls(&cert)).unwrap_or_default() {
            let Some(issuer) = issuer.as_ref() else { break };
            let mut nonce = [0u8; 16];
            getrandom::fill(&mut nonce).map_err(|e| PkiError::Sign(e.to_string()))?;
            let request = qz_pki::ocsp::request(&cert, issuer, &nonce)?;
            if let Ok(response) = post(&url, "application/ocsp-request", &request)
                && qz_pki::ocsp::response_status(&response, &cert, issuer).is_ok()
            {
                // The responder's certificate must be validated too.
                if let Ok(certs_in) = ocsp_certificates(&response) {
                    for c in certs_in {
                        if !certs.contains(&c) {
                            certs.push(c);
                        }
                    }
                }
                data.ocsp_responses.push(response);
                done = true;
                break;
            }
        }
        for url in crl_urls(&cert) {
            // CRLs as well as OCSP: some validators only take one kind.
            if let Ok(crl) = get(&url) {
                if !data.crls.contains(&crl) {
                    data.crls.push(crl);
                }
                done = true;
                break;
            }
        }
        if !done {
            return Err(PkiError::Sign(format!(
                "no revocation information could be fetched for {}",
                cert.tbs_certificate().subject()
            )));
        }
    }
    for cert in &certs {
        data.certificates.push(cert.to_der()?);
    }
    Ok(data)
}

fn ocsp_certificates(response: &[u8]) -> Result<Vec<Certificate>, PkiError> {
    qz_pki::ocsp::embedded_certificates(response)
}

/// The certificates of a CMS signature and of the timestamp tokens inside it.
pub fn certificates_of(cms: &[u8]) -> Vec<Certificate> {
    let Ok(message) = SignedMessage::parse(cms) else {
        return Vec::new();
    };
    let mut out = message.certificates.clone();
    for token in message.unsigned_attribute(qz_pki::oid::ID_SIGNATURE_TIME_STAMP_TOKEN) {
        if let Ok(token) = SignedMessage::parse(&token) {
            out.extend(token.certificates);
        }
    }
    out
}

/// Asks the signer's OCSP responder whether `cert` is revoked (when its certificate names one
/// and the issuer is at hand). `Ok(None)` when no answer could be had.
pub fn revocation_of(
    cert: &Certificate,
    chain: &[Certificate],
) -> Result<Option<qz_pki::ocsp::CertStatus>, PkiError> {
    let Some(issuer) = chain
        .iter()
        .find(|c| c.tbs_certificate().subject() == cert.tbs_certificate().issuer())
    else {
        return Ok(None);
    };
    for url in ocsp_urls(cert) {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| PkiError::Sign(e.to_string()))?;
        let request = qz_pki::ocsp::request(cert, issuer, &nonce)?;
        if let Ok(response) = post(&url, "application/ocsp-request", &request)
            && let Ok(status) = qz_pki::ocsp::response_status(&response, cert, issuer)
        {
            return Ok(Some(status));
        }
    }
    Ok(None)
}

/// `qz verify --online`: CRLs and OCSP responses fetched from the certificate's URLs.
#[derive(Debug, Default)]
pub struct OnlineRevocation;

impl qz_verify::RevocationSource for OnlineRevocation {
    fn fetch(&self, cert: &Certificate, issuer: &Certificate) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let crls = crl_urls(cert).iter().filter_map(|url| get(url).ok()).collect();
        let mut responses = Vec::new();
        for url in ocsp_urls(cert) {
            let mut nonce = [0u8; 16];
            if getrandom::fill(&mut nonce).is_err() {
                break;
            }
            if let Ok(request) = qz_pki::ocsp::request(cert, issuer, &nonce)
                && let Ok(response) = post(&url, "application/ocsp-request", &request)
            {
                responses.push(response);
            }
        }
        (crls, responses)
    }
}
