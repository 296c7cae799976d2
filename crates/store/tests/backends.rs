//! The same suite on SQLite and PostgreSQL. PostgreSQL is the one at 127.0.0.1:5432 (or
//! `QZ_TEST_POSTGRES`, an admin URL); each run creates its own database and drops it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod suite_flows;
mod suite_parties;
mod suite_seals;

use qz_domain::org::{OrgRole, RequestStatus};
use qz_store::{
    CodeCheck, IdempotencyBegin, NewMessage, NewOrg, RequestFilter, RequestKind, Session, Store, StoreError,
    StoredResponse, TrailContext,
};

async fn suite(store: &Store) {
    let context = TrailContext {
        actor: Some("admin".into()),
        ip: Some("127.0.0.1".into()),
        ..Default::default()
    };
    let user = store
        .create_user("13800000000", "张三", "$argon2id$fake", false, &context)
        .await
        .unwrap();
    assert_eq!(store.user_by_phone("13800000000").await.unwrap(), user);
    assert!(matches!(
        store
            .create_user("13800000000", "李四", "x", false, &context)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.user_by_phone("1").await,
        Err(StoreError::NotFound(_))
    ));
    // The failed insert left no trail event behind: state and trail commit together.
    let object = format!("user:{}", user.id);
    for i in 0..3 {
        store
            .record(&object, "user.updated", &format!("{{\"n\":{i}}}"), &context)
            .await
            .unwrap();
    }
    let events = store.trail(&object).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(events[1].prev_hash, events[0].hash);
    assert_eq!(store.verify_trail().await.unwrap(), 4);

    accounts(store, &user.id, &context).await;
    orgs(store, &user.id, &context).await;
    outbox(store).await;
    idempotency(store).await;
    suite_seals::seals(store, &context).await;
    suite_flows::flows(store, &context).await;
    suite_parties::parties(store, &context).await;
    let checked = store.verify_trail().await.unwrap();
    assert!(checked > 10, "{checked}");

    // Removing the newest event of a chain is found through the chain's head.
    let last = store.trail(&object).await.unwrap().len();
    sqlx::query("DELETE FROM trail WHERE object = $1 AND seq = $2")
        .bind(&object)
        .bind(i64::try_from(last).unwrap())
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.verify_trail().await,
        Err(StoreError::BrokenTrail { .. })
    ));
    sqlx::query("UPDATE trail_heads SET seq = seq - 1, hash = (SELECT hash FROM trail WHERE object = $1 AND seq = $2) WHERE object = $1")
        .bind(&object)
        .bind(i64::try_from(last - 1).unwrap())
        .execute(store.pool())
        .await
        .unwrap();
    store.verify_trail().await.unwrap();

    // Tampering with an event's content, or deleting one, breaks the chain.
    sqlx::query("UPDATE trail SET details = '{\"n\":99}' WHERE object = $1 AND seq = 3")
        .bind(&object)
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.verify_trail().await,
        Err(StoreError::BrokenTrail { seq: 3, .. })
    ));
    sqlx::query("DELETE FROM trail WHERE object = $1 AND seq = 3")
        .bind(&object)
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.verify_trail().await,
        Err(StoreError::BrokenTrail { seq: 4, .. })
    ));
}

async fn accounts(store: &Store, user_id: &str, context: &TrailContext) {
    // Codes: five wrong guesses kill the code, a right one is used up.
    store
        .create_code("login", "13800000000", "right", 300)
        .await
        .unwrap();
    assert_eq!(store.code_history("login", "13800000000").await.unwrap().1, 1);
    for _ in 0..4 {
        assert_eq!(
            store
                .check_code("login", "13800000000", "wrong", 5)
                .await
                .unwrap(),
            CodeCheck::Wrong
        );
    }
    assert_eq!(
        store
            .check_code("login", "13800000000", "wrong", 5)
            .await
            .unwrap(),
        CodeCheck::NoLiveCode
    );
    assert_eq!(
        store
            .check_code("login", "13800000000", "right", 5)
            .await
            .unwrap(),
        CodeCheck::NoLiveCode
    );
    store
        .create_code("login", "13800000000", "right", 300)
        .await
        .unwrap();
    assert_eq!(
        store
            .check_code("register", "13800000000", "right", 5)
            .await
            .unwrap(),
        CodeCheck::NoLiveCode,
        "a code works only for its purpose"
    );
    assert_eq!(
        store
            .check_code("login", "13800000000", "right", 5)
            .await
            .unwrap(),
        CodeCheck::Accepted
    );
    assert_eq!(
        store
            .check_code("login", "13800000000", "right", 5)
            .await
            .unwrap(),
        CodeCheck::NoLiveCode
    );
    // Sessions; a password change ends all but the one kept.
    for id in ["s1", "s2"] {
        let session = Session {
            id: id.into(),
            user_id: user_id.into(),
            csrf: "c".into(),
            acting_for: None,
            expires_at: qz_store::now() + 60,
            scope: None,
        };
        store.create_session(&session, context).await.unwrap();
    }
    assert_eq!(store.session("s1").await.unwrap().1.id, user_id);
    store
        .set_password(user_id, "$new", Some("s1"), "user.password_changed", context)
        .await
        .unwrap();
    assert!(store.session("s1").await.is_ok());
    assert!(matches!(store.session("s2").await, Err(StoreError::NotFound(_))));
    for _ in 0..2 {
        assert!(!store.login_failed(user_id, 3, 900, context).await.unwrap());
    }
    assert!(store.login_failed(user_id, 3, 900, context).await.unwrap());
    assert!(store.user(user_id).await.unwrap().locked_until > qz_store::now());
    store.delete_session("s1", context).await.unwrap();
    assert!(store.session("s1").await.is_err());
    let expired = Session {
        id: "old".into(),
        user_id: user_id.into(),
        csrf: "c".into(),
        acting_for: None,
        expires_at: qz_store::now() - 1,
        scope: None,
    };
    store.create_session(&expired, context).await.unwrap();
    assert!(
        store.session("old").await.is_err(),
        "an expired session does not open"
    );
    assert!(store.purge_expired().await.unwrap() >= 1);
}

async fn orgs(store: &Store, user_id: &str, context: &TrailContext) {
    let root = store
        .create_internal_org(
            &NewOrg {
                name: "示例大学",
                parent_id: None,
                dept_code: Some("U"),
            },
            context,
        )
        .await
        .unwrap();
    let (created, updated) = store
        .import_tree(
            &[
                ("C1".into(), "计算机学院".into(), Some("U".into())),
                ("D1".into(), "软件系".into(), Some("C1".into())),
                ("U".into(), "示例大学（新名）".into(), None),
            ],
            context,
        )
        .await
        .unwrap();
    assert_eq!((created, updated), (2, 1));
    let tree = store.internal_tree().await.unwrap();
    assert_eq!(tree.len(), 3);
    assert_eq!(store.org(&root.id).await.unwrap().name, "示例大学（新名）");
    // A cycle is refused.
    let college = tree
        .iter()
        .find(|o| o.dept_code.as_deref() == Some("C1"))
        .unwrap();
    let dept = tree
        .iter()
        .find(|o| o.dept_code.as_deref() == Some("D1"))
        .unwrap();
    assert!(matches!(
        store
            .update_internal_org(&college.id, "x学院", Some(&dept.id), context)
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Verification of an outside company: reject, resubmit, approve → the applicant is admin.
    let details = serde_json::json!({
        "name": "示例科技有限公司", "credit_code": "91350100M000100Y43",
        "legal_rep": "王五", "licence_blob": "b1"
    });
    let request = store
        .create_request(RequestKind::OrgVerification, None, user_id, &details, context)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_request(
                RequestKind::OrgVerification,
                Some(&request.org_id),
                user_id,
                &details,
                context
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .decide_request(
            &request,
            RequestStatus::Rejected,
            Some("执照模糊"),
            None,
            Some("admin"),
            context,
        )
        .await
        .unwrap();
    // Deciding from a state that changed meanwhile fails.
    assert!(matches!(
        store
            .decide_request(
                &request,
                RequestStatus::Approved,
                None,
                None,
                Some("admin"),
                context
            )
            .await,
        Err(StoreError::Stale(_))
    ));
    let rejected = store.request(&request.id).await.unwrap();
    assert_eq!(rejected.status, RequestStatus::Rejected);
    store
        .decide_request(
            &rejected,
            RequestStatus::Pending,
            None,
            Some(&details),
            None,
            context,
        )
        .await
        .unwrap();
    let pending = store.request(&request.id).await.unwrap();
    store
        .decide_request(
            &pending,
            RequestStatus::Approved,
            None,
            None,
            Some("admin"),
            context,
        )
        .await
        .unwrap();
    let org = store.org(&request.org_id).await.unwrap();
    assert!(org.verified);
    assert_eq!(org.credit_code.as_deref(), Some("91350100M000100Y43"));
    assert_eq!(
        store.org_by_credit_code("91350100M000100Y43").await.unwrap().id,
        org.id
    );
    assert_eq!(store.org_admin(&org.id).await.unwrap().as_deref(), Some(user_id));
    let mine = store
        .requests_page(
            RequestFilter {
                applicant: Some(user_id),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 1);
    // Members, pagination, transfer.
    let mut others = Vec::new();
    for i in 0..5 {
        let other = store
            .create_user(&format!("1390000000{i}"), "成员", "x", false, context)
            .await
            .unwrap();
        store
            .add_member(&org.id, &other.id, OrgRole::Member, context)
            .await
            .unwrap();
        others.push(other.id);
    }
    let first = store.members_page(&org.id, None, 4).await.unwrap();
    assert_eq!(first.items.len(), 4);
    let second = store
        .members_page(&org.id, first.next.as_deref(), 4)
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(second.next.is_none());
    store.transfer_admin(&org.id, &others[0], context).await.unwrap();
    assert_eq!(
        store.org_admin(&org.id).await.unwrap().as_deref(),
        Some(others[0].as_str())
    );
    let roles = store.memberships(user_id).await.unwrap();
    assert_eq!(
        roles.iter().find(|m| m.org_id == org.id).unwrap().role,
        OrgRole::Member
    );
    store
        .set_role(
            &org.id,
            &others[1],
            OrgRole::Member,
            OrgRole::SealOperator,
            context,
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .set_role(
                &org.id,
                &others[1],
                OrgRole::Member,
                OrgRole::SealOperator,
                context
            )
            .await,
        Err(StoreError::Stale(_))
    ));
    store
        .remove_member(&org.id, &others[2], OrgRole::Member, context)
        .await
        .unwrap();
    assert_eq!(
        store.members_page(&org.id, None, 100).await.unwrap().items.len(),
        5
    );
    // Join request approval adds the member.
    let outsider = store
        .create_user("13700000000", "外人", "x", false, context)
        .await
        .unwrap();
    let join = store
        .create_request(
            RequestKind::Join,
            Some(&org.id),
            &outsider.id,
            &serde_json::json!({}),
            context,
        )
        .await
        .unwrap();
    store
        .decide_request(
            &join,
            RequestStatus::Approved,
            None,
            None,
            Some(&others[0]),
            context,
        )
        .await
        .unwrap();
    assert_eq!(
        store.memberships(&outsider.id).await.unwrap()[0].role,
        OrgRole::Member
    );
}

async fn outbox(store: &Store) {
    for i in 0..3 {
        store
            .enqueue(&NewMessage {
                channel: "sms",
                recipient: "13800000000",
                template: "code",
                subject: "s",
                body: &format!("code {i}"),
                secret: true,
            })
            .await
            .unwrap();
    }
    assert_eq!(store.messages_since("13800000000", "sms", 0).await.unwrap(), 3);
    // Two claims at once never hand out the same message (one may get fewer than it asked
    // for while the other holds the rows; what is left comes with the next claim).
    let (a, b) = tokio::join!(store.claim_messages(2, 60), store.claim_messages(2, 60));
    let mut claimed: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    claimed.extend(store.claim_messages(10, 60).await.unwrap());
    let mut ids: Vec<_> = claimed.iter().map(|m| m.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((claimed.len(), ids.len()), (3, 3));
    assert!(store.claim_messages(10, 60).await.unwrap().is_empty());
    store.message_sent(&claimed[0].id, "sent").await.unwrap();
    store.message_sent(&claimed[1].id, "dev").await.unwrap();
    store.message_failed(&claimed[2].id, "down", None).await.unwrap();
    let page = store.outbox_page(Some("13800000000"), None, 10).await.unwrap();
    let sent = page.items.iter().find(|m| m.id == claimed[0].id).unwrap();
    assert!(
        !sent.body.starts_with("code "),
        "a sent code is blanked: {}",
        sent.body
    );
    assert!(
        page.items
            .iter()
            .any(|m| m.status == "dev" && m.body.starts_with("code "))
    );
    assert!(page.items.iter().any(|m| m.status == "failed"));
}

async fn idempotency(store: &Store) {
    assert_eq!(
        store.begin_idempotent("u", "k", "h1").await.unwrap(),
        IdempotencyBegin::Proceed
    );
    assert_eq!(
        store.begin_idempotent("u", "k", "h1").await.unwrap(),
        IdempotencyBegin::InProgress
    );
    assert_eq!(
        store.begin_idempotent("u", "k", "h2").await.unwrap(),
        IdempotencyBegin::Mismatch
    );
    let response = StoredResponse {
        status: 201,
        body: "{}".into(),
    };
    store.finish_idempotent("u", "k", &response).await.unwrap();
    assert_eq!(
        store.begin_idempotent("u", "k", "h1").await.unwrap(),
        IdempotencyBegin::Replay(response)
    );
    assert_eq!(
        store.begin_idempotent("v", "k", "h1").await.unwrap(),
        IdempotencyBegin::Proceed
    );
    store.abandon_idempotent("v", "k").await.unwrap();
    assert_eq!(
        store.begin_idempotent("v", "k", "h1").await.unwrap(),
        IdempotencyBegin::Proceed
    );
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("qz.db").display());
    let store = Store::connect(&url).await.unwrap();
    suite(&store).await;
    // Reopening runs no migration twice.
    drop(store);
    Store::connect(&url).await.unwrap();
}

#[tokio::test]
async fn postgres() {
    let admin_url = std::env::var("QZ_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    sqlx::any::install_default_drivers();
    let admin = match sqlx::AnyPool::connect(&admin_url).await {
        Ok(pool) => pool,
        Err(err) => {
            // scripts/setup-test-env starts PostgreSQL where it is installed; elsewhere say so.
            if std::env::var_os("CI").is_some() && std::path::Path::new("/usr/lib/postgresql").exists() {
                panic!("PostgreSQL is installed but not reachable at {admin_url}: {err}");
            }
            eprintln!("skipped: no PostgreSQL at {admin_url} ({err})");
            return;
        }
    };
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    let name = format!(
        "qz_test_{}",
        random.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    // `name` is made of hex digits here, never user input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("bad admin URL"),
    };
    let store = Store::connect(&url).await.unwrap();
    suite(&store).await;
    store.pool().close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
}
