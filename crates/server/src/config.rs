//! The platform's settings as the server uses them. `qz serve` builds this from `qz.toml` and
//! `QZ_*` variables and checks it before anything starts; here every value is already typed.

use std::fmt;

/// A secret string that never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// Where SMS go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsSettings {
    /// No provider: messages stay in the development outbox, readable by platform admins.
    Development,
    /// POST JSON `{to, text}` to `url` with `Authorization: Bearer key`.
    Http {
        /// Endpoint.
        url: String,
        /// API key.
        key: Secret,
    },
}

/// Where e-mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailSettings {
    /// No SMTP server: e-mail stays in the development outbox.
    Development,
    /// SMTP relay.
    Smtp {
        /// `smtp://host:port` (plain, for a local relay), `smtp+starttls://…` or `smtps://…`.
        url: String,
        /// Sender address.
        from: String,
        /// Login, if the relay wants one.
        username: Option<String>,
        /// Password.
        password: Secret,
    },
}

/// Who checks identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySettings {
    /// Accepts any well-formed name and number. Labelled "development" in the API and UI.
    Development,
    /// POST JSON `{name, id_number}` to `url` with `Authorization: Bearer key`; answers
    /// `{"result": "match" | "mismatch" | "pending", "reason"?, "reference"?}`. Pending checks
    /// finish through `POST /api/v1/identity/callback` with header `X-Provider-Key: key`.
    Http {
        /// Endpoint.
        url: String,
        /// API key, also the callback's credential.
        key: Secret,
    },
}

/// Settings of the platform server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Public base URL (links in messages; `https://` turns on Secure cookies).
    pub base_url: String,
    /// Session lifetime in seconds.
    pub session_ttl: i64,
    /// Requests per minute per client IP to the authentication endpoints (login, codes,
    /// registration, reset).
    pub auth_rate_per_minute: u32,
    /// Largest upload in bytes.
    pub max_upload: usize,
    /// SMS.
    pub sms: SmsSettings,
    /// E-mail.
    pub mail: MailSettings,
    /// Identity checks.
    pub identity: IdentitySettings,
    /// Messages per recipient per hour (SMS and e-mail).
    pub messages_per_hour: i64,
    /// Take the client IP from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_proxy: bool,
    /// Where persons' keys live: `None` picks co-signing when the CA issues SM2 keys (the
    /// national profile) and hosted keys otherwise.
    pub person_custody: Option<qz_store::Custody>,
    /// CJK font file (and face) for reports; `None`: the first system CJK font found.
    pub font: Option<(std::path::PathBuf, Option<u32>)>,
    /// LibreOffice's `soffice`, to convert Word files to PDF; `None`: conversion is off.
    pub office: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            base_url: "http://127.0.0.1:8080".into(),
            session_ttl: 12 * 3600,
            auth_rate_per_minute: 30,
            max_upload: 10 * 1024 * 1024,
            sms: SmsSettings::Development,
            mail: MailSettings::Development,
            identity: IdentitySettings::Development,
            messages_per_hour: 20,
            trust_proxy: false,
            person_custody: None,
            font: None,
            office: None,
        }
    }
}

impl ServerConfig {
    /// Cookies get `Secure` when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}
