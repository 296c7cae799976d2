//! `qz seal make`: GB/T 38540 electronic seals.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};

use qz_pki::{DocumentSigner as _, PrivateKey, load_certificates};
use qz_seal::eseal::{SealSpec, make_seal, parse_seal};

#[derive(Debug, Subcommand)]
pub enum SealCommand {
    /// Make a GB/T 38540 (v4) SESeal signed by the seal maker's SM2 certificate: a .esl file.
    Make(MakeArgs),
    /// Show and check a .esl seal (v4 or GM/T 0031-2014 v1).
    Show {
        /// The seal file.
        file: PathBuf,
    },
    /// Draw a seal image (PNG, transparent, print resolution) from text.
    Draw(DrawArgs),
    /// Clean a handwritten signature picture (photo, scan or canvas capture): background
    /// removed to transparent, ink normalised, trimmed; writes a PNG.
    Clean {
        /// The picture (PNG or JPEG).
        input: PathBuf,
        /// Stroke colour: black or blue.
        #[arg(long, default_value = "black", value_parser = ["black", "blue"])]
        ink: String,
        /// Where to write the PNG.
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct DrawArgs {
    /// official (42 mm), contract (40 mm), finance (38 mm), oval (45×30 mm), name (18 mm
    /// square, 2–4 characters), date.
    #[arg(long, value_parser = ["official", "contract", "finance", "oval", "name", "date"])]
    kind: String,
    /// Organization name, person's name, or date text (default for date: today).
    #[arg(long)]
    text: Option<String>,
    /// Label in the middle (contract and finance seals have one by default).
    #[arg(long)]
    label: Option<String>,
    /// Code along the lower arc.
    #[arg(long)]
    code: Option<String>,
    /// Resolution (dots per inch).
    #[arg(long, default_value_t = 300.0)]
    dpi: f32,
    /// Where to write the PNG.
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Debug, Args)]
pub struct MakeArgs {
    /// The seal maker's SM2 key (an organization certificate's key).
    #[arg(long)]
    maker_key: PathBuf,
    /// The seal maker's certificate.
    #[arg(long)]
    maker_cert: PathBuf,
    /// Certificates allowed to stamp with the seal (repeatable; the first of each file).
    #[arg(long, required = true)]
    signer_cert: Vec<PathBuf>,
    /// Seal name, e.g. 某某公司合同专用章.
    #[arg(long)]
    name: String,
    /// Seal picture (PNG).
    #[arg(long)]
    image: PathBuf,
    /// Seal type code (1 unit, 2 personal, or your own).
    #[arg(long = "type", default_value_t = 1)]
    seal_type: u32,
    /// Display width in mm.
    #[arg(long, default_value_t = 42)]
    width_mm: u32,
    /// Display height in mm.
    #[arg(long, default_value_t = 42)]
    height_mm: u32,
    /// Validity in days from now.
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// Seal id (default: random).
    #[arg(long)]
    es_id: Option<String>,
    /// Output .esl file.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(command: SealCommand) -> Result<()> {
    match command {
        SealCommand::Draw(args) => {
            use qz_seal::draw::{DrawKind, SealDrawing, render_png};
            let kind = match args.kind.as_str() {
                "official" => DrawKind::Official,
                "contract" => DrawKind::Contract,
                "finance" => DrawKind::Finance,
                "oval" => DrawKind::Oval,
                "name" => DrawKind::Name,
                _ => DrawKind::Date,
            };
            if !(72.0..=2400.0).contains(&args.dpi) {
                bail!("--dpi must be between 72 and 2400");
            }
            let text = match (args.text, kind) {
                (Some(text), _) => text,
                (None, DrawKind::Date) => {
                    let today = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
                    format!(
                        "{}年{:02}月{:02}日",
                        today.year(),
                        u8::from(today.month()),
                        today.day()
                    )
                }
                (None, _) => bail!("--text is needed for this kind of seal"),
            };
            let png = render_png(&SealDrawing {
                kind,
                text,
                label: args.label,
                code: args.code,
                dpi: args.dpi,
            })?;
            std::fs::write(&args.output, png)
                .with_context(|| format!("cannot write {}", args.output.display()))?;
        }
        SealCommand::Clean { input, ink, output } => {
            let bytes = std::fs::read(&input).with_context(|| format!("cannot read {}", input.display()))?;
            let ink = if ink == "blue" {
                qz_seal::handwriting::Ink::Blue
            } else {
                qz_seal::handwriting::Ink::Black
            };
            let png = qz_seal::handwriting::clean(&bytes, ink)?;
            std::fs::write(&output, png).with_context(|| format!("cannot write {}", output.display()))?;
        }
        SealCommand::Make(args) => {
            let key = PrivateKey::from_pem(&std::fs::read(&args.maker_key)?, None)
                .with_context(|| format!("maker key {}", args.maker_key.display()))?;
            if key.digest_algorithm() != qz_pki::DigestAlgorithm::Sm3 {
                bail!("the seal maker's key must be an SM2 key (GB/T 38540)");
            }
            let maker = load_certificates(&std::fs::read(&args.maker_cert)?)?
                .into_iter()
                .next()
                .context("no maker certificate")?;
            let mut signers = Vec::new();
            for path in &args.signer_cert {
                let cert = load_certificates(&std::fs::read(path)?)
                    .with_context(|| format!("signer certificate {}", path.display()))?
                    .into_iter()
                    .next()
                    .context("empty certificate file")?;
                signers.push(der::Encode::to_der(&cert)?);
            }
            let png = std::fs::read(&args.image)
                .with_context(|| format!("cannot read {}", args.image.display()))?;
            qz_seal::SealImage::decode(&png).context("the seal picture")?;
            let es_id = match args.es_id {
                Some(id) => id,
                None => {
                    let mut random = [0u8; 8];
                    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("{e}"))?;
                    format!(
                        "QZ{}",
                        random.iter().map(|b| format!("{b:02X}")).collect::<String>()
                    )
                }
            };
            let now = SystemTime::now();
            let spec = SealSpec {
                es_id,
                vid: "Qianzhang".into(),
                seal_type: args.seal_type,
                name: args.name,
                signer_certificates: signers,
                png,
                width_mm: args.width_mm,
                height_mm: args.height_mm,
                valid_start: now - Duration::from_secs(60),
                valid_end: now + Duration::from_secs(args.days.max(1) * 86_400),
            };
            let der = make_seal(&spec, &key, &maker)?;
            std::fs::write(&args.output, der)
                .with_context(|| format!("cannot write {}", args.output.display()))?;
            crate::print_out(&format!("{} esID={}\n", args.output.display(), spec.es_id));
        }
        SealCommand::Show { file } => {
            let seal = parse_seal(&std::fs::read(&file)?)?;
            let check = seal.check(SystemTime::now());
            crate::print_out(&format!(
                "version {} esID {} name {} picture {} {}x{} mm, {} signer certificate(s); maker signature {}; {}\n",
                seal.version,
                seal.es_id,
                seal.name,
                seal.picture.0,
                seal.picture.2,
                seal.picture.3,
                seal.signer_certificates.len() + seal.signer_certificate_digests.len(),
                if check.signature_valid { "valid" } else { "INVALID" },
                if check.in_validity {
                    "in its validity window"
                } else {
                    "OUTSIDE its validity window"
                }
            ));
        }
    }
    Ok(())
}
