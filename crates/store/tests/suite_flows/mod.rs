//! Signing flows in the store, run by `backends.rs` on both databases: compare-and-set on
//! document versions, one signature per signer and document, decisions re-checked inside the
//! transaction, inbox views, expiry.

use qz_domain::access::Actor;
use qz_domain::flow::{FlowStatus, Inbox, SignerStatus};
use qz_domain::seal::{SealKind, SealOwner};
use qz_store::{NewFlow, NewSeal, NewSigner, Store, StoreError, TrailContext};

fn actor(user_id: &str) -> Actor {
    Actor {
        user_id: user_id.into(),
        platform_admin: false,
        identity_verified: true,
        memberships: Vec::new(),
    }
}

async fn name_seal(store: &Store, user: &str, blob: &str, context: &TrailContext) -> qz_store::Seal {
    store
        .create_seal(
            &NewSeal {
                owner: SealOwner::Person(user),
                kind: SealKind::Name,
                name: "名章",
                blob_id: blob,
                is_default: true,
            },
            context,
        )
        .await
        .unwrap()
}

pub async fn flows(store: &Store, context: &TrailContext) {
    let a = store
        .create_user("13600000201", "甲", "x", false, context)
        .await
        .unwrap();
    let b = store
        .create_user("13600000202", "乙", "x", false, context)
        .await
        .unwrap();
    let c = store
        .create_user("13600000203", "丙", "x", false, context)
        .await
        .unwrap();
    let blob = store
        .create_blob(&"cd".repeat(32), 100, "application/pdf", &a.id, context)
        .await
        .unwrap();
    let seal_a = name_seal(store, &a.id, &blob.id, context).await;
    let seal_b = name_seal(store, &b.id, &blob.id, context).await;
    let now = qz_store::now();
    let new = NewFlow {
        title: "采购合同",
        business_type: None,
        initiator: &a.id,
        acting_for: None,
        deadline: Some(now + 3600),
        documents: vec![("合同.pdf".into(), blob.id.clone(), "cd".repeat(32), 100)],
        signers: vec![
            NewSigner {
                stage: 0,
                user_id: Some(a.id.clone()),
                org_id: None,
                may_decline: true,
                positions: serde_json::json!([]),
                expected: None,
            },
            NewSigner {
                stage: 1,
                user_id: Some(b.id.clone()),
                org_id: None,
                may_decline: false,
                positions: serde_json::json!([]),
                expected: None,
            },
        ],
        cc: vec![c.id.clone()],
    };
    let flow = store.create_flow(&new, context).await.unwrap();
    assert_eq!(flow.status, FlowStatus::InProgress);
    let (slot_a, slot_b) = (flow.signers[0].id.clone(), flow.signers[1].id.clone());
    let inbox = |user: String, view| async move {
        store
            .inbox(&user, view, None, 20)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|f| f.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        inbox(a.id.clone(), Inbox::Todo).await,
        std::slice::from_ref(&flow.id)
    );
    assert!(inbox(b.id.clone(), Inbox::Todo).await.is_empty());
    assert_eq!(
        inbox(b.id.clone(), Inbox::WaitingOthers).await,
        std::slice::from_ref(&flow.id)
    );
    assert_eq!(
        inbox(c.id.clone(), Inbox::Cc).await,
        std::slice::from_ref(&flow.id)
    );
    assert!(store.may_see_flow(&c.id, &flow.id).await.unwrap());

    // B's turn has not come.
    assert!(matches!(
        store
            .append_signature(
                &actor(&b.id),
                &flow.id,
                &slot_b,
                0,
                0,
                &"01".repeat(32),
                101,
                &seal_b.id,
                false,
                context
            )
            .await,
        Err(StoreError::Rule(qz_domain::Error::State(_)))
    ));
    // A appends to version 0; appending again on the old version is stale, a second
    // signature of A on the document a conflict.
    store
        .append_signature(
            &actor(&a.id),
            &flow.id,
            &slot_a,
            0,
            0,
            &"02".repeat(32),
            102,
            &seal_a.id,
            false,
            context,
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .append_signature(
                &actor(&a.id),
                &flow.id,
                &slot_a,
                0,
                0,
                &"03".repeat(32),
                103,
                &seal_a.id,
                false,
                context
            )
            .await,
        Err(StoreError::Stale(_))
    ));
    assert!(matches!(
        store
            .append_signature(
                &actor(&a.id),
                &flow.id,
                &slot_a,
                0,
                1,
                &"03".repeat(32),
                103,
                &seal_a.id,
                false,
                context
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.signed_documents(&slot_a).await.unwrap(), [0]);
    let flow1 = store
        .finish_signer(&actor(&a.id), &flow.id, &slot_a, context)
        .await
        .unwrap();
    assert_eq!(flow1.signers[0].status, SignerStatus::Signed);
    assert_eq!(flow1.documents[0].version, 1);
    assert_eq!(flow1.documents[0].current_sha256, "02".repeat(32));
    assert_eq!(
        inbox(b.id.clone(), Inbox::Todo).await,
        std::slice::from_ref(&flow.id)
    );
    // B may not decline (the initiator said so); finishing without signing is refused.
    assert!(matches!(
        store
            .decline_flow(&actor(&b.id), &flow.id, &slot_b, "不同意", context)
            .await,
        Err(StoreError::Rule(qz_domain::Error::Forbidden(_)))
    ));
    assert!(matches!(
        store
            .finish_signer(&actor(&b.id), &flow.id, &slot_b, context)
            .await,
        Err(StoreError::Rule(qz_domain::Error::State(_)))
    ));
    store
        .append_signature(
            &actor(&b.id),
            &flow.id,
            &slot_b,
            0,
            1,
            &"04".repeat(32),
            104,
            &seal_b.id,
            false,
            context,
        )
        .await
        .unwrap();
    let done = store
        .finish_signer(&actor(&b.id), &flow.id, &slot_b, context)
        .await
        .unwrap();
    assert_eq!(done.status, FlowStatus::Completed);
    assert!(done.ended_at.is_some());
    assert_eq!(
        inbox(c.id.clone(), Inbox::Completed).await,
        std::slice::from_ref(&flow.id)
    );
    assert!(matches!(
        store.revoke_flow(&actor(&a.id), &flow.id, "晚了", context).await,
        Err(StoreError::Rule(qz_domain::Error::State(_)))
    ));
    let stats = store.seal_stats(&seal_a.id, now - 60, now + 60).await.unwrap();
    assert_eq!(stats.total, 1);

    // Decline, revoke, expiry.
    let declined = store.create_flow(&new, context).await.unwrap();
    let out = store
        .decline_flow(
            &actor(&a.id),
            &declined.id,
            &declined.signers[0].id,
            "条款有误",
            context,
        )
        .await
        .unwrap();
    assert_eq!(
        (out.status, out.reason.as_deref()),
        (FlowStatus::Declined, Some("条款有误"))
    );
    let revoked = store.create_flow(&new, context).await.unwrap();
    assert!(matches!(
        store.revoke_flow(&actor(&b.id), &revoked.id, "x", context).await,
        Err(StoreError::Rule(qz_domain::Error::Forbidden(_)))
    ));
    store
        .revoke_flow(&actor(&a.id), &revoked.id, "撤回", context)
        .await
        .unwrap();
    let void = inbox(a.id.clone(), Inbox::Void).await;
    assert_eq!(void, [revoked.id.clone(), declined.id.clone()]);
    let late = store.create_flow(&new, context).await.unwrap();
    assert_eq!(
        store.expire_flows(now + 3600).await.unwrap(),
        std::slice::from_ref(&late.id)
    );
    assert!(store.expire_flows(now + 3600).await.unwrap().is_empty());
    assert_eq!(store.flow(&late.id).await.unwrap().status, FlowStatus::Expired);
    assert!(
        !store
            .may_see_flow(
                &store
                    .create_user("13600000204", "丁", "x", false, context)
                    .await
                    .unwrap()
                    .id,
                &late.id
            )
            .await
            .unwrap()
    );
}
