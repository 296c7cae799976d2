//! The API in process (`Router::oneshot`) over a fresh SQLite store: the OpenAPI document
//! matches the routes, CSRF and idempotency work, and the permission rules hold per role and
//! for users of another organization, who must see nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use qz_server::app::AppState;
use qz_server::config::ServerConfig;
use qz_server::secrets::PlatformKey;
use qz_store::blobs::BlobStore;
use qz_store::{Store, TrailContext};

struct App {
    router: Router,
    store: Store,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Default)]
struct Client {
    cookie: Option<String>,
    csrf: Option<String>,
}

struct Reply {
    status: StatusCode,
    json: Value,
    headers: axum::http::HeaderMap,
}

impl App {
    async fn new() -> App {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("qz.db").display());
        let store = Store::connect(&url).await.unwrap();
        let blobs = BlobStore::local(&dir.path().join("blobs")).unwrap();
        let config = ServerConfig {
            auth_rate_per_minute: 10_000,
            messages_per_hour: 1000,
            ..ServerConfig::default()
        };
        let key = PlatformKey::from_hex(&"42".repeat(32)).unwrap();
        let pki_dir = dir.path().join("ca");
        qz_pki::ca::CertificateAuthority::init(
            &pki_dir,
            qz_pki::ca::CaProfile::Intl,
            qz_pki::KeyAlgorithm::P256,
            None,
            "Test",
        )
        .unwrap();
        let pki = Arc::new(qz_server::pki::PkiServices::open(&pki_dir).unwrap());
        let state = Arc::new(AppState::new(store.clone(), blobs, key, config, pki));
        let router = qz_server::app::router(state);
        App {
            router,
            store,
            _dir: dir,
        }
    }

    async fn call(&self, client: &Client, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_with(client, method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(cookie) = &client.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        if let Some(csrf) = &client.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            json,
            headers,
        }
    }

    /// The newest code sent to `to` (development outbox).
    async fn code_for(&self, to: &str) -> String {
        let page = self.store.outbox_page(Some(to), None, 100).await.unwrap();
        let body = &page.items.last().expect("a message").body;
        body.split(|c: char| !c.is_ascii_digit())
            .find(|part| part.len() == 6)
            .expect("a six-digit code")
            .to_owned()
    }

    fn login_client(reply: &Reply) -> Client {
        let cookie = reply
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|v| v.starts_with("qz_session="))
            .map(|v| v.split(';').next().unwrap().to_owned());
        Client {
            cookie,
            csrf: reply.json["csrf_token"].as_str().map(str::to_owned),
        }
    }

    async fn register(&self, phone: &str, name: &str) -> Client {
        let anon = Client::default();
        let r = self
            .call(
                &anon,
                Method::POST,
                "/api/v1/auth/codes",
                Some(json!({"purpose": "register", "to": phone})),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.json);
        let code = self.code_for(phone).await;
        let r = self
            .call(
                &anon,
                Method::POST,
                "/api/v1/auth/register",
                Some(json!({"phone": phone, "code": code, "password": "secret123", "name": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
        Self::login_client(&r)
    }

    async fn verified(&self, phone: &str, name: &str, id_number: &str) -> Client {
        let client = self.register(phone, name).await;
        let r = self
            .call(
                &client,
                Method::POST,
                "/api/v1/me/identity",
                Some(json!({"real_name": name, "id_number": id_number})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(r.json["status"], "verified");
        assert_eq!(r.json["provider"], "development");
        client
    }

    async fn admin(&self) -> Client {
        let hash = qz_server::secrets::hash_password("adminpass1").unwrap();
        self.store
            .create_first_admin(&hash, &TrailContext::default())
            .await
            .unwrap();
        let r = self
            .call(
                &Client::default(),
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"phone": "admin", "password": "adminpass1"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        Self::login_client(&r)
    }

    async fn upload_png(&self, client: &Client) -> String {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&[0; 64]);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/blobs")
            .header(header::CONTENT_TYPE, "image/png");
        request = request
            .header(header::COOKIE, client.cookie.clone().unwrap())
            .header("x-csrf-token", client.csrf.clone().unwrap());
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(png)).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice::<Value>(&bytes).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// A valid ID number with check digit, from a 17-digit body.
fn id_number(body: &str) -> String {
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = App::new().await;
    let doc: Value = serde_json::from_str(qz_server::api::OPENAPI).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 40);
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "none").replace("{user_id}", "none");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app
                .call(&Client::default(), method.clone(), &concrete, None)
                .await;
            // The router's own 404 and 405 have no problem body; ours always do.
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                r.status != StatusCode::NOT_FOUND || r.json.get("code").is_some(),
                "{method} {path} is documented but not routed"
            );
        }
    }
    let r = app
        .call(&Client::default(), Method::GET, "/api/v1/nothing-here", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn accounts_csrf_lockout_and_errors() {
    let app = App::new().await;
    let alice = app.register("13800000001", "Alice").await;
    // Problem details on bad input.
    let r = app
        .call(
            &Client::default(),
            Method::POST,
            "/api/v1/auth/codes",
            Some(json!({"purpose": "register", "to": "123"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(r.json["code"], "invalid");
    // Without the CSRF header a state change is refused, with it accepted.
    let no_csrf = Client {
        csrf: None,
        ..alice.clone()
    };
    let r = app
        .call(
            &no_csrf,
            Method::PUT,
            "/api/v1/me/locale",
            Some(json!({"locale": "en"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["code"], "csrf");
    let r = app
        .call(
            &alice,
            Method::PUT,
            "/api/v1/me/locale",
            Some(json!({"locale": "en"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Unauthenticated.
    assert_eq!(
        app.call(&Client::default(), Method::GET, "/api/v1/me", None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Five wrong passwords lock the account; even the right one is refused then.
    for _ in 0..5 {
        let r = app
            .call(
                &Client::default(),
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"phone": "13800000001", "password": "wrongpass1"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app
        .call(
            &Client::default(),
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"phone": "13800000001", "password": "secret123"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.json);
    // A reset unlocks and ends the old session.
    app.call(
        &Client::default(),
        Method::POST,
        "/api/v1/auth/codes",
        Some(json!({"purpose": "reset_password", "to": "13800000001"})),
    )
    .await;
    let code = app.code_for("13800000001").await;
    let r = app
        .call(
            &Client::default(),
            Method::POST,
            "/api/v1/auth/reset-password",
            Some(json!({"phone": "13800000001", "code": code, "password": "newsecret1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    assert_eq!(
        app.call(&alice, Method::GET, "/api/v1/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .call(
            &Client::default(),
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"phone": "13800000001", "password": "newsecret1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Codes are never in the trail.
    let user_id = r.json["user"]["id"].as_str().unwrap().to_owned();
    for event in app.store.trail(&format!("user:{user_id}")).await.unwrap() {
        assert!(!event.details.contains(&code), "{}", event.details);
    }
    app.store.verify_trail().await.unwrap();
}

#[tokio::test]
async fn idempotent_creation() {
    let app = App::new().await;
    let admin = app.admin().await;
    let body = json!({"name": "计算机学院"});
    let key = [("idempotency-key", "k-1")];
    let first = app
        .call_with(&admin, Method::POST, "/api/v1/orgs", Some(body.clone()), &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    let again = app
        .call_with(&admin, Method::POST, "/api/v1/orgs", Some(body), &key)
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json["id"], first.json["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = app
        .call_with(
            &admin,
            Method::POST,
            "/api/v1/orgs",
            Some(json!({"name": "其他学院"})),
            &key,
        )
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    let all = app.call(&admin, Method::GET, "/api/v1/orgs?all=true", None).await;
    assert_eq!(all.json["items"].as_array().unwrap().len(), 1);
}

/// Two outside companies; people of one probe the other and must see nothing.
#[tokio::test]
async fn permissions_per_role_and_other_organizations() {
    let app = App::new().await;
    let admin = app.admin().await;
    let a_admin = app
        .verified("13800000011", "甲管理", &id_number("11010519900101001"))
        .await;
    let a_member = app
        .verified("13800000012", "甲成员", &id_number("11010519900101002"))
        .await;
    let b_admin = app
        .verified("13800000021", "乙管理", &id_number("11010519900101003"))
        .await;
    let unverified = app.register("13800000031", "未认证").await;

    // Company A: verification by its future admin, approved by the platform admin.
    let licence = app.upload_png(&a_admin).await;
    let r = app
        .call(
            &a_admin,
            Method::POST,
            "/api/v1/org-verifications",
            Some(json!({
                "name": "甲科技有限公司", "credit_code": "91350100M000100Y43",
                "legal_rep": "甲法人", "licence_blob": licence
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let request_a = r.json["id"].as_str().unwrap().to_owned();
    let org_a = r.json["org_id"].as_str().unwrap().to_owned();
    // The applicant cannot approve their own request; another user cannot see it.
    assert_eq!(
        app.call(
            &a_admin,
            Method::POST,
            &format!("/api/v1/requests/{request_a}/approve"),
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(
            &b_admin,
            Method::GET,
            &format!("/api/v1/requests/{request_a}"),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .call(
            &admin,
            Method::POST,
            &format!("/api/v1/requests/{request_a}/approve"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    // Unverified people cannot submit companies.
    let r = app
        .call(
            &unverified,
            Method::POST,
            "/api/v1/org-verifications",
            Some(json!({
                "name": "丙公司", "credit_code": "91350100M000100Y43", "legal_rep": "丙", "licence_blob": "x"
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Company B.
    let licence_b = app.upload_png(&b_admin).await;
    let code_b = "91110000600037341L";
    let r = app
        .call(&b_admin, Method::POST, "/api/v1/org-verifications", Some(json!({
            "name": "乙贸易有限公司", "credit_code": code_b, "legal_rep": "乙法人", "licence_blob": licence_b
        })))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let request_b = r.json["id"].as_str().unwrap().to_owned();
    let org_b = r.json["org_id"].as_str().unwrap().to_owned();
    app.call(
        &admin,
        Method::POST,
        &format!("/api/v1/requests/{request_b}/approve"),
        None,
    )
    .await;

    // A's member joins through a join request A's admin approves.
    let r = app
        .call(
            &a_member,
            Method::GET,
            "/api/v1/orgs/lookup?credit_code=91350100M000100Y43",
            None,
        )
        .await;
    assert_eq!(r.json["id"], org_a.as_str());
    let r = app
        .call(
            &a_member,
            Method::POST,
            &format!("/api/v1/orgs/{org_a}/join-requests"),
            Some(json!({"message": "新同事"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let join = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.call(
            &b_admin,
            Method::POST,
            &format!("/api/v1/requests/{join}/approve"),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let pending = app
        .call(
            &a_admin,
            Method::GET,
            &format!("/api/v1/requests?view=decide&org_id={org_a}&status=pending"),
            None,
        )
        .await;
    assert_eq!(pending.json["items"].as_array().unwrap().len(), 1);
    let r = app
        .call(
            &a_admin,
            Method::POST,
            &format!("/api/v1/requests/{join}/approve"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    // The applicant got an in-app message.
    let messages = app
        .call(&a_member, Method::GET, "/api/v1/me/messages", None)
        .await;
    assert!(
        messages.json["items"][0]["body"]
            .as_str()
            .unwrap()
            .contains("已通过")
    );

    let a_member_id = app.call(&a_member, Method::GET, "/api/v1/me", None).await.json["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // B's admin probes A: every read and write is a 404.
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/orgs/{org_a}"), None),
        (Method::GET, format!("/api/v1/orgs/{org_a}/members"), None),
        (Method::GET, format!("/api/v1/orgs/{org_a}/trail"), None),
        (
            Method::POST,
            format!("/api/v1/orgs/{org_a}/members"),
            Some(json!({"phone": "13800000021"})),
        ),
        (
            Method::PUT,
            format!("/api/v1/orgs/{org_a}/members/{a_member_id}"),
            Some(json!({"role": "seal_operator"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/orgs/{org_a}/members/{a_member_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/orgs/{org_a}/transfer-admin"),
            Some(json!({"user_id": a_member_id})),
        ),
        (
            Method::POST,
            format!("/api/v1/orgs/{org_a}/admin-requests"),
            Some(json!({"reason": "我想管理"})),
        ),
        (
            Method::GET,
            format!("/api/v1/requests?view=decide&org_id={org_a}"),
            None,
        ),
        (Method::GET, format!("/api/v1/blobs/{licence}"), None),
        (
            Method::PUT,
            "/api/v1/me/acting-for".to_owned(),
            Some(json!({"org_id": org_a})),
        ),
    ] {
        let r = app.call(&b_admin, method.clone(), &path, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {}", r.json);
    }
    // B's admin's list shows only B.
    let mine = app.call(&b_admin, Method::GET, "/api/v1/orgs", None).await;
    let ids: Vec<_> = mine.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [org_b.as_str()]);
    // Platform-admin endpoints are closed to everyone else.
    for path in [
        "/api/v1/admin/users",
        "/api/v1/admin/outbox",
        "/api/v1/admin/trail?object=x",
        "/api/v1/orgs?all=true",
    ] {
        assert_eq!(
            app.call(&a_admin, Method::GET, path, None).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }

    // A plain member sees the org but may not manage it.
    assert_eq!(
        app.call(
            &a_member,
            Method::GET,
            &format!("/api/v1/orgs/{org_a}/members"),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    for (method, path, body) in [
        (
            Method::POST,
            format!("/api/v1/orgs/{org_a}/members"),
            Some(json!({"phone": "13800000021"})),
        ),
        (Method::GET, format!("/api/v1/orgs/{org_a}/trail"), None),
        (
            Method::POST,
            format!("/api/v1/orgs/{org_a}/transfer-admin"),
            Some(json!({"user_id": a_member_id})),
        ),
    ] {
        let r = app.call(&a_member, method.clone(), &path, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}: {}", r.json);
    }
    // Acting for one's organization works and is recorded.
    let r = app
        .call(
            &a_member,
            Method::PUT,
            "/api/v1/me/acting-for",
            Some(json!({"org_id": org_a})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call(&a_member, Method::GET, "/api/v1/me", None).await.json["acting_for"],
        org_a.as_str()
    );

    // The admin makes the member a seal operator, cannot demote themselves, transfers.
    let r = app
        .call(
            &a_admin,
            Method::PUT,
            &format!("/api/v1/orgs/{org_a}/members/{a_member_id}"),
            Some(json!({"role": "seal_operator"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.json);
    let a_admin_id = app.call(&a_admin, Method::GET, "/api/v1/me", None).await.json["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .call(
            &a_admin,
            Method::DELETE,
            &format!("/api/v1/orgs/{org_a}/members/{a_admin_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .call(
            &a_admin,
            Method::POST,
            &format!("/api/v1/orgs/{org_a}/transfer-admin"),
            Some(json!({"user_id": a_member_id})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Now the former admin is a member and may no longer manage.
    let r = app
        .call(
            &a_admin,
            Method::GET,
            &format!("/api/v1/orgs/{org_a}/trail"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let trail = app
        .call(
            &a_member,
            Method::GET,
            &format!("/api/v1/orgs/{org_a}/trail?limit=100"),
            None,
        )
        .await;
    let actions: Vec<_> = trail.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "org.created",
        "org.admin_changed",
        "org.verified",
        "member.added",
        "member.role_changed",
    ] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    let verify = app
        .call(&admin, Method::POST, "/api/v1/admin/trail/verify", None)
        .await;
    assert_eq!(verify.json["ok"], true, "{}", verify.json);
}

#[tokio::test]
async fn identity_rules() {
    let app = App::new().await;
    let user = app.register("13800000041", "Someone").await;
    let valid = id_number("11010519900101009");
    let last = valid.chars().last().unwrap();
    let wrong_check = format!("{}{}", &valid[..17], if last == '1' { '2' } else { '1' });
    for bad in [wrong_check.as_str(), "1101051990010100", "11010519901301001X"] {
        let r = app
            .call(
                &user,
                Method::POST,
                "/api/v1/me/identity",
                Some(json!({"real_name": "张三", "id_number": bad})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.json);
    }
    let number = id_number("11010519900101004");
    let r = app
        .call(
            &user,
            Method::POST,
            "/api/v1/me/identity",
            Some(json!({"real_name": "张三", "id_number": number})),
        )
        .await;
    assert_eq!(r.json["status"], "verified");
    assert_eq!(r.json["id_masked"], format!("1101**********{}", &number[14..]));
    // The same number cannot verify a second account.
    let other = app.register("13800000042", "Other").await;
    let r = app
        .call(
            &other,
            Method::POST,
            "/api/v1/me/identity",
            Some(json!({"real_name": "张三", "id_number": number})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.json);
    // The raw number is stored nowhere in clear.
    for client in [&user, &other] {
        let id = app.call(client, Method::GET, "/api/v1/me", None).await.json["user"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for event in app.store.trail(&format!("user:{id}")).await.unwrap() {
            assert!(!event.details.contains(&number), "{}", event.details);
        }
    }
}
