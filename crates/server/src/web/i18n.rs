//! The texts of the web pages in Simplified Chinese (the default) and English.
//!
//! One catalog (`web/i18n/*.json`, each `{"key": ["中文", "English"]}`, merged) serves both the
//! server's templates and the scripts, so a text is translated once and the two languages
//! cannot drift apart: a test checks that every key a template or script uses exists.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, header};

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文 (default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Both, in the order the switch shows them.
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The BCP 47 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// How the switch names it.
    pub fn label(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }

    /// A code as the `?lang=` switch, the cookie or an account's locale give it.
    pub fn parse(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        if code.starts_with("zh") {
            Some(Lang::Zh)
        } else if code.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// English only when the browser prefers it to Chinese; Chinese otherwise.
    pub fn from_accept_language(headers: &HeaderMap) -> Lang {
        let Some(value) = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
            return Lang::Zh;
        };
        value
            .split(',')
            .find_map(|part| Lang::parse(part.split(';').next().unwrap_or_default()))
            .unwrap_or(Lang::Zh)
    }

    fn index(self) -> usize {
        match self {
            Lang::Zh => 0,
            Lang::En => 1,
        }
    }
}

type Catalog = BTreeMap<String, [String; 2]>;

fn parse_all() -> Catalog {
    let mut all = Catalog::new();
    for text in super::assets::texts() {
        // The catalogs are compiled in and checked by a test: a broken one shows keys, not a
        // crash.
        let part: Catalog = serde_json::from_str(&text).unwrap_or_default();
        all.extend(part);
    }
    all
}

fn catalog_all() -> Arc<Catalog> {
    static PARSED: OnceLock<Arc<Catalog>> = OnceLock::new();
    if super::assets::dev_dir().is_some() {
        return Arc::new(parse_all());
    }
    PARSED.get_or_init(|| Arc::new(parse_all())).clone()
}

/// One text; the key itself when it is missing (visible, and caught by the tests).
pub fn text(lang: Lang, key: &str) -> String {
    catalog_all()
        .get(key)
        .map(|texts| texts[lang.index()].clone())
        .unwrap_or_else(|| key.to_owned())
}

/// Every text in one language, for the scripts.
pub fn catalog(lang: Lang) -> serde_json::Value {
    serde_json::Value::Object(
        catalog_all()
            .iter()
            .map(|(key, texts)| (key.clone(), texts[lang.index()].clone().into()))
            .collect(),
    )
}

/// Fills `{{key}}` with texts and `{{=name}}` with `vars`, all escaped for HTML.
pub fn fill(lang: Lang, template: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = after[..end].trim();
        if let Some(name) = key.strip_prefix('=') {
            let value = vars
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            out.push_str(&super::escape(value));
        } else {
            out.push_str(&super::escape(&text(lang, key)));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Every `{{key}}` of a template (not the `{{=name}}` slots).
pub fn template_keys(template: &str) -> Vec<&str> {
    let mut keys = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let key = after[..end].trim();
        if !key.starts_with('=') {
            keys.push(key);
        }
        rest = &after[end + 2..];
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled() -> Catalog {
        let mut all = Catalog::new();
        for (name, text) in super::super::assets::TEXTS {
            let part: Catalog = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}.json: {e}"));
            for key in part.keys() {
                assert!(!all.contains_key(key), "{key} is in two catalogs");
            }
            all.extend(part);
        }
        all
    }

    #[test]
    fn catalog_parses_and_has_both_languages() {
        let parsed = compiled();
        assert!(parsed.len() > 100, "{} texts", parsed.len());
        for (key, [zh, en]) in &parsed {
            assert!(!zh.trim().is_empty(), "{key} has no Chinese");
            assert!(!en.trim().is_empty(), "{key} has no English");
        }
    }

    #[test]
    fn fills_texts_and_escaped_slots() {
        let out = fill(
            Lang::Zh,
            "<h1>{{brand}}</h1><i data-x=\"{{=id}}\">",
            &[("id", "a\"<b".into())],
        );
        assert_eq!(out, "<h1>签章</h1><i data-x=\"a&quot;&lt;b\">");
        assert_eq!(fill(Lang::En, "{{brand}}", &[]), "Qianzhang");
    }

    #[test]
    fn picks_languages() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::from_accept_language(&headers), Lang::Zh);
        headers.insert(
            header::ACCEPT_LANGUAGE,
            "en-US,en;q=0.9,zh;q=0.8".parse().unwrap(),
        );
        assert_eq!(Lang::from_accept_language(&headers), Lang::En);
        headers.insert(
            header::ACCEPT_LANGUAGE,
            "zh-CN,zh;q=0.9,en;q=0.5".parse().unwrap(),
        );
        assert_eq!(Lang::from_accept_language(&headers), Lang::Zh);
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }

    /// Every text a template or a script asks for exists.
    #[test]
    fn every_used_key_exists() {
        let parsed = compiled();
        let mut missing = Vec::new();
        for (name, template) in super::super::assets::TEMPLATES {
            for key in template_keys(template) {
                if !parsed.contains_key(key) {
                    missing.push(format!("{name}.html: {key}"));
                }
            }
        }
        for (name, _, body) in super::super::assets::FILES {
            // Scripts call t('key') (or t("key")).
            for quote in ["t('", "t(\""] {
                let mut rest = *body;
                while let Some(at) = rest.find(quote) {
                    let preceded = rest[..at].chars().last();
                    rest = &rest[at + quote.len()..];
                    if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                        continue;
                    }
                    let end = rest.find(['\'', '"']).unwrap_or(0);
                    let key = &rest[..end];
                    if !key.is_empty() && !key.contains('$') && !parsed.contains_key(key) {
                        missing.push(format!("{name}: {key}"));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "texts missing from web/i18n/: {missing:#?}");
    }
}
