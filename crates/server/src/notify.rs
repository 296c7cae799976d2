//! Notifications: templates in Chinese and English, the outbox they are written to, and the
//! background sender that any instance may run. SMS go to an HTTP provider or, when none is
//! configured, stay in the development outbox (readable by platform admins at
//! `/api/v1/admin/outbox`); e-mail goes over SMTP with `lettre` or, likewise, stays in the
//! development outbox. Failed sends are retried with exponential backoff, up to 8 attempts.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use qz_store::{Message, NewMessage, Store, now};

use crate::api::ApiError;
use crate::config::{MailSettings, ServerConfig, SmsSettings};

/// The messages the platform sends.
#[derive(Debug, Clone)]
pub enum Template<'a> {
    /// A one-time code.
    Code {
        /// What it is for ("register", "login", …).
        purpose: &'a str,
        /// The code.
        code: &'a str,
    },
    /// Someone asked for a registration code for a number that already has an account.
    AlreadyRegistered,
    /// The password was changed or reset.
    PasswordChanged,
    /// A request was decided.
    RequestDecided {
        /// Kind ("org_verification", "join", "admin").
        kind: &'a str,
        /// Organization name.
        org: &'a str,
        /// "approved" or "rejected".
        outcome: &'a str,
        /// Reason of a rejection.
        reason: Option<&'a str>,
    },
    /// A signing flow waits for the recipient (待我签署).
    FlowWaiting {
        /// Flow title.
        title: &'a str,
    },
    /// A signing flow ended: completed, declined, revoked or expired.
    FlowEnded {
        /// Flow title.
        title: &'a str,
        /// The flow's status.
        outcome: &'a str,
        /// Why (declined, revoked).
        reason: Option<&'a str>,
    },
    /// An organization seal was granted to the recipient directly (no request of theirs).
    SealGranted {
        /// Seal name.
        seal: &'a str,
    },
    /// An unregistered signer's turn: the SMS with their single-use link.
    GuestLink {
        /// Flow title.
        title: &'a str,
        /// Who sent it.
        initiator: &'a str,
        /// The link.
        url: &'a str,
    },
    /// A request waits for this recipient's decision.
    RequestWaiting {
        /// Kind.
        kind: &'a str,
        /// Organization name.
        org: &'a str,
        /// Applicant's name.
        applicant: &'a str,
    },
}

fn purpose_zh(purpose: &str) -> &'static str {
    match purpose {
        "register" => "注册",
        "login" => "登录",
        "reset_password" => "重置密码",
        "change_phone" => "更换手机号",
        "change_email" => "更换邮箱",
        "sign" => "签署",
        _ => "验证",
    }
}

fn kind_zh(kind: &str) -> &'static str {
    match kind {
        "org_verification" => "企业认证",
        "join" => "加入组织申请",
        "admin" => "管理员申请",
        "grant" => "用印申请",
        "flow" => "签署",
        _ => "申请",
    }
}

fn kind_en(kind: &str) -> &'static str {
    match kind {
        "org_verification" => "organization verification",
        "join" => "request to join",
        "admin" => "administrator application",
        "grant" => "request to use a seal",
        "flow" => "signing flow",
        _ => "request",
    }
}

impl Template<'_> {
    /// Template name (stored with the message).
    pub fn name(&self) -> &'static str {
        match self {
            Template::Code { .. } => "code",
            Template::AlreadyRegistered => "already_registered",
            Template::PasswordChanged => "password_changed",
            Template::RequestDecided { .. } => "request_decided",
            Template::RequestWaiting { .. } => "request_waiting",
            Template::SealGranted { .. } => "seal_granted",
            Template::FlowWaiting { .. } => "flow_waiting",
            Template::FlowEnded { .. } => "flow_ended",
            Template::GuestLink { .. } => "guest_link",
        }
    }

    /// Subject and text in `locale` ("en" or Chinese by default).
    pub fn render(&self, locale: &str) -> (String, String) {
        let en = locale.starts_with("en");
        match (self, en) {
            (Template::Code { purpose, code }, false) => (
                "验证码".into(),
                format!(
                    "【签章】您的{}验证码为 {code}，5分钟内有效。请勿告诉他人。",
                    purpose_zh(purpose)
                ),
            ),
            (Template::Code { purpose, code }, true) => (
                "Verification code".into(),
                format!(
                    "[Qianzhang] Your code for {} is {code}. It is valid for 5 minutes. Do not share it.",
                    purpose.replace('_', " ")
                ),
            ),
            (Template::AlreadyRegistered, false) => (
                "账号已存在".into(),
                "【签章】该手机号已注册账号，请直接登录；如忘记密码，请使用“忘记密码”重置。".into(),
            ),
            (Template::AlreadyRegistered, true) => (
                "Account exists".into(),
                "[Qianzhang] This number already has an account. Log in, or reset the password if you forgot it.".into(),
            ),
            (Template::PasswordChanged, false) => (
                "密码已修改".into(),
                "【签章】您的登录密码已修改。如非本人操作，请立即重置密码并联系管理员。".into(),
            ),
            (Template::PasswordChanged, true) => (
                "Password changed".into(),
                "[Qianzhang] Your password was changed. If this was not you, reset it now and tell your administrator.".into(),
            ),
            (
                Template::RequestDecided {
                    kind,
                    org,
                    outcome,
                    reason,
                },
                false,
            ) => (
                format!("{}结果", kind_zh(kind)),
                format!(
                    "您提交的「{org}」{}已{}{}",
                    kind_zh(kind),
                    if *outcome == "approved" { "通过" } else { "被驳回" },
                    reason.map(|r| format!("，原因：{r}")).unwrap_or_default()
                ),
            ),
            (
                Template::RequestDecided {
                    kind,
                    org,
                    outcome,
                    reason,
                },
                true,
            ) => (
                format!("Your {} was {outcome}", kind_en(kind)),
                format!(
                    "Your {} for \"{org}\" was {outcome}{}",
                    kind_en(kind),
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ),
            ),
            (Template::GuestLink { title, initiator, url }, false) => (
                "待您签署".into(),
                format!("【签章】{initiator}邀请您签署「{title}」，请点击链接查看并签署：{url} 链接仅限本人使用一次，请勿转发。"),
            ),
            (Template::GuestLink { title, initiator, url }, true) => (
                "Please sign".into(),
                format!("[Qianzhang] {initiator} asks you to sign \"{title}\": {url} The link works once and only for you; do not forward it."),
            ),
            (Template::FlowWaiting { title }, false) => (
                "待我签署".into(),
                format!("【签章】「{title}」等待您签署，请登录签章平台处理。"),
            ),
            (Template::FlowWaiting { title }, true) => (
                "Waiting for your signature".into(),
                format!("[Qianzhang] \"{title}\" is waiting for your signature."),
            ),
            (
                Template::FlowEnded {
                    title,
                    outcome,
                    reason,
                },
                false,
            ) => (
                "签署结果".into(),
                format!(
                    "【签章】「{title}」{}{}",
                    match *outcome {
                        "completed" => "已完成签署",
                        "declined" => "已被拒签",
                        "revoked" => "已被发起人撤销",
                        "expired" => "已过期",
                        _ => "状态已变更",
                    },
                    reason.map(|r| format!("，原因：{r}")).unwrap_or_default()
                ),
            ),
            (
                Template::FlowEnded {
                    title,
                    outcome,
                    reason,
                },
                true,
            ) => (
                "Signing flow ended".into(),
                format!(
                    "[Qianzhang] \"{title}\" is {outcome}{}",
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ),
            ),
            (Template::SealGranted { seal }, false) => (
                "印章授权".into(),
                format!("您已获得「{seal}」的使用授权，可在授权期限内用印。"),
            ),
            (Template::SealGranted { seal }, true) => (
                "Seal granted".into(),
                format!("You may now use the seal \"{seal}\" within the granted period."),
            ),
            (
                Template::RequestWaiting {
                    kind,
                    org,
                    applicant,
                },
                false,
            ) => (
                format!("待审批：{}", kind_zh(kind)),
                format!("{applicant} 提交了「{org}」的{}，请审批。", kind_zh(kind)),
            ),
            (
                Template::RequestWaiting {
                    kind,
                    org,
                    applicant,
                },
                true,
            ) => (
                format!("Waiting for you: {}", kind_en(kind)),
                format!(
                    "{applicant} filed a {} for \"{org}\". Please decide.",
                    kind_en(kind)
                ),
            ),
        }
    }

    fn secret(&self) -> bool {
        // The signing link opens a task: like a code, it is blanked once a provider took it.
        matches!(self, Template::Code { .. } | Template::GuestLink { .. })
    }
}

/// Queues messages, with the per-recipient limit.
#[derive(Debug, Clone)]
pub struct Notifier {
    store: Store,
    per_hour: i64,
}

impl Notifier {
    /// Over `store`.
    pub fn new(store: Store, config: &ServerConfig) -> Self {
        Notifier {
            store,
            per_hour: config.messages_per_hour,
        }
    }

    /// Queues an SMS or e-mail; refuses past the recipient's hourly limit.
    pub async fn send(
        &self,
        channel: &str,
        recipient: &str,
        locale: &str,
        template: &Template<'_>,
    ) -> Result<(), ApiError> {
        let recent = self
            .store
            .messages_since(recipient, channel, now() - 3600)
            .await?;
        if recent >= self.per_hour {
            return Err(ApiError::rate_limited(
                "too many messages to this recipient; try again later",
            ));
        }
        let (subject, body) = template.render(locale);
        self.store
            .enqueue(&NewMessage {
                channel,
                recipient,
                template: template.name(),
                subject: &subject,
                body: &body,
                secret: template.secret(),
            })
            .await?;
        Ok(())
    }

    /// Delivers an in-app message to a user.
    pub async fn inbox(&self, user_id: &str, locale: &str, template: &Template<'_>) -> Result<(), ApiError> {
        let (subject, body) = template.render(locale);
        self.store
            .enqueue(&NewMessage {
                channel: "inbox",
                recipient: user_id,
                template: template.name(),
                subject: &subject,
                body: &body,
                secret: false,
            })
            .await?;
        Ok(())
    }
}

/// How a message left (or did not).
enum Delivery {
    /// Handed to a real provider.
    Sent,
    /// Kept in the development outbox.
    Development,
}

/// The background sender.
#[derive(Debug)]
pub struct Sender {
    store: Store,
    sms: SmsSettings,
    mail: MailSettings,
    http: reqwest::Client,
}

impl Sender {
    /// Over `store` with the configured providers.
    pub fn new(store: Store, config: &ServerConfig) -> Self {
        Sender {
            store,
            sms: config.sms.clone(),
            mail: config.mail.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Sends what is due; returns how many messages were handled.
    pub async fn run_once(&self) -> Result<usize, qz_store::StoreError> {
        let due = self.store.claim_messages(20, 60).await?;
        for message in &due {
            match self.deliver(message).await {
                Ok(Delivery::Sent) => self.store.message_sent(&message.id, "sent").await?,
                Ok(Delivery::Development) => self.store.message_sent(&message.id, "dev").await?,
                Err(error) => {
                    // 30 s, 1 min, 2 min, … ; give up after 8 attempts.
                    let retry_at = (message.attempts < 8)
                        .then(|| now() + 30 * (1_i64 << (message.attempts - 1).clamp(0, 10)));
                    self.store.message_failed(&message.id, &error, retry_at).await?;
                }
            }
        }
        Ok(due.len())
    }

    async fn deliver(&self, message: &Message) -> Result<Delivery, String> {
        match message.channel.as_str() {
            "sms" => match &self.sms {
                SmsSettings::Development => Ok(Delivery::Development),
                SmsSettings::Http { url, key } => {
                    let response = self
                        .http
                        .post(url)
                        .bearer_auth(&key.0)
                        .json(&serde_json::json!({ "to": message.recipient, "text": message.body }))
                        .send()
                        .await
                        .map_err(|e| format!("SMS provider unreachable: {e}"))?;
                    if response.status().is_success() {
                        Ok(Delivery::Sent)
                    } else {
                        Err(format!("SMS provider answered {}", response.status()))
                    }
                }
            },
            "email" => match &self.mail {
                MailSettings::Development => Ok(Delivery::Development),
                MailSettings::Smtp {
                    url,
                    from,
                    username,
                    password,
                } => {
                    send_mail(url, from, username.as_deref(), &password.0, message).await?;
                    Ok(Delivery::Sent)
                }
            },
            other => Err(format!("unknown channel {other}")),
        }
    }
}

async fn send_mail(
    url: &str,
    from: &str,
    username: Option<&str>,
    password: &str,
    message: &Message,
) -> Result<(), String> {
    let email = lettre::Message::builder()
        .from(from.parse().map_err(|e| format!("sender address: {e}"))?)
        .to(message
            .recipient
            .parse()
            .map_err(|e| format!("recipient address: {e}"))?)
        .subject(message.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(message.body.clone())
        .map_err(|e| format!("building the message: {e}"))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| format!("SMTP URL: {e}"))?
        .timeout(Some(Duration::from_secs(15)));
    if let Some(user) = username {
        builder = builder.credentials(Credentials::new(user.to_owned(), password.to_owned()));
    }
    builder
        .build()
        .send(email)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP: {e}"))
}

/// Runs the sender every second, and the purge of expired sessions and codes every ten
/// minutes, until the process ends.
pub fn spawn(sender: Arc<Sender>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            if let Err(err) = sender.run_once().await {
                eprintln!("qz: notification sender: {err}");
            }
            if ticks.is_multiple_of(600)
                && let Err(err) = sender.store.purge_expired().await
            {
                eprintln!("qz: purging expired sessions: {err}");
            }
            ticks = ticks.wrapping_add(1);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_in_both_languages() {
        let code = Template::Code {
            purpose: "register",
            code: "123456",
        };
        let (_, zh) = code.render("zh-CN");
        assert!(zh.contains("注册验证码为 123456"));
        let (_, en) = code.render("en");
        assert!(en.contains("code for register is 123456"));
        let decided = Template::RequestDecided {
            kind: "join",
            org: "示例公司",
            outcome: "rejected",
            reason: Some("材料不全"),
        };
        assert!(decided.render("zh-CN").1.contains("被驳回，原因：材料不全"));
        assert!(decided.render("en").1.contains("was rejected: 材料不全"));
    }
}
