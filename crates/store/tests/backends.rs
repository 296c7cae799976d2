//! The same suite on SQLite and PostgreSQL. PostgreSQL is the one at 127.0.0.1:5432 (or
//! `QZ_TEST_POSTGRES`, an admin URL); each run creates its own database and drops it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use qz_store::{Store, StoreError, TrailContext};

async fn suite(store: &Store) {
    let context = TrailContext {
        actor: Some("admin".into()),
        ip: Some("127.0.0.1".into()),
        ..Default::default()
    };
    let user = store
        .create_user("13800000000", "张三", "$argon2id$fake", &context)
        .await
        .unwrap();
    assert_eq!(store.user_by_phone("13800000000").await.unwrap(), user);
    assert!(matches!(
        store.create_user("13800000000", "李四", "x", &context).await,
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
