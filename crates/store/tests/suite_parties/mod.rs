//! Guests, pending signatures, abnormal tasks and settings in the store, run by `backends.rs`
//! on both databases: a guest account is made once per phone, a link is spent once (and a
//! newer link retires the older), a pending signature ends once, failures list per initiator.

use qz_store::{
    GuestLink, NewFlow, NewPending, NewSigner, PendingDocument, Session, Store, StoreError, TrailContext,
};

pub async fn parties(store: &Store, context: &TrailContext) {
    let initiator = store
        .create_user("13600000301", "发起人", "x", false, context)
        .await
        .unwrap();
    // A guest account: made once per phone, a registered person's phone keeps its account.
    let guest = store.guest_user("13600000302", "外部人", context).await.unwrap();
    assert!(guest.guest && guest.password_hash == qz_store::NO_PASSWORD);
    assert_eq!(
        store.guest_user("13600000302", "别名", context).await.unwrap().id,
        guest.id
    );
    let registered = store.guest_user("13600000301", "冒名", context).await.unwrap();
    assert_eq!(registered.id, initiator.id);
    assert!(!registered.guest);

    let blob = store
        .create_blob(&"ef".repeat(32), 10, "application/pdf", &initiator.id, context)
        .await
        .unwrap();
    let flow = store
        .create_flow(
            &NewFlow {
                title: "外部签署",
                business_type: None,
                initiator: &initiator.id,
                acting_for: None,
                deadline: None,
                documents: vec![("a.pdf".into(), blob.id.clone(), "ef".repeat(32), 10)],
                signers: vec![NewSigner {
                    stage: 0,
                    user_id: Some(guest.id.clone()),
                    org_id: None,
                    may_decline: true,
                    positions: serde_json::json!([]),
                    expected: None,
                }],
                cc: Vec::new(),
            },
            context,
        )
        .await
        .unwrap();
    let slot = flow.signers[0].id.clone();
    let link = GuestLink {
        flow_id: flow.id.clone(),
        signer_id: slot.clone(),
        user_id: guest.id.clone(),
        expires_at: qz_store::now() + 600,
        spent_at: None,
    };
    store.create_guest_link("hash-1", &link, context).await.unwrap();
    assert_eq!(store.guest_link("hash-1").await.unwrap().signer_id, slot);
    // A newer link retires the older one.
    store.create_guest_link("hash-2", &link, context).await.unwrap();
    assert!(matches!(
        store.guest_link("hash-1").await,
        Err(StoreError::NotFound(_))
    ));
    let session = |id: &str| Session {
        id: id.into(),
        user_id: String::new(),
        csrf: "c".into(),
        acting_for: None,
        expires_at: qz_store::now() + 60,
        scope: None,
    };
    let spent = store
        .spend_guest_link("hash-2", &session("guest-session"), context)
        .await
        .unwrap();
    assert!(spent.spent_at.is_some());
    // The session belongs to the guest and is scoped to the flow, whatever the caller passed.
    let (opened, user) = store.session("guest-session").await.unwrap();
    assert_eq!(user.id, guest.id);
    assert_eq!(opened.scope.as_deref(), Some(flow.id.as_str()));
    // Spent once.
    assert!(matches!(
        store
            .spend_guest_link("hash-2", &session("second"), context)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.session("second").await.is_err());
    // Expired links do not open.
    let old = GuestLink {
        expires_at: qz_store::now() - 1,
        ..link.clone()
    };
    store.create_guest_link("hash-3", &old, context).await.unwrap();
    assert!(store.guest_link("hash-3").await.is_err());

    // Pending signatures: one live per slot, ended once.
    let new = |expires_at| NewPending {
        flow_id: &flow.id,
        signer_id: &slot,
        user_id: &guest.id,
        seal_id: "seal",
        method: "token",
        certificate_id: "cert",
        signing_time: 1,
        placements: serde_json::json!([{"document": 0, "page": 1, "x": 1.0, "y": 2.0}]),
        documents: vec![PendingDocument {
            idx: 0,
            version: 0,
            to_be_signed: "3100".into(),
            digest: "ab".repeat(32),
        }],
        expires_at,
    };
    let first = store
        .create_pending(&new(qz_store::now() + 600), context)
        .await
        .unwrap();
    assert_eq!(first.status, "pending");
    assert_eq!(first.documents[0].to_be_signed, "3100");
    let second = store
        .create_pending(&new(qz_store::now() + 600), context)
        .await
        .unwrap();
    assert_eq!(
        store.pending_signature(&first.id).await.unwrap().status,
        "replaced"
    );
    let live: Vec<String> = store
        .pending_of_user(&guest.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(live, vec![second.id.clone()]);
    assert!(
        store
            .end_pending(&second.id, "done", None, context)
            .await
            .unwrap()
    );
    assert!(
        !store
            .end_pending(&second.id, "cancelled", None, context)
            .await
            .unwrap()
    );
    assert!(store.pending_of_user(&guest.id).await.unwrap().is_empty());
    let expired = store
        .create_pending(&new(qz_store::now() - 1), context)
        .await
        .unwrap();
    assert!(store.pending_of_user(&guest.id).await.unwrap().is_empty());
    assert_eq!(expired.status, "pending");

    // Abnormal tasks, by initiator.
    store
        .record_flow_failure(&flow.id, Some(&slot), "notification", &"x".repeat(900))
        .await
        .unwrap();
    let mine = store.flow_failures(Some(&initiator.id), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].reason.chars().count(), 500);
    assert_eq!(mine[0].title, "外部签署");
    assert!(store.flow_failures(Some(&guest.id), 10).await.unwrap().is_empty());
    assert!(!store.flow_failures(None, 10).await.unwrap().is_empty());

    // Settings replace their value, and the change is in the trail.
    store
        .put_setting("settings:test", "{\"a\":1}", context)
        .await
        .unwrap();
    store
        .put_setting("settings:test", "{\"a\":2}", context)
        .await
        .unwrap();
    assert_eq!(
        store.setting("settings:test").await.unwrap().as_deref(),
        Some("{\"a\":2}")
    );
    assert_eq!(store.trail("setting:settings:test").await.unwrap().len(), 2);
}
