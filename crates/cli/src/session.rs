//! Calling the platform as a logged-in person from the command line (the phone in `qz cosign`,
//! the token helper in `qz token`): the session cookie and CSRF token come from environment
//! variables, never from the command line where other users could read them.

use anyhow::{Context as _, Result, bail};
use clap::Args;

/// Where the session comes from.
#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    /// Environment variable with the platform session token (the `qz_session` cookie).
    #[arg(long)]
    pub session_env: String,
    /// Environment variable with the session's CSRF token.
    #[arg(long)]
    pub csrf_env: String,
}

pub fn env(var: &str) -> Result<String> {
    std::env::var(var).with_context(|| format!("environment variable {var} is not set"))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Result<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16).context("bad hex from the server")
        })
        .collect()
}

/// A platform session.
#[derive(Debug)]
pub struct Session {
    cookie: String,
    csrf: String,
}

impl Session {
    pub fn from_env(args: &SessionArgs) -> Result<Self> {
        Ok(Session {
            cookie: format!("qz_session={}", env(&args.session_env)?),
            csrf: env(&args.csrf_env)?,
        })
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .new_agent()
    }

    fn answer(url: &str, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<String> {
        let mut response = response.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if !status.is_success() {
            bail!("{url}: {status}: {text}");
        }
        Ok(text)
    }

    /// POSTs JSON (with the CSRF token); the answer's body.
    pub fn post(&self, url: &str, body: &serde_json::Value) -> Result<String> {
        Self::answer(
            url,
            Self::agent()
                .post(url)
                .header("Content-Type", "application/json")
                .header("Cookie", &self.cookie)
                .header("X-CSRF-Token", &self.csrf)
                .send(serde_json::to_vec(body)?.as_slice()),
        )
    }

    /// GETs; the answer's body.
    pub fn get(&self, url: &str) -> Result<String> {
        Self::answer(url, Self::agent().get(url).header("Cookie", &self.cookie).call())
    }
}
