//! The completion report (签署报告, #8 item 6): a PDF of the flow's parties and how each was
//! identified, the intent method of every signature, times, addresses, the documents' hashes
//! and the whole trail, signed by the platform's own certificate (PAdES B-T), so it can be
//! verified like any signed file.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use qz_domain::flow::{FlowStatus, SignerStatus};
use qz_domain::identity::IdentityStatus;
use qz_pdf::{Document, ReportLine, SignatureOptions};
use qz_store::{Flow, TrailEvent};

use crate::api::auth::Caller;
use crate::api::flows::visible_flow;
use crate::api::stamp::{data_request, pdf_date};
use crate::api::{ApiError, ApiResult};
use crate::app::AppState;

/// `YYYY-MM-DD HH:MM:SS` China time.
fn china_time(at: i64) -> String {
    let offset = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let t = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn status_zh(status: FlowStatus) -> &'static str {
    match status {
        FlowStatus::InProgress => "签署中",
        FlowStatus::Completed => "已完成",
        FlowStatus::Declined => "已拒签",
        FlowStatus::Revoked => "已撤销",
        FlowStatus::Expired => "已过期",
    }
}

fn signer_status_zh(status: SignerStatus) -> &'static str {
    match status {
        SignerStatus::Waiting => "未签署",
        SignerStatus::Signed => "已签署",
        SignerStatus::Declined => "已拒签",
    }
}

/// How a signature's intent was confirmed, read off the trail (the pending-signature and
/// document events record it).
fn intent_of(trail: &[TrailEvent], signer_id: &str) -> &'static str {
    let about = |e: &&TrailEvent| e.details.contains(&format!("\"signer_id\":\"{signer_id}\""));
    let pending = trail
        .iter()
        .rev()
        .filter(about)
        .find(|e| e.action == "signature.pending");
    let signed = trail
        .iter()
        .rev()
        .filter(about)
        .find(|e| e.action == "document.signed");
    match (pending, signed) {
        (_, Some(e)) if e.details.contains("\"autosign_id\":\"") => "自动签署授权 (auto-sign grant)",
        (Some(p), Some(_)) if p.details.contains("\"method\":\"cosign\"") => {
            "协同签名，手机端证书密码确认 (two-party co-signing, certificate password)"
        }
        (Some(p), Some(_)) if p.details.contains("\"method\":\"token\"") => "数字证书介质 PIN (token PIN)",
        (_, Some(_)) => "短信验证码 (SMS code)",
        (_, None) => "—",
    }
}

struct Names {
    users: HashMap<String, String>,
}

impl Names {
    async fn user(&mut self, state: &AppState, id: &str) -> String {
        if let Some(name) = self.users.get(id) {
            return name.clone();
        }
        let name = match state.store.identity(id).await {
            Ok(Some(identity)) if identity.status == IdentityStatus::Verified => identity.real_name,
            _ => state
                .store
                .user(id)
                .await
                .map(|u| u.name)
                .unwrap_or_else(|_| id.to_owned()),
        };
        self.users.insert(id.to_owned(), name.clone());
        name
    }
}

/// The report's lines.
async fn lines(state: &AppState, flow: &Flow, trail: &[TrailEvent]) -> ApiResult<Vec<ReportLine>> {
    let mut names = Names {
        users: HashMap::new(),
    };
    let mut out = vec![
        ReportLine {
            text: "签署完成报告".into(),
            size: 18.0,
            space_before: 0.0,
        },
        ReportLine::body("Signing completion report"),
        ReportLine::heading("流程 Flow"),
        ReportLine::body(format!("名称：{}", flow.title)),
        ReportLine::body(format!("编号：{}", flow.id)),
        ReportLine::body(format!(
            "业务类型：{}",
            flow.business_type.as_deref().unwrap_or("—")
        )),
        ReportLine::body(format!("发起人：{}", names.user(state, &flow.initiator).await)),
        ReportLine::body(format!("发起时间：{}", china_time(flow.created_at))),
        ReportLine::body(format!(
            "状态：{}{}",
            status_zh(flow.status),
            flow.ended_at
                .map(|t| format!("（{}）", china_time(t)))
                .unwrap_or_default()
        )),
        ReportLine::heading("文件 Documents"),
    ];
    for doc in &flow.documents {
        let original = state.store.blob(&doc.original_blob).await?;
        out.push(ReportLine::body(format!("{}. {}", doc.idx + 1, doc.name)));
        out.push(ReportLine::body(format!("  原文件 SHA-256：{}", original.sha256)));
        out.push(ReportLine::body(format!(
            "  签署后 SHA-256：{}（{} 个签名）",
            doc.current_sha256, doc.version
        )));
    }
    out.push(ReportLine::heading("签署方 Parties"));
    for (n, signer) in flow.signers.iter().enumerate() {
        let party = match (&signer.user_id, &signer.org_id) {
            (Some(user), _) => names.user(state, user).await,
            (None, Some(org)) => state.store.org(org).await.map(|o| o.name).unwrap_or_default(),
            (None, None) => String::new(),
        };
        out.push(ReportLine::body(format!(
            "{}. {party}（第 {} 批，{}）",
            n + 1,
            signer.stage + 1,
            signer_status_zh(signer.status)
        )));
        let identified = match (&signer.user_id, &signer.org_id) {
            (Some(user), _) => {
                let guest = state.store.user(user).await.is_ok_and(|u| u.guest);
                match state.store.identity(user).await? {
                    Some(i) if i.status == IdentityStatus::Verified => format!(
                        "实名认证（{}，证件号 {}）{}",
                        i.provider,
                        i.id_masked,
                        if guest {
                            "，短信链接本人手机验证"
                        } else {
                            ""
                        }
                    ),
                    _ => "未实名".into(),
                }
            }
            (None, Some(org)) => match state.store.org(org).await {
                Ok(o) if o.verified => format!(
                    "企业认证（统一社会信用代码 {}）",
                    o.credit_code.as_deref().unwrap_or("—")
                ),
                _ => "组织".into(),
            },
            (None, None) => String::new(),
        };
        out.push(ReportLine::body(format!("  身份核验：{identified}")));
        if let Some(by) = &signer.signed_by {
            out.push(ReportLine::body(format!(
                "  经办人：{}",
                names.user(state, by).await
            )));
        }
        out.push(ReportLine::body(format!(
            "  意愿认证：{}",
            intent_of(trail, &signer.id)
        )));
        let signed: Vec<&TrailEvent> = trail
            .iter()
            .filter(|e| {
                e.action == "document.signed"
                    && e.details.contains(&format!("\"signer_id\":\"{}\"", signer.id))
            })
            .collect();
        for e in signed {
            out.push(ReportLine::body(format!(
                "  签署：{}，IP {}",
                china_time(e.at),
                e.ip.as_deref().unwrap_or("—")
            )));
        }
        if let Some(reason) = &signer.reason {
            out.push(ReportLine::body(format!("  原因：{reason}")));
        }
    }
    out.push(ReportLine::heading("全流程记录 Trail"));
    for e in trail {
        let actor = match &e.actor {
            Some(id) => names.user(state, id).await,
            None => "系统".into(),
        };
        out.push(ReportLine::body(format!(
            "#{} {} {} {} IP {} 哈希 {}",
            e.seq,
            china_time(e.at),
            e.action,
            actor,
            e.ip.as_deref().unwrap_or("—"),
            &e.hash.get(..16).unwrap_or(&e.hash)
        )));
    }
    out.push(ReportLine {
        text: format!(
            "本报告由签章平台于 {} 生成，并以平台证书签名（含时间戳）。This report is signed by the platform.",
            china_time(qz_store::now())
        ),
        size: 9.0,
        space_before: 12.0,
    });
    Ok(out)
}

/// `GET /flows/{id}/report`: the signed completion report of a completed flow.
pub async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    state.limiter.check(&format!("report:{}", caller.user.id), 30)?;
    let flow = visible_flow(&state, &caller, &id).await?;
    if flow.status != FlowStatus::Completed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "the completion report is made once the flow is completed",
        ));
    }
    let Some(font) = state.report_font() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_font",
            "no Chinese font is installed for reports: install fonts-wqy-zenhei or fonts-noto-cjk, or set QZ_FONT",
        ));
    };
    let trail = state.store.trail(&format!("flow:{id}")).await?;
    let lines = lines(&state, &flow, &trail).await?;
    let pki = state.pki.clone();
    let title = format!("签署完成报告 {}", flow.title);
    let pdf = tokio::task::spawn_blocking(move || -> ApiResult<Vec<u8>> {
        let unsigned = qz_pdf::text_document(&title, &lines, &font).map_err(ApiError::internal)?;
        let (key, identity) = pki.platform_signer();
        let timestamper = pki.timestamper();
        let document = Document::open(&unsigned).map_err(ApiError::internal)?;
        let options = SignatureOptions {
            signing_time: pdf_date(qz_store::now()),
            name: Some(identity.subject_name()),
            reason: Some("签署完成报告 / completion report".into()),
            contents_capacity: qz_pki::cms::estimated_len(key, identity).map_err(ApiError::internal)?
                + qz_pki::cms::Timestamper::max_token_len(&timestamper),
            ..SignatureOptions::default()
        };
        let prepared = document.prepare_signature(&options).map_err(ApiError::internal)?;
        let digest = qz_pki::DocumentSigner::digest_algorithm(key).digest(&prepared.signed_parts(&unsigned));
        let cms = qz_pki::cms::build_signed_data(key, identity, &data_request(&digest), Some(&timestamper))
            .map_err(ApiError::internal)?;
        let tail = prepared.finish(&cms).map_err(ApiError::internal)?;
        Ok([unsigned.as_slice(), &tail].concat())
    })
    .await
    .map_err(ApiError::internal)??;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/pdf"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"report.pdf\""),
    );
    Ok((headers, pdf).into_response())
}
