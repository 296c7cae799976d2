//! The public verification page (文件验证): a picture captcha in front of the check, and page
//! images of the checked file so the report can highlight each signature's marks.
//!
//! Both are stateless tickets tagged with the platform key, so any instance answers them: a
//! captcha ticket carries its expiry and a nonce and is tagged together with the answer; a
//! page ticket names the SHA-256 of the file it was issued for, so it renders only that file
//! (the browser sends the file again with each page, nothing is kept on the server). A captcha
//! is spent on first use on the instance that sees it; several instances would each accept it
//! once, which the per-address rate limit still bounds.
//!
//! The open API (`POST /api/v1/verify`) is for programs and has only its rate limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde::Deserialize;

use crate::api::auth::Client;
use crate::api::{ApiError, ApiResult};
use crate::app::AppState;
use crate::secrets::{constant_time_eq, random_bytes, sha256_hex};

/// How long a captcha may be answered.
const CAPTCHA_TTL: i64 = 300;
/// How long the report's page images stay available.
const PAGES_TTL: i64 = 1800;
/// Digits without look-alikes (no 0/1 next to O/l in a distorted font).
const DIGITS: &[u8] = b"23456789";

fn spent() -> &'static Mutex<HashMap<String, i64>> {
    static SPENT: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    SPENT.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Records `nonce` as used; false when it was used already.
fn spend(nonce: &str, expires: i64, now: i64) -> bool {
    let mut spent = spent().lock().unwrap_or_else(PoisonError::into_inner);
    if spent.len() > 10_000 {
        spent.retain(|_, until| *until > now);
    }
    spent.insert(nonce.to_owned(), expires).is_none()
}

fn captcha_svg(answer: &str, seed: &[u8]) -> String {
    let mut body = String::new();
    // Noise: a few lines across the digits.
    for (i, pair) in seed.chunks(4).take(5).enumerate() {
        let [a, b, c, d] = [pair[0], pair[1], pair[2], pair[3]].map(f32::from);
        body.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#{}\" stroke-width=\"1.5\"/>",
            a / 255.0 * 60.0,
            b / 255.0 * 48.0,
            100.0 + c / 255.0 * 60.0,
            d / 255.0 * 48.0,
            ["8a6d3b", "3b5a8a", "8a3b6d", "3b8a5a", "6d3b8a"][i % 5]
        ));
    }
    for (i, digit) in answer.chars().enumerate() {
        let tilt = (f32::from(seed[20 + i]) / 255.0 - 0.5) * 40.0;
        let lift = f32::from(seed[24 + i]) / 255.0 * 6.0;
        let x = 20.0 + i as f32 * 34.0;
        let y = 33.0 + lift;
        body.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{y:.1}\" transform=\"rotate({tilt:.1} {x:.1} {y:.1})\" font-size=\"26\" font-weight=\"bold\" font-family=\"DejaVu Sans, Noto Sans CJK SC, WenQuanYi Zen Hei, sans-serif\" fill=\"#2c3e50\">{digit}</text>"
        ));
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"160\" height=\"48\" viewBox=\"0 0 160 48\"><rect width=\"160\" height=\"48\" fill=\"#eef2f6\"/>{body}</svg>"
    )
}

/// `QZ_INSECURE_FIXED_CAPTCHA=NNNN` gives every captcha that answer, so browser tests can pass
/// the page; it defeats the captcha and is announced on stderr whenever it is used.
fn fixed_answer() -> Option<String> {
    let fixed = std::env::var("QZ_INSECURE_FIXED_CAPTCHA").ok()?;
    let valid = fixed.len() == 4 && fixed.bytes().all(|b| DIGITS.contains(&b));
    if valid {
        eprintln!(
            "qz: WARNING: QZ_INSECURE_FIXED_CAPTCHA is set: the verification captcha is a fixed answer (tests only)"
        );
    }
    valid.then_some(fixed)
}

/// `GET /verify/captcha`: `{token, image}` (a PNG data URL).
pub async fn issue(State(state): State<Arc<AppState>>, client: Client) -> ApiResult<Json<serde_json::Value>> {
    state.limiter.check(&format!("captcha:{}", client.ip), 60)?;
    let seed = random_bytes::<32>().map_err(ApiError::internal)?;
    let answer: String = fixed_answer().unwrap_or_else(|| {
        seed[..4]
            .iter()
            .map(|b| char::from(DIGITS[usize::from(*b) % DIGITS.len()]))
            .collect()
    });
    let nonce = crate::secrets::hex(&random_bytes::<12>().map_err(ApiError::internal)?);
    let expires = qz_store::now() + CAPTCHA_TTL;
    let tag = state
        .key
        .ticket_tag("captcha", &[&expires.to_string(), &nonce, &answer]);
    let svg = captcha_svg(&answer, &seed);
    let _turn = state.image_jobs.acquire().await.map_err(ApiError::internal)?;
    let png = tokio::task::spawn_blocking(move || qz_seal::draw::rasterize_svg(&svg, 160, 48))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({
        "token": format!("{expires}.{nonce}.{tag}"),
        "image": format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        ),
    })))
}

fn wrong_captcha() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "captcha",
        "the verification code is wrong or expired; enter the new one",
    )
}

/// Checks a captcha answer against its token and spends it.
fn check_captcha(state: &AppState, token: &str, answer: &str, now: i64) -> ApiResult<()> {
    let mut parts = token.split('.');
    let (Some(expires), Some(nonce), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(wrong_captcha());
    };
    let expires_at: i64 = expires.parse().map_err(|_| wrong_captcha())?;
    let answer = answer.trim();
    let expected = state.key.ticket_tag("captcha", &[expires, nonce, answer]);
    if expires_at < now || !constant_time_eq(expected.as_bytes(), tag.as_bytes()) {
        return Err(wrong_captcha());
    }
    if !spend(nonce, expires_at, now) {
        return Err(wrong_captcha());
    }
    Ok(())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// `POST /verify/check` (the PDF as body, `X-Captcha-Token` and `X-Captcha-Answer`): the
/// report as `POST /api/v1/verify` gives it, plus the page count and a ticket for the pages.
pub async fn check(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    state.limiter.check(&format!("verify:{}", client.ip), 30)?;
    let now = qz_store::now();
    check_captcha(
        &state,
        header(&headers, "x-captcha-token"),
        header(&headers, "x-captcha-answer"),
        now,
    )?;
    let digest = sha256_hex(&body);
    let sizes = crate::api::pages::page_sizes(body.to_vec())
        .await
        .unwrap_or_default();
    let mut answer = crate::api::verify::verify_bytes(&state, body).await?;
    let expires = now + PAGES_TTL;
    let tag = state.key.ticket_tag("pages", &[&expires.to_string(), &digest]);
    if let Some(object) = answer.as_object_mut() {
        object.insert(
            "pages".into(),
            serde_json::to_value(sizes).map_err(ApiError::internal)?,
        );
        object.insert("ticket".into(), format!("{expires}.{tag}").into());
    }
    Ok(Json(answer))
}

/// `?ticket=&width=` of a page of the checked file.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// From `POST /verify/check`.
    pub ticket: String,
    /// Pixels.
    pub width: Option<u32>,
}

/// `POST /verify/pages/{page}` (the same PDF as body): one page as PNG.
pub async fn page(
    State(state): State<Arc<AppState>>,
    client: Client,
    Path(page): Path<usize>,
    Query(query): Query<PageQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    state.limiter.check(&format!("verify-pages:{}", client.ip), 300)?;
    let (expires, tag) = query
        .ticket
        .split_once('.')
        .ok_or_else(|| ApiError::invalid("bad ticket"))?;
    let expires_at: i64 = expires.parse().map_err(|_| ApiError::invalid("bad ticket"))?;
    let expected = state.key.ticket_tag("pages", &[expires, &sha256_hex(&body)]);
    if expires_at < qz_store::now() || !constant_time_eq(expected.as_bytes(), tag.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ticket",
            "check the file again to see its pages",
        ));
    }
    crate::api::pages::png_response(&state, body.to_vec(), page, query.width).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_spent_once() {
        let nonce = crate::secrets::hex(&random_bytes::<12>().unwrap());
        assert!(spend(&nonce, 100, 0));
        assert!(!spend(&nonce, 100, 0));
    }

    #[test]
    fn the_picture_holds_the_digits_as_shapes() {
        let seed = [7u8; 32];
        let svg = captcha_svg("2345", &seed);
        let png = qz_seal::draw::rasterize_svg(&svg, 160, 48).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        assert!(svg.contains(">2</text>"));
    }
}
