//! The web front end (DESIGN.md §12): pages rendered on the server in the reader's language,
//! made interactive by small ES modules of our own (`crates/server/web/`) that talk to
//! `/api/v1` with the session cookie and the CSRF header. Page images come from the server, so
//! the browser needs no PDF viewer.
//!
//! Everything is compiled into the binary: the single-binary deployment has no asset directory
//! to lose. Pages that need a login redirect to `/login?next=…`; the API still checks every
//! request, the redirect is only for the reader's comfort.

pub mod assets;
pub mod captcha;
pub mod i18n;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use qz_store::{Session, User};

use crate::api::auth::session_of;
use crate::app::AppState;
use i18n::Lang;

/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "qz_lang";

/// Who reads the page and in which language.
struct Reader {
    lang: Lang,
    session: Option<(Session, User)>,
    /// A `Set-Cookie` for a language chosen by `?lang=`.
    set_lang: Option<HeaderValue>,
    /// SMS go to the development outbox: the pages say where the codes are.
    dev_outbox: bool,
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    lang: Option<String>,
}

async fn reader(state: &AppState, headers: &HeaderMap, query: &PageQuery) -> Reader {
    // A broken database shows the page logged out; the API calls then explain the trouble.
    let session = session_of(state, headers).await.ok().flatten();
    let chosen = query.lang.as_deref().and_then(Lang::parse);
    let lang = chosen
        .or_else(|| crate::api::auth::cookie(headers, LANG_COOKIE).and_then(Lang::parse))
        .or_else(|| session.as_ref().and_then(|(_, user)| Lang::parse(&user.locale)))
        .unwrap_or_else(|| Lang::from_accept_language(headers));
    let set_lang = chosen.and_then(|lang| {
        HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
            lang.code()
        ))
        .ok()
    });
    Reader {
        lang,
        session,
        set_lang,
        dev_outbox: matches!(state.config.sms, crate::config::SmsSettings::Development),
    }
}

/// Which frame a page sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// The PC portal: header with navigation.
    Portal,
    /// Phone-sized pages (`/m/…`): a slim header, no navigation.
    Mobile,
}

/// The pages: path, template, script, frame, whether a login is needed, whether only platform
/// administrators may open it.
struct PageSpec {
    template: &'static str,
    title: &'static str,
    frame: Frame,
    login: bool,
    admin: bool,
}

const fn portal(template: &'static str, title: &'static str, login: bool) -> PageSpec {
    PageSpec {
        template,
        title,
        frame: Frame::Portal,
        login,
        admin: false,
    }
}

const fn mobile(template: &'static str, title: &'static str) -> PageSpec {
    PageSpec {
        template,
        title,
        frame: Frame::Mobile,
        login: false,
        admin: false,
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` block: `<` escaped so no `</script>` ends it.
fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

fn nav(reader: &Reader, current: &str) -> String {
    let t = |key: &str| escape(&i18n::text(reader.lang, key));
    let mut links = vec![("/", "nav.home"), ("/flows/new", "nav.start")];
    links.push(("/verify", "nav.verify"));
    links.push(("/me", "nav.me"));
    if reader
        .session
        .as_ref()
        .is_some_and(|(_, user)| user.platform_admin)
    {
        links.push(("/admin", "nav.admin"));
    }
    let items: String = links
        .iter()
        .map(|(href, key)| {
            let here = if *href == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{href}\"{here}>{}</a>", t(key))
        })
        .collect();
    let account = match &reader.session {
        Some((session, user)) if session.scope.is_none() => {
            let name = if user.name.trim().is_empty() {
                user.phone.clone()
            } else {
                user.name.clone()
            };
            format!(
                "<span class=\"who\">{}</span><button type=\"button\" class=\"link\" id=\"logout\">{}</button>",
                escape(&name),
                t("nav.logout")
            )
        }
        _ => format!(
            "<a href=\"/login\">{}</a><a href=\"/register\">{}</a>",
            t("nav.login"),
            t("nav.register")
        ),
    };
    format!(
        "<nav class=\"main\" aria-label=\"{}\">{items}</nav><div class=\"account\">{account}</div>",
        t("nav.label")
    )
}

fn languages(reader: &Reader) -> String {
    Lang::ALL
        .iter()
        .map(|lang| {
            if *lang == reader.lang {
                format!("<span aria-current=\"true\">{}</span>", lang.label())
            } else {
                format!(
                    "<a href=\"?lang={}\" lang=\"{}\">{}</a>",
                    lang.code(),
                    lang.code(),
                    lang.label()
                )
            }
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Renders a page: the template with its `{{key}}` texts in the reader's language, `{{=name}}`
/// slots from `vars` (escaped), the texts the scripts need, and the page's script.
fn render(reader: &Reader, spec: &PageSpec, path: &str, vars: &[(&str, String)]) -> Response {
    let lang = reader.lang;
    let body = i18n::fill(lang, &assets::template(spec.template).unwrap_or_default(), vars);
    let title = escape(&i18n::text(lang, spec.title));
    let user = reader.session.as_ref().map(|(session, user)| {
        serde_json::json!({
            "id": user.id,
            "name": user.name,
            "phone": user.phone,
            "platform_admin": user.platform_admin,
            "scoped": session.scope.is_some(),
        })
    });
    let context = serde_json::json!({
        "lang": lang.code(),
        "user": user,
        "texts": i18n::catalog(lang),
    });
    let (body_class, header) = match spec.frame {
        Frame::Portal => (
            "portal",
            format!(
                "<header class=\"top\"><a class=\"brand\" href=\"/\">{}</a>{}<div class=\"langs\">{}</div></header>",
                escape(&i18n::text(lang, "brand")),
                nav(reader, path),
                languages(reader)
            ),
        ),
        Frame::Mobile => (
            "mobile",
            format!(
                "<header class=\"top slim\"><span class=\"brand\">{}</span><div class=\"langs\">{}</div></header>",
                escape(&i18n::text(lang, "brand")),
                languages(reader)
            ),
        ),
    };
    // Without an SMS provider nobody receives a code: say where they are instead.
    let header = if reader.dev_outbox {
        format!(
            "{header}<div class=\"dev-banner\" role=\"note\">{}</div>",
            escape(&i18n::text(lang, "dev.outbox"))
        )
    } else {
        header
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · {brand}</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body class=\"{body_class}\" data-page=\"{template}\">{header}\
         <main id=\"main\">{body}</main>\
         <div id=\"toast\" role=\"status\" aria-live=\"polite\"></div>\
         <script type=\"application/json\" id=\"qz-context\">{context}</script>\
         <script type=\"module\" src=\"/static/pages/{template}.js\"></script></body></html>",
        code = lang.code(),
        brand = escape(&i18n::text(lang, "brand")),
        template = spec.template,
        context = script_json(&context),
    );
    let mut response = (StatusCode::OK, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Some(cookie) = &reader.set_lang {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
    response
}

async fn show(
    state: &AppState,
    headers: &HeaderMap,
    query: &PageQuery,
    path: &str,
    spec: &PageSpec,
    vars: &[(&str, String)],
) -> Response {
    let reader = reader(state, headers, query).await;
    let logged_in = reader
        .session
        .as_ref()
        .is_some_and(|(session, user)| session.scope.is_none() && !user.disabled);
    if spec.login && !logged_in {
        let next = form_urlencoded_path(path);
        return Redirect::to(&format!("/login?next={next}")).into_response();
    }
    if spec.admin
        && !reader
            .session
            .as_ref()
            .is_some_and(|(_, user)| user.platform_admin)
    {
        let denied = portal("denied", "denied.title", false);
        let mut response = render(&reader, &denied, path, &[]);
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    render(&reader, spec, path, vars)
}

/// A same-site path for `?next=`: only our own absolute paths, percent-encoded.
fn form_urlencoded_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

macro_rules! page {
    ($name:ident, $path:literal, $spec:expr) => {
        async fn $name(
            State(state): State<Arc<AppState>>,
            headers: HeaderMap,
            Query(query): Query<PageQuery>,
        ) -> Response {
            show(&state, &headers, &query, $path, &$spec, &[]).await
        }
    };
}

page!(login_page, "/login", portal("login", "login.title", false));
page!(
    register_page,
    "/register",
    portal("register", "register.title", false)
);
page!(start_page, "/flows/new", portal("start", "start.title", true));
page!(me_page, "/me", portal("me", "me.title", true));
page!(
    identity_page,
    "/identity",
    portal("identity", "identity.title", true)
);
page!(verify_page, "/verify", portal("verify", "verify.title", false));
page!(
    admin_page,
    "/admin",
    PageSpec {
        admin: true,
        ..portal("admin", "admin.title", true)
    }
);
page!(cosign_page, "/m/certificate", mobile("cosign", "cosign.title"));
page!(home_page, "/", portal("home", "home.title", true));

/// A page whose address carries one value (a flow id, a link token) that the page's script
/// reads from the template slot `{{=name}}`.
macro_rules! page_with {
    ($name:ident, $prefix:literal, $suffix:literal, $slot:literal, $spec:expr) => {
        async fn $name(
            State(state): State<Arc<AppState>>,
            headers: HeaderMap,
            Query(query): Query<PageQuery>,
            Path(value): Path<String>,
        ) -> Response {
            let path = format!("{}{value}{}", $prefix, $suffix);
            show(&state, &headers, &query, &path, &$spec, &[($slot, value)]).await
        }
    };
}

page_with!(
    flow_page,
    "/flows/",
    "",
    "flow",
    portal("flow", "flow.title", true)
);
page_with!(
    sign_page,
    "/flows/",
    "/sign",
    "flow",
    portal("sign", "sign.title", true)
);
page_with!(
    guest_page,
    "/m/sign/",
    "",
    "token",
    mobile("guest", "guest.title")
);
page_with!(
    handwriting_page,
    "/m/handwriting/",
    "",
    "token",
    mobile("handwriting", "handwriting.title")
);

async fn static_file(Path(path): Path<String>) -> Response {
    match assets::file(&path) {
        Some((content_type, body)) => {
            let mut response = body.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The web routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(home_page))
        .route("/login", get(login_page))
        .route("/register", get(register_page))
        .route("/identity", get(identity_page))
        .route("/flows/new", get(start_page))
        .route("/flows/{id}", get(flow_page))
        .route("/flows/{id}/sign", get(sign_page))
        .route("/me", get(me_page))
        .route("/verify", get(verify_page))
        .route("/verify/captcha", get(captcha::issue))
        .route("/verify/check", post(captcha::check))
        .route("/verify/pages/{page}", post(captcha::page))
        .route("/admin", get(admin_page))
        .route("/m/sign/{token}", get(guest_page))
        .route("/m/handwriting/{token}", get(handwriting_page))
        .route("/m/certificate", get(cosign_page))
        .route("/static/{*path}", get(static_file))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            script_json(&serde_json::json!({"a": "</script>"})),
            "{\"a\":\"\\u003c/script>\"}"
        );
    }

    #[test]
    fn next_paths_stay_paths() {
        assert_eq!(form_urlencoded_path("/flows/abc-1"), "/flows/abc-1");
        assert_eq!(form_urlencoded_path("/a?b=c&d"), "/a%3Fb%3Dc%26d");
    }
}
