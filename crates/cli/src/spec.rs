//! Parsing of the stamp arguments of `qz sign`: page lists, rectangles, `--stamp` and
//! `--date-stamp` specifications.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result, anyhow, bail};

/// A set of pages: `all`, or a list like `1-3,5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageSpec {
    /// Every page.
    All,
    /// The given pages (1-based), ranges expanded.
    List(Vec<usize>),
}

impl PageSpec {
    /// Parses `all` or `1-3,5,9`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(PageSpec::All);
        }
        let mut pages = BTreeSet::new();
        for part in text.split(',') {
            let part = part.trim();
            let (from, to) = match part.split_once('-') {
                Some((a, b)) => (parse_page(a)?, parse_page(b)?),
                None => {
                    let p = parse_page(part)?;
                    (p, p)
                }
            };
            if from > to {
                bail!("page range {part:?} runs backwards");
            }
            if to - from > 100_000 {
                bail!("page range {part:?} is too long");
            }
            pages.extend(from..=to);
        }
        Ok(PageSpec::List(pages.into_iter().collect()))
    }

    /// The pages, given the document's page count; a page past the end is an error.
    pub fn resolve(&self, page_count: usize) -> Result<Vec<usize>> {
        match self {
            PageSpec::All => Ok((1..=page_count).collect()),
            PageSpec::List(pages) => {
                if let Some(bad) = pages.iter().find(|&&p| p > page_count) {
                    bail!("page {bad} is out of range: the document has {page_count} page(s)");
                }
                Ok(pages.clone())
            }
        }
    }
}

fn parse_page(text: &str) -> Result<usize> {
    let page: usize = text
        .trim()
        .parse()
        .map_err(|_| anyhow!("{text:?} is not a page number"))?;
    if page == 0 {
        bail!("pages are numbered from 1");
    }
    Ok(page)
}

/// Parses `X,Y,W,H` (or with `;` separators, as inside `--stamp`).
pub fn parse_rect(text: &str) -> Result<[f64; 4]> {
    let values: Vec<f64> = text
        .split([',', ';'])
        .map(|v| v.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow!("rectangle {text:?} must be X,Y,W,H in points"))?;
    match values.as_slice() {
        [x, y, w, h] if values.iter().all(|v| v.is_finite()) => {
            if *w <= 0.0 || *h <= 0.0 {
                bail!("rectangle {text:?} needs a positive width and height");
            }
            Ok([*x, *y, *w, *h])
        }
        _ => bail!("rectangle {text:?} must be X,Y,W,H in points"),
    }
}

/// Splits `key=value,key=value` into pairs.
fn key_values(text: &str) -> Result<Vec<(String, String)>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .ok_or_else(|| anyhow!("{pair:?} should be key=value"))
        })
        .collect()
}

/// One `--stamp seal=IMAGE,page=N|pages=SPEC,rect=X;Y;W;H`.
#[derive(Debug, Clone, PartialEq)]
pub struct StampSpec {
    /// Image file.
    pub seal: String,
    /// Pages.
    pub pages: PageSpec,
    /// Rectangle on each page.
    pub rect: [f64; 4],
}

impl StampSpec {
    /// Parses a `--stamp` value.
    pub fn parse(text: &str) -> Result<Self> {
        let mut seal = None;
        let mut pages = None;
        let mut rect = None;
        for (key, value) in key_values(text)? {
            match key.as_str() {
                "seal" | "image" => seal = Some(value),
                "page" | "pages" => pages = Some(PageSpec::parse(&value)?),
                "rect" => rect = Some(parse_rect(&value)?),
                other => bail!("unknown --stamp key {other:?} (use seal, page(s), rect)"),
            }
        }
        Ok(StampSpec {
            seal: seal.context("--stamp needs seal=IMAGE")?,
            pages: pages.unwrap_or(PageSpec::List(vec![1])),
            rect: rect.context("--stamp needs rect=X;Y;W;H")?,
        })
    }
}

/// `--date-stamp page=N,x=X,y=Y[,size=PT][,color=RRGGBB]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DateStampSpec {
    /// Page, 1-based.
    pub page: usize,
    /// Left edge of the text box.
    pub x: f64,
    /// Bottom edge of the text box.
    pub y: f64,
    /// Font size in points.
    pub size: f64,
    /// RGB colour in 0..=1.
    pub color: [f64; 3],
}

impl DateStampSpec {
    /// Parses a `--date-stamp` value.
    pub fn parse(text: &str) -> Result<Self> {
        let mut spec = DateStampSpec {
            page: 1,
            x: f64::NAN,
            y: f64::NAN,
            size: 12.0,
            // The red of seal ink.
            color: [0.85, 0.0, 0.0],
        };
        for (key, value) in key_values(text)? {
            let number = || -> Result<f64> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| anyhow!("--date-stamp {key}={value:?} is not a number"))
            };
            match key.as_str() {
                "page" => spec.page = parse_page(&value)?,
                "x" => spec.x = number()?,
                "y" => spec.y = number()?,
                "size" => {
                    spec.size = number()?;
                    if !(1.0..=200.0).contains(&spec.size) {
                        bail!("--date-stamp size must be between 1 and 200 points");
                    }
                }
                "color" => spec.color = parse_color(&value)?,
                other => bail!("unknown --date-stamp key {other:?} (use page, x, y, size, color)"),
            }
        }
        if spec.x.is_nan() || spec.y.is_nan() {
            bail!("--date-stamp needs x= and y=");
        }
        Ok(spec)
    }
}

fn parse_color(text: &str) -> Result<[f64; 3]> {
    let hex = text.trim_start_matches('#');
    let value = u32::from_str_radix(hex, 16)
        .ok()
        .filter(|_| hex.len() == 6)
        .ok_or_else(|| anyhow!("colour {text:?} must be RRGGBB"))?;
    Ok([
        f64::from((value >> 16) & 0xFF) / 255.0,
        f64::from((value >> 8) & 0xFF) / 255.0,
        f64::from(value & 0xFF) / 255.0,
    ])
}

/// `all` or `FROM-TO` for a cross-page seal.
pub fn parse_cross_page(text: &str) -> Result<PageSpec> {
    let spec = PageSpec::parse(text)?;
    if let PageSpec::List(pages) = &spec {
        let contiguous = pages.windows(2).all(|w| w[1] == w[0] + 1);
        if !contiguous {
            bail!("--cross-page takes `all` or one range FROM-TO, not {text:?}");
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        assert_eq!(PageSpec::parse("all").unwrap(), PageSpec::All);
        assert_eq!(
            PageSpec::parse("1-3,5").unwrap(),
            PageSpec::List(vec![1, 2, 3, 5])
        );
        assert!(PageSpec::parse("0").is_err());
        assert!(PageSpec::parse("3-1").is_err());
        assert!(PageSpec::parse("x").is_err());
        assert!(PageSpec::parse("1-3").unwrap().resolve(2).is_err());
    }

    #[test]
    fn stamps() {
        let s = StampSpec::parse("seal=a.png,pages=1-2,rect=1;2;3;4").unwrap();
        assert_eq!(s.rect, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.pages, PageSpec::List(vec![1, 2]));
        assert!(StampSpec::parse("seal=a.png").is_err());
        assert!(parse_rect("1,2,0,4").is_err());
        assert!(parse_rect("1,2,3").is_err());
    }

    #[test]
    fn date_stamp() {
        let d = DateStampSpec::parse("page=2,x=10,y=20,size=14").unwrap();
        assert_eq!((d.page, d.x, d.y, d.size), (2, 10.0, 20.0, 14.0));
        assert!(DateStampSpec::parse("page=1").is_err());
        assert!(DateStampSpec::parse("page=1,x=1,y=2,color=zz").is_err());
    }

    #[test]
    fn cross_page() {
        assert!(parse_cross_page("2-5").is_ok());
        assert!(parse_cross_page("1,3").is_err());
    }
}
