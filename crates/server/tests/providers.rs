//! The outside providers over real HTTP: a fake identity service that answers "pending" and
//! reports back through the callback, and a fake SMS gateway the background sender posts to
//! (with a failure first, so the retry path runs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::routing::post;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use qz_server::app::AppState;
use qz_server::config::{IdentitySettings, Secret, ServerConfig, SmsSettings};
use qz_server::notify::{Sender, Template};
use qz_server::secrets::PlatformKey;
use qz_store::Store;
use qz_store::blobs::BlobStore;

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(Option<String>, Value)>>,
    fail_first: Mutex<bool>,
}

async fn fake_endpoint(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    fake.calls.lock().unwrap().push((auth, body.clone()));
    let mut fail = fake.fail_first.lock().unwrap();
    if *fail {
        *fail = false;
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({})));
    }
    if body.get("id_number").is_some() {
        (
            StatusCode::OK,
            Json(json!({"result": "pending", "reference": "face-42"})),
        )
    } else {
        (StatusCode::OK, Json(json!({"ok": true})))
    }
}

async fn spawn_fake(fake: Arc<Fake>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/check", post(fake_endpoint))
        .route("/sms", post(fake_endpoint))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

async fn store(dir: &tempfile::TempDir) -> Store {
    Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("qz.db").display()
    ))
    .await
    .unwrap()
}

#[tokio::test]
async fn pending_identity_check_finishes_through_the_callback() {
    let fake = Arc::new(Fake::default());
    let base = spawn_fake(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let config = ServerConfig {
        identity: IdentitySettings::Http {
            url: format!("{base}/check"),
            key: Secret("provider-key-0123456789".into()),
        },
        auth_rate_per_minute: 1000,
        ..ServerConfig::default()
    };
    let state = Arc::new(AppState::new(
        store.clone(),
        BlobStore::local(&dir.path().join("blobs")).unwrap(),
        PlatformKey::from_hex(&"07".repeat(32)).unwrap(),
        config,
        test_pki(&dir),
    ));
    let router = qz_server::api::router(state);
    let call = |method: Method, path: &str, body: Value, headers: Vec<(&'static str, String)>| {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let request = request.body(Body::from(body.to_string())).unwrap();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let cookies: Vec<String> = response
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
                .collect();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
                cookies,
            )
        }
    };
    // A user, logged in through the API (the code comes from the outbox).
    let (status, _, _) = call(
        Method::POST,
        "/api/v1/auth/codes",
        json!({"purpose": "register", "to": "13900000001"}),
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let body = store
        .outbox_page(Some("13900000001"), None, 10)
        .await
        .unwrap()
        .items
        .remove(0)
        .body;
    let code: String = body
        .split(|c: char| !c.is_ascii_digit())
        .find(|p| p.len() == 6)
        .unwrap()
        .into();
    let (status, login, cookies) = call(
        Method::POST,
        "/api/v1/auth/register",
        json!({"phone": "13900000001", "code": code, "password": "secret123", "name": "赵六"}),
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let session = vec![
        ("cookie", cookies.join("; ")),
        ("x-csrf-token", login["csrf_token"].as_str().unwrap().to_owned()),
    ];
    let (status, answer, _) = call(
        Method::POST,
        "/api/v1/me/identity",
        json!({"real_name": "赵六", "id_number": "11010519491231002X"}),
        session.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "pending");
    assert_eq!(answer["provider"], "http");
    {
        let calls = fake.calls.lock().unwrap();
        assert_eq!(calls[0].0.as_deref(), Some("Bearer provider-key-0123456789"));
        assert_eq!(calls[0].1["id_number"], "11010519491231002X");
    }
    // A second submission while pending is refused.
    let (status, _, _) = call(
        Method::POST,
        "/api/v1/me/identity",
        json!({"real_name": "赵六", "id_number": "11010519491231002X"}),
        session.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The callback needs the provider's key.
    let (status, _, _) = call(
        Method::POST,
        "/api/v1/identity/callback",
        json!({"reference": "face-42", "result": "match"}),
        vec![("x-provider-key", "wrong".into())],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, done, _) = call(
        Method::POST,
        "/api/v1/identity/callback",
        json!({"reference": "face-42", "result": "match"}),
        vec![("x-provider-key", "provider-key-0123456789".into())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let (_, me, _) = call(Method::GET, "/api/v1/me/identity", json!({}), session).await;
    assert_eq!(me["status"], "verified");
    // A reference is used once.
    let (status, _, _) = call(
        Method::POST,
        "/api/v1/identity/callback",
        json!({"reference": "face-42", "result": "mismatch"}),
        vec![("x-provider-key", "provider-key-0123456789".into())],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sms_gateway_receives_messages_with_retry() {
    let fake = Arc::new(Fake {
        fail_first: Mutex::new(true),
        ..Fake::default()
    });
    let base = spawn_fake(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let config = ServerConfig {
        sms: SmsSettings::Http {
            url: format!("{base}/sms"),
            key: Secret("sms-key".into()),
        },
        ..ServerConfig::default()
    };
    let notifier = qz_server::notify::Notifier::new(store.clone(), &config);
    notifier
        .send(
            "sms",
            "13900000002",
            "en",
            &Template::Code {
                purpose: "login",
                code: "654321",
            },
        )
        .await
        .unwrap();
    let sender = Sender::new(store.clone(), &config);
    assert_eq!(sender.run_once().await.unwrap(), 1);
    let message = store.outbox_page(None, None, 10).await.unwrap().items.remove(0);
    assert_eq!(message.status, "queued", "a failed send waits for its retry");
    assert!(message.last_error.unwrap().contains("503"));
    // Not due yet: nothing is sent again at once.
    assert_eq!(sender.run_once().await.unwrap(), 0);
    sqlx_free_due(&store).await;
    assert_eq!(sender.run_once().await.unwrap(), 1);
    let message = store.outbox_page(None, None, 10).await.unwrap().items.remove(0);
    assert_eq!(message.status, "sent");
    assert!(!message.body.contains("654321"), "the code is removed once sent");
    let calls = fake.calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].0.as_deref(), Some("Bearer sms-key"));
    assert_eq!(calls[1].1["to"], "13900000002");
    assert!(calls[1].1["text"].as_str().unwrap().contains("654321"));
}

/// Makes queued messages due now (instead of waiting for the backoff).
async fn sqlx_free_due(store: &Store) {
    store.make_due_for_tests().await.unwrap();
}

fn test_pki(dir: &tempfile::TempDir) -> Arc<qz_server::pki::PkiServices> {
    let ca_dir = dir.path().join("ca");
    qz_pki::ca::CertificateAuthority::init(
        &ca_dir,
        qz_pki::ca::CaProfile::Intl,
        qz_pki::KeyAlgorithm::P256,
        None,
        "Test",
    )
    .unwrap();
    Arc::new(qz_server::pki::PkiServices::open(&ca_dir).unwrap())
}
