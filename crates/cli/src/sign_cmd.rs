//! `qz sign` and `qz bench`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use time::{OffsetDateTime, UtcOffset};

use crate::ltv::HttpTimestamper;
use qz_cli::fonts::load_cjk_font;
use qz_cli::signing::{SignError, sign_pdf, timestamp_pdf};
use qz_cli::spec::{DateStampSpec, PageSpec, StampSpec, parse_cross_page, parse_rect};
use qz_pdf::{Appearance, Document, Image, Mark, Rect, SignatureOptions, SubFilter, TextStyle};
use qz_pki::{DocumentSigner, PrivateKey, SignerIdentity, load_certificates, load_pkcs12};
use qz_seal::SealImage;

/// Largest input accepted, to fail early instead of exhausting memory.
const MAX_INPUT: u64 = 2 * 1024 * 1024 * 1024;

/// Default cross-page seal width: 42 mm, the common official seal diameter.
const DEFAULT_SEAL_PT: f64 = 42.0 / 25.4 * 72.0;

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The PDF to sign.
    input: PathBuf,
    /// Where to write the signed PDF (written atomically; nothing is left there on error).
    #[arg(short, long)]
    output: PathBuf,
    /// Signer's private key (PEM: PKCS#8, encrypted PKCS#8, SEC1 or PKCS#1).
    #[arg(long, requires = "cert", conflicts_with = "p12")]
    key: Option<PathBuf>,
    /// Signer's certificate (PEM; further certificates in the file are embedded as chain).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// PKCS#11 library of a token holding the key (e.g. /usr/lib/softhsm/libsofthsm2.so).
    #[arg(long, conflicts_with_all = ["key", "p12"])]
    pkcs11_module: Option<PathBuf>,
    /// Token label (with --pkcs11-module).
    #[arg(long, requires = "pkcs11_module")]
    token: Option<String>,
    /// Label of the key on the token.
    #[arg(long, requires = "pkcs11_module")]
    key_label: Option<String>,
    /// Environment variable holding the token PIN.
    #[arg(long, requires = "pkcs11_module")]
    pin_env: Option<String>,
    /// CA certificates to embed (repeatable).
    #[arg(long)]
    chain: Vec<PathBuf>,
    /// Environment variable holding the password of an encrypted --key.
    #[arg(long)]
    key_password_env: Option<String>,
    /// PKCS#12 file with key and certificates.
    #[arg(long, requires = "password_env")]
    p12: Option<PathBuf>,
    /// Environment variable holding the PKCS#12 password.
    #[arg(long)]
    password_env: Option<String>,
    /// Seal image (PNG or JPEG) for --page/--pages/--rect and --cross-page.
    #[arg(long)]
    seal: Option<PathBuf>,
    /// Page for the seal (1-based).
    #[arg(long, conflicts_with = "pages")]
    page: Option<usize>,
    /// Pages for the seal (多页盖章): `1-3,5` or `all`.
    #[arg(long)]
    pages: Option<String>,
    /// Seal position X,Y,W,H in points from the bottom-left of the page as displayed.
    #[arg(long)]
    rect: Option<String>,
    /// More stamps: seal=IMAGE,page=N|pages=SPEC,rect=X;Y;W;H (repeatable).
    #[arg(long)]
    stamp: Vec<String>,
    /// Cross-page seal (骑缝章) over `all` pages or FROM-TO, at the right edge.
    #[arg(long)]
    cross_page: Option<String>,
    /// Put the cross-page seal on every other page of the range.
    #[arg(long, requires = "cross_page")]
    every_other: bool,
    /// Cross-page seal width in points (default 42 mm).
    #[arg(long, requires = "cross_page")]
    cross_page_size: Option<f64>,
    /// Bottom of the cross-page seal in points (default: vertically centred).
    #[arg(long, requires = "cross_page")]
    cross_page_y: Option<f64>,
    /// Separate image for the cross-page seal (default: --seal).
    #[arg(long, requires = "cross_page")]
    cross_page_seal: Option<PathBuf>,
    /// Date stamp (日期章): page=N,x=X,y=Y[,size=PT][,color=RRGGBB].
    #[arg(long)]
    date_stamp: Option<String>,
    /// CJK font for the date stamp: PATH or PATH:FACE-INDEX (default: a system font).
    #[arg(long)]
    font: Option<String>,
    /// Signature SubFilter (default: ETSI.CAdES.detached; adbe.pkcs7.detached for SM2 keys, as
    /// Chinese vendors write them).
    #[arg(long)]
    subfilter: Option<String>,
    /// With an SM2 key: GM/T 0010 content-type OIDs instead of the PKCS#7 ones.
    #[arg(long)]
    gm_oids: bool,
    /// Stamp with a GB/T 38540 seal (.esl): the signature is an SES_Signature
    /// (/SubFilter /GBT38540.SES_Signature); the seal picture goes at --page/--rect.
    #[arg(long, conflicts_with_all = ["seal", "stamp", "cross_page", "subfilter"])]
    eseal: Option<PathBuf>,
    /// Signature field name (an existing empty signature field of that name is filled).
    #[arg(long)]
    field: Option<String>,
    /// Reason for signing (/Reason).
    #[arg(long)]
    reason: Option<String>,
    /// Place of signing (/Location).
    #[arg(long)]
    location: Option<String>,
    /// Contact information (/ContactInfo).
    #[arg(long)]
    contact: Option<String>,
    /// Signing time, RFC 3339 (default: now). For reproducible output and tests.
    #[arg(long)]
    time: Option<String>,
    /// UTC offset used for /M and the date stamp.
    #[arg(long, default_value = "+08:00")]
    tz: String,
    /// PAdES level: b-b, b-t (signature timestamp), b-lt (+ DSS with certificates, CRLs, OCSP),
    /// b-lta (+ document timestamp).
    #[arg(long, value_enum, default_value = "b-b")]
    level: Level,
    /// RFC 3161 timestamp authority URL (needed from b-t up), e.g. http://127.0.0.1:8080/pki/tsa.
    #[arg(long)]
    tsa: Option<String>,
}

/// PAdES baseline levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    /// Basic signature.
    #[value(name = "b-b")]
    BB,
    /// With a signature timestamp.
    #[value(name = "b-t")]
    BT,
    /// With long-term validation data (DSS).
    BLt,
    /// With a document timestamp over everything.
    BLta,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The PDF to sign.
    input: PathBuf,
    /// Signer's private key.
    #[arg(long)]
    key: PathBuf,
    /// Signer's certificate.
    #[arg(long)]
    cert: PathBuf,
    /// Seal image stamped on page 1.
    #[arg(long)]
    seal: Option<PathBuf>,
    /// Iterations.
    #[arg(long, default_value_t = 50)]
    iterations: usize,
}

fn read_limited(path: &Path, what: &str) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    if meta.len() > MAX_INPUT {
        bail!("{what} {} is larger than 2 GiB", path.display());
    }
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

fn env_secret(var: &str) -> Result<Vec<u8>> {
    std::env::var_os(var)
        .map(|v| v.into_encoded_bytes())
        .ok_or_else(|| anyhow!("environment variable {var} (the password) is not set"))
}

/// Loads the signer's key and certificates from --key/--cert or --p12.
fn load_signer(args: &SignArgs) -> Result<(Box<dyn DocumentSigner>, SignerIdentity)> {
    let mut chain = Vec::new();
    for path in &args.chain {
        chain.extend(
            load_certificates(&read_limited(path, "chain certificate")?)
                .with_context(|| format!("chain certificate {}", path.display()))?,
        );
    }
    if let Some(p12) = &args.p12 {
        let var = args
            .password_env
            .as_deref()
            .context("--p12 needs --password-env")?;
        let password = env_secret(var)?;
        let (key, certs) = load_pkcs12(&read_limited(p12, "PKCS#12 file")?, &password)?;
        return Ok((Box::new(key), SignerIdentity::new(certs, chain)?));
    }
    if let Some(module) = &args.pkcs11_module {
        let cert_path = args
            .cert
            .as_ref()
            .context("--pkcs11-module needs --cert CERT.pem")?;
        let token = args
            .token
            .as_deref()
            .context("--pkcs11-module needs --token LABEL")?;
        let key_label = args
            .key_label
            .as_deref()
            .context("--pkcs11-module needs --key-label LABEL")?;
        let var = args
            .pin_env
            .as_deref()
            .context("--pkcs11-module needs --pin-env VAR")?;
        let pin = String::from_utf8(env_secret(var)?).context("the PIN is not UTF-8")?;
        let signer = qz_pki::custody::pkcs11::Pkcs11Signer::open(module, token, key_label, &pin)?;
        let certs = load_certificates(&read_limited(cert_path, "certificate")?)
            .with_context(|| format!("certificate {}", cert_path.display()))?;
        return Ok((Box::new(signer), SignerIdentity::new(certs, chain)?));
    }
    let (Some(key_path), Some(cert_path)) = (&args.key, &args.cert) else {
        bail!("give the signer's --key and --cert, --p12, or --pkcs11-module with --cert");
    };
    let password = args.key_password_env.as_deref().map(env_secret).transpose()?;
    let key = PrivateKey::from_pem(&read_limited(key_path, "key")?, password.as_deref())
        .with_context(|| format!("key {}", key_path.display()))?;
    let certs = load_certificates(&read_limited(cert_path, "certificate")?)
        .with_context(|| format!("certificate {}", cert_path.display()))?;
    Ok((Box::new(key), SignerIdentity::new(certs, chain)?))
}

fn load_seal(path: &Path) -> Result<SealImage> {
    let bytes = read_limited(path, "seal image")?;
    SealImage::decode(&bytes).with_context(|| format!("seal image {}", path.display()))
}

fn to_pdf_image(seal: &SealImage) -> Result<Arc<Image>> {
    Ok(Arc::new(Image::from_rgba(
        seal.width(),
        seal.height(),
        seal.rgba(),
    )?))
}

fn parse_offset(text: &str) -> Result<UtcOffset> {
    let format = time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
    UtcOffset::parse(text, &format).map_err(|_| anyhow!("--tz {text:?} must look like +08:00"))
}

fn signing_time(args: &SignArgs) -> Result<OffsetDateTime> {
    let offset = parse_offset(&args.tz)?;
    let time = match &args.time {
        Some(text) => OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| anyhow!("--time {text:?} must be RFC 3339, e.g. 2026-11-22T10:00:00+08:00"))?,
        None => OffsetDateTime::now_utc(),
    };
    Ok(time.to_offset(offset))
}

/// `D:YYYYMMDDHHmmSS+HH'mm'` (ISO 32000-1 7.9.4).
pub fn pdf_date(time: OffsetDateTime) -> String {
    let offset = time.offset();
    let (hours, minutes, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}{sign}{:02}'{:02}'",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        hours.unsigned_abs(),
        minutes.unsigned_abs()
    )
}

/// The marks the arguments ask for, placed on `document`'s pages.
struct MarkPlan {
    marks: Vec<Mark>,
}

fn rect(values: [f64; 4]) -> Result<Rect, SignError> {
    Rect::new(values[0], values[1], values[2], values[3]).map_err(SignError::from)
}

fn request(err: impl std::fmt::Display) -> SignError {
    SignError::Request(err.to_string())
}

/// Everything decoded before the document is opened (images, font), so that bad arguments fail
/// before any PDF work.
struct Prepared {
    stamps: Vec<(Arc<Image>, PageSpec, [f64; 4])>,
    cross_page: Option<(SealImage, PageSpec)>,
    date: Option<(DateStampSpec, String, Arc<qz_pdf::Font>)>,
}

fn prepare_marks(args: &SignArgs, when: OffsetDateTime) -> Result<Prepared> {
    let mut stamps = Vec::new();
    let main_seal = args.seal.as_deref().map(load_seal).transpose()?;
    if let Some(rect_text) = &args.rect {
        let seal = main_seal.as_ref().context("--rect needs --seal IMAGE")?;
        let pages = match (&args.pages, args.page) {
            (Some(spec), _) => PageSpec::parse(spec)?,
            (None, Some(page)) => PageSpec::List(vec![page]),
            (None, None) => PageSpec::List(vec![1]),
        };
        stamps.push((to_pdf_image(seal)?, pages, parse_rect(rect_text)?));
    } else if args.page.is_some() || args.pages.is_some() {
        bail!("--page/--pages need --rect X,Y,W,H");
    } else if main_seal.is_some() && args.cross_page.is_none() {
        bail!("--seal needs --rect X,Y,W,H (and --page/--pages) or --cross-page");
    }
    for text in &args.stamp {
        let spec = StampSpec::parse(text).with_context(|| format!("--stamp {text:?}"))?;
        let seal = load_seal(Path::new(&spec.seal))?;
        stamps.push((to_pdf_image(&seal)?, spec.pages, spec.rect));
    }
    let cross_page = match &args.cross_page {
        Some(range) => {
            let seal = match &args.cross_page_seal {
                Some(path) => load_seal(path)?,
                None => main_seal
                    .clone()
                    .context("--cross-page needs --seal or --cross-page-seal")?,
            };
            Some((seal, parse_cross_page(range)?))
        }
        None => None,
    };
    let date = match &args.date_stamp {
        Some(text) => {
            let spec = DateStampSpec::parse(text).with_context(|| format!("--date-stamp {text:?}"))?;
            let font = Arc::new(load_cjk_font(args.font.as_deref())?);
            let label = format!("{}年{}月{}日", when.year(), u8::from(when.month()), when.day());
            Some((spec, label, font))
        }
        None => None,
    };
    Ok(Prepared {
        stamps,
        cross_page,
        date,
    })
}

fn place_marks(prepared: &Prepared, args: &SignArgs, document: &Document<'_>) -> Result<MarkPlan, SignError> {
    let page_count = document.pages().len();
    let mut marks = Vec::new();
    for (image, pages, values) in &prepared.stamps {
        for page in pages.resolve(page_count).map_err(request)? {
            marks.push(Mark {
                page,
                rect: rect(*values)?,
                appearance: Appearance::Image(image.clone()),
            });
        }
    }
    if let Some((seal, range)) = &prepared.cross_page {
        let mut pages = range.resolve(page_count).map_err(request)?;
        if args.every_other {
            pages = pages.into_iter().step_by(2).collect();
        }
        // A one-page document (or range) gets the whole seal at its right edge: there is nothing
        // to fan, but the mark the signer asked for must not silently disappear.
        if pages.is_empty() {
            return Err(request("the cross-page range holds no page"));
        }
        let width = args.cross_page_size.unwrap_or(DEFAULT_SEAL_PT);
        if !(width.is_finite() && width > 0.0) {
            return Err(request("--cross-page-size must be a positive number of points"));
        }
        let height = width * seal.aspect();
        let strips = seal.vertical_strips(pages.len()).map_err(request)?;
        for (page, (strip, share)) in pages.into_iter().zip(strips) {
            let geometry = document.page(page)?.geometry;
            let strip_width = width * share;
            let y = args
                .cross_page_y
                .unwrap_or((geometry.display_height() - height) / 2.0);
            marks.push(Mark {
                page,
                rect: Rect::new(geometry.display_width() - strip_width, y, strip_width, height)?,
                appearance: Appearance::Image(to_pdf_image(&strip).map_err(request)?),
            });
        }
    }
    if let Some((spec, label, font)) = &prepared.date {
        let style = TextStyle {
            font: font.clone(),
            size: spec.size,
            color: spec.color,
        };
        marks.push(Mark::text(spec.page, spec.x, spec.y, label.clone(), style)?);
    }
    Ok(MarkPlan { marks })
}

fn subfilter(text: &str) -> Result<SubFilter> {
    match text.trim_start_matches('/') {
        "ETSI.CAdES.detached" => Ok(SubFilter::CadesDetached),
        "adbe.pkcs7.detached" => Ok(SubFilter::Pkcs7Detached),
        other => bail!("--subfilter {other:?}: use ETSI.CAdES.detached or adbe.pkcs7.detached"),
    }
}

/// Writes `parts` to `output` through a temporary file in the same directory, so a failure
/// never leaves a partial file behind and readers never see one.
fn write_atomically(output: &Path, parts: &[&[u8]]) -> Result<()> {
    let dir = match output.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".qz-sign-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    for part in parts {
        file.write_all(part)?;
    }
    // Temporary files are created 0600; a signed document is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    file.as_file().sync_all()?;
    file.persist(output)
        .map_err(|e| anyhow!("cannot write {}: {}", output.display(), e.error))?;
    Ok(())
}

pub fn run(args: SignArgs) -> Result<()> {
    let when = signing_time(&args)?;
    let requested_subfilter = args.subfilter.as_deref().map(subfilter).transpose()?;
    let input = read_limited(&args.input, "input")?;
    let (key, identity) = load_signer(&args)?;
    let timestamper = match (&args.tsa, args.level) {
        (Some(url), _) => Some(HttpTimestamper {
            url: url.clone(),
            // SM2 signers get SM3 imprints (national profile), everyone else SHA-256.
            digest: key.digest_algorithm(),
        }),
        (None, Level::BB) => None,
        (None, level) => bail!("--level {level:?} needs --tsa URL"),
    };
    let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(when.unix_timestamp())?);
    identity.check(key.as_ref(), at)?;
    let is_sm2 = key.digest_algorithm() == qz_pki::DigestAlgorithm::Sm3;
    let sub_filter = requested_subfilter.unwrap_or(if is_sm2 {
        SubFilter::Pkcs7Detached
    } else {
        SubFilter::CadesDetached
    });
    // With a TSA we are online: a revoked signer is refused before anything is signed.
    if timestamper.is_some()
        && let Some(qz_pki::ocsp::CertStatus::Revoked(..)) =
            crate::ltv::revocation_of(&identity.certificate, &identity.chain)?
    {
        bail!("the signer certificate is revoked (its CA's OCSP responder says so)");
    }
    if let Some(eseal) = &args.eseal {
        return sign_with_eseal(
            &args,
            eseal,
            key.as_ref(),
            &identity,
            &input,
            when,
            timestamper.as_ref(),
        );
    }
    let prepared = prepare_marks(&args, when)?;
    let signature_timestamper = timestamper.as_ref().filter(|_| args.level >= Level::BT);
    let tail = sign_pdf(
        &input,
        key.as_ref(),
        &identity,
        signature_timestamper.map(|t| t as &dyn qz_pki::cms::Timestamper),
        |document| {
            let plan = place_marks(&prepared, &args, document)?;
            Ok(SignatureOptions {
                field_name: args.field.clone(),
                sub_filter,
                signing_time: pdf_date(when),
                name: Some(identity.subject_name()),
                reason: args.reason.clone(),
                location: args.location.clone(),
                contact_info: args.contact.clone(),
                contents_capacity: 0,
                marks: plan.marks,
                gm_oids: args.gm_oids,
                dss: None,
            })
        },
    )?;
    let mut tails = vec![tail];
    if args.level >= Level::BLt {
        let signed = [input.as_slice(), &tails[0]].concat();
        tails.push(long_term_data(&signed)?);
    }
    if args.level >= Level::BLta
        && let Some(tsa) = &timestamper
    {
        let so_far = [input.as_slice(), &tails.concat()].concat();
        tails.push(timestamp_pdf(&so_far, |parts| tsa.token_for(parts), 12_288)?);
    }
    let mut parts: Vec<&[u8]> = vec![&input];
    parts.extend(tails.iter().map(Vec::as_slice));
    write_atomically(&args.output, &parts)
}

/// `qz sign --eseal`: an SES_Signature over the SM3 of the byte ranges, the seal's picture as
/// the mark.
fn sign_with_eseal(
    args: &SignArgs,
    eseal: &Path,
    key: &dyn qz_pki::DocumentSigner,
    identity: &SignerIdentity,
    input: &[u8],
    when: OffsetDateTime,
    timestamper: Option<&HttpTimestamper>,
) -> Result<()> {
    let seal = qz_seal::eseal::parse_seal(&read_limited(eseal, "seal")?).context("the e-seal")?;
    let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(when.unix_timestamp())?);
    let check = seal.check(at);
    if !check.signature_valid || !check.in_validity {
        bail!("the e-seal is not usable: {}", check.problems.join("; "));
    }
    if key.digest_algorithm() != qz_pki::DigestAlgorithm::Sm3 {
        bail!("stamping with a GB/T 38540 seal needs an SM2 signer key");
    }
    let marks = match &args.rect {
        Some(rect_text) => {
            let picture = SealImage::decode(&seal.picture.1).context("the e-seal picture")?;
            vec![Mark {
                page: args.page.unwrap_or(1),
                rect: rect(parse_rect(rect_text)?)?,
                appearance: Appearance::Image(to_pdf_image(&picture)?),
            }]
        }
        None => Vec::new(),
    };
    let document = Document::open(input)?;
    let options = SignatureOptions {
        field_name: args.field.clone(),
        sub_filter: SubFilter::GbtSesSignature,
        signing_time: pdf_date(when),
        name: Some(identity.subject_name()),
        reason: args.reason.clone(),
        location: args.location.clone(),
        contact_info: args.contact.clone(),
        contents_capacity: seal.der.len() + 2048 + if timestamper.is_some() { 8192 } else { 0 },
        marks,
        gm_oids: false,
        // The SES_Signature carries only the signer's certificate: its chain rides along in a
        // DSS covered by the same signature.
        dss: Some(qz_pdf::ValidationData {
            certificates: identity
                .chain
                .iter()
                .map(der::Encode::to_der)
                .collect::<Result<_, _>>()?,
            ..Default::default()
        }),
    };
    let prepared = document.prepare_signature(&options)?;
    let data_hash = qz_pki::DigestAlgorithm::Sm3.digest(&prepared.signed_parts(input));
    let value = qz_seal::eseal::stamp(
        &seal,
        &data_hash,
        "PDF:/ByteRange",
        key,
        &identity.certificate,
        at,
        timestamper.map(|t| t as &dyn qz_pki::cms::Timestamper),
    )?;
    let tail = prepared.finish(&value)?;
    write_atomically(&args.output, &[input, &tail])
}

/// The DSS revision for every signature in `signed`: certificates and revocation data for all
/// certificates the signatures and their timestamps carry.
fn long_term_data(signed: &[u8]) -> Result<Vec<u8>> {
    let document = Document::open(signed)?;
    let mut certificates = Vec::new();
    for cms in document.signature_values() {
        certificates.extend(crate::ltv::certificates_of(&cms));
    }
    let data = crate::ltv::collect(&certificates).context("collecting validation data for the DSS")?;
    Ok(document.append_dss(&data)?)
}

/// `qz ltv-refresh`: a fresh DSS and a document timestamp on an archived file.
pub fn ltv_refresh(input_path: &Path, output: &Path, tsa_url: &str) -> Result<()> {
    let input = read_limited(input_path, "input")?;
    let tsa = HttpTimestamper {
        url: tsa_url.to_owned(),
        digest: qz_pki::DigestAlgorithm::Sha256,
    };
    let dss = long_term_data(&input)?;
    let with_dss = [input.as_slice(), &dss].concat();
    let stamp = timestamp_pdf(&with_dss, |parts| tsa.token_for(parts), 12_288)?;
    write_atomically(output, &[&input, &dss, &stamp])
}

pub fn bench(args: BenchArgs) -> Result<()> {
    let input = std::fs::read(&args.input)?;
    let key = PrivateKey::from_pem(&std::fs::read(&args.key)?, None)?;
    let identity = SignerIdentity::new(load_certificates(&std::fs::read(&args.cert)?)?, Vec::new())?;
    let image = args.seal.as_deref().map(load_seal).transpose()?;
    let image = image.as_ref().map(to_pdf_image).transpose()?;
    let mut times = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations.max(1) {
        let start = Instant::now();
        let tail = sign_pdf(&input, &key, &identity, None, |_| {
            Ok(SignatureOptions {
                signing_time: pdf_date(OffsetDateTime::now_utc()),
                marks: image
                    .iter()
                    .map(|img| -> Result<Mark, SignError> {
                        Ok(Mark {
                            page: 1,
                            rect: Rect::new(100.0, 100.0, 120.0, 120.0)?,
                            appearance: Appearance::Image(img.clone()),
                        })
                    })
                    .collect::<Result<_, _>>()?,
                ..Default::default()
            })
        })?;
        times.push(start.elapsed());
        std::hint::black_box(tail);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{}: {} iterations, median {:.3} ms, min {:.3} ms, max {:.3} ms",
        args.input.display(),
        times.len(),
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    Ok(())
}
