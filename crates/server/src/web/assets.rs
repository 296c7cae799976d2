//! The page templates, scripts, texts and style sheet, compiled into the binary.
//!
//! With `QZ_WEB_DIR` set to `crates/server/web`, they are read from there on every request
//! instead, so the front end can be worked on without rebuilding; a missing file there falls
//! back to the compiled one.

use std::borrow::Cow;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        /// Page bodies by name (`web/templates/{name}.html`).
        pub const TEMPLATES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../web/templates/", $name, ".html")))),*
        ];
    };
}

templates!(
    "login",
    "register",
    "identity",
    "home",
    "start",
    "flow",
    "sign",
    "me",
    "verify",
    "admin",
    "guest",
    "handwriting",
    "cosign",
    "denied",
);

macro_rules! files {
    ($(($path:literal, $type:expr)),* $(,)?) => {
        /// Static files by path under `/static/`, with their content types.
        pub const FILES: &[(&str, &str, &str)] = &[
            $(($path, $type, include_str!(concat!("../../web/", $path)))),*
        ];
    };
}

const JS: &str = "text/javascript; charset=utf-8";

files!(
    ("app.css", "text/css; charset=utf-8"),
    ("core.js", JS),
    ("viewer.js", JS),
    ("pad.js", JS),
    ("pages/login.js", JS),
    ("pages/register.js", JS),
    ("pages/identity.js", JS),
    ("pages/home.js", JS),
    ("pages/start.js", JS),
    ("pages/flow.js", JS),
    ("pages/sign.js", JS),
    ("pages/me.js", JS),
    ("pages/verify.js", JS),
    ("pages/admin.js", JS),
    ("pages/guest.js", JS),
    ("pages/handwriting.js", JS),
    ("pages/cosign.js", JS),
    ("pages/denied.js", JS),
);

macro_rules! texts {
    ($($name:literal),* $(,)?) => {
        /// The text catalogs (`web/i18n/{name}.json`), merged into one.
        pub const TEXTS: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../web/i18n/", $name, ".json")))),*
        ];
    };
}

texts!("common", "flows", "account", "admin", "mobile", "verify");

/// The development directory, when set (read once: texts are looked up many times per page).
pub fn dev_dir() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        std::env::var_os("QZ_WEB_DIR")
            .map(std::path::PathBuf::from)
            .filter(|dir| dir.is_dir())
    })
    .as_deref()
}

fn from_dev(relative: &str) -> Option<String> {
    let dir = dev_dir()?;
    // Only names from the compiled lists reach here: no path from a request is joined.
    std::fs::read_to_string(dir.join(relative)).ok()
}

/// A page body template.
pub fn template(name: &str) -> Option<Cow<'static, str>> {
    let (name, compiled) = TEMPLATES.iter().find(|(n, _)| *n == name)?;
    Some(match from_dev(&format!("templates/{name}.html")) {
        Some(text) => Cow::Owned(text),
        None => Cow::Borrowed(*compiled),
    })
}

/// A static file and its content type.
pub fn file(path: &str) -> Option<(&'static str, Cow<'static, str>)> {
    let (path, content_type, compiled) = FILES.iter().find(|(p, _, _)| *p == path)?;
    Some((
        content_type,
        match from_dev(path) {
            Some(text) => Cow::Owned(text),
            None => Cow::Borrowed(*compiled),
        },
    ))
}

/// The text catalogs, as compiled or from the development directory.
pub fn texts() -> Vec<Cow<'static, str>> {
    TEXTS
        .iter()
        .map(|(name, compiled)| match from_dev(&format!("i18n/{name}.json")) {
            Some(text) => Cow::Owned(text),
            None => Cow::Borrowed(*compiled),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_its_script() {
        for (name, _) in TEMPLATES {
            let script = format!("pages/{name}.js");
            let found = file(&script);
            assert!(found.is_some_and(|(t, _)| t == JS), "{script} missing");
        }
    }
}
