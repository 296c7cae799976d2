//! Seals, grants, stamps, auto-sign and certificates, run by `backends.rs` on both databases.

use qz_domain::access::Actor;
use qz_domain::grant::GrantRequestStatus;
use qz_domain::org::OrgRole;
use qz_domain::seal::{SealKind, SealOwner, SealStatus};
use qz_store::{Custody, NewCertificate, NewGrant, NewOrg, NewSeal, Store, StoreError, TrailContext};

fn actor(user_id: &str) -> Actor {
    Actor {
        user_id: user_id.into(),
        platform_admin: false,
        identity_verified: true,
        memberships: Vec::new(),
    }
}

fn cert<'a>(id: &'a str, serial: &'a str, now: i64) -> NewCertificate<'a> {
    NewCertificate {
        id,
        owner_user: None,
        owner_org: None,
        serial,
        subject: "CN=赵六",
        custody: Custody::Hosted,
        algorithm: "p256",
        cert_der: b"der",
        key_sealed: Some(b"sealed"),
        not_after: now + 86_400,
    }
}

pub async fn seals(store: &Store, context: &TrailContext) {
    let admin = store
        .create_user("13700000101", "王五", "x", false, context)
        .await
        .unwrap();
    let member = store
        .create_user("13700000102", "赵六", "x", false, context)
        .await
        .unwrap();
    let outsider = store
        .create_user("13700000103", "钱七", "x", false, context)
        .await
        .unwrap();
    let org = store
        .create_internal_org(
            &NewOrg {
                name: "印章测试部",
                parent_id: None,
                dept_code: Some("SEAL-1"),
            },
            context,
        )
        .await
        .unwrap();
    store
        .add_member(&org.id, &admin.id, OrgRole::Admin, context)
        .await
        .unwrap();
    store
        .add_member(&org.id, &member.id, OrgRole::Member, context)
        .await
        .unwrap();
    let blob = store
        .create_blob(&"ab".repeat(32), 10, "image/png", &admin.id, context)
        .await
        .unwrap();

    // A person's default and handwriting seals: a new one replaces the old.
    let first = store
        .create_seal(
            &NewSeal {
                owner: SealOwner::Person(&member.id),
                kind: SealKind::Handwriting,
                name: "手写签名",
                blob_id: &blob.id,
                is_default: false,
            },
            context,
        )
        .await
        .unwrap();
    let second = store
        .create_seal(
            &NewSeal {
                owner: SealOwner::Person(&member.id),
                kind: SealKind::Handwriting,
                name: "手写签名",
                blob_id: &blob.id,
                is_default: false,
            },
            context,
        )
        .await
        .unwrap();
    let listed = store.seals_of_user(&member.id).await.unwrap();
    assert_eq!(listed.iter().map(|s| &s.id).collect::<Vec<_>>(), [&second.id]);
    assert_eq!(store.seal(&first.id).await.unwrap().status, SealStatus::Deleted);

    let seal = store
        .create_seal(
            &NewSeal {
                owner: SealOwner::Org(&org.id),
                kind: SealKind::Official,
                name: "印章测试部公章",
                blob_id: &blob.id,
                is_default: false,
            },
            context,
        )
        .await
        .unwrap();
    assert_eq!(
        store.seals_of_org(&org.id).await.unwrap(),
        std::slice::from_ref(&seal)
    );

    // No grant: refused inside the transaction, nothing recorded.
    let refused = store
        .record_stamp(&actor(&member.id), &seal.id, None, "doc-0", false, context)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Rule(qz_domain::Error::Forbidden(_)))),
        "{refused:?}"
    );
    let now = qz_store::now();
    let grant = store
        .create_grant(
            &NewGrant {
                seal_id: &seal.id,
                org_id: &org.id,
                grantee: &member.id,
                not_before: now - 10,
                not_after: now + 3600,
                scope: &[],
            },
            context,
        )
        .await
        .unwrap();
    let stamped = store
        .record_stamp(
            &actor(&member.id),
            &seal.id,
            Some("合同"),
            "doc-1",
            false,
            context,
        )
        .await
        .unwrap();
    assert_eq!(stamped.grant_id.as_deref(), Some(grant.id.as_str()));
    // The memberships are read afresh: a stale actor with an outsider's id gets nothing.
    assert!(matches!(
        store
            .record_stamp(&actor(&outsider.id), &seal.id, None, "doc-x", false, context)
            .await,
        Err(StoreError::Rule(qz_domain::Error::Hidden))
    ));
    // Auto-sign needs a live grant.
    assert!(matches!(
        store
            .record_stamp(&actor(&member.id), &seal.id, None, "doc-2", true, context)
            .await,
        Err(StoreError::Rule(qz_domain::Error::Forbidden(_)))
    ));
    let autosign = store
        .create_autosign(&member.id, 3600, "sms_code", None, context)
        .await
        .unwrap();
    let auto = store
        .record_stamp(&actor(&member.id), &seal.id, None, "doc-2", true, context)
        .await
        .unwrap();
    assert_eq!(auto.autosign_id.as_deref(), Some(autosign.id.as_str()));
    let ledger = store.autosign_uses_page(&member.id, None, 10).await.unwrap();
    assert_eq!(ledger.items.len(), 1);
    assert_eq!(ledger.items[0].document, "doc-2");
    store.revoke_autosign(&autosign, context).await.unwrap();
    assert!(
        store
            .record_stamp(&actor(&member.id), &seal.id, None, "doc-3", true, context)
            .await
            .is_err()
    );
    // A second enabling replaces a live one.
    let a1 = store
        .create_autosign(&member.id, 60, "sms_code", None, context)
        .await
        .unwrap();
    let a2 = store
        .create_autosign(&member.id, 60, "sms_code", None, context)
        .await
        .unwrap();
    assert!(store.autosign(&a1.id).await.unwrap().revoked_at.is_some());
    assert!(store.autosign(&a2.id).await.unwrap().revoked_at.is_none());
    // An escrowed share is there while the grant lives and gone once it is revoked.
    let a3 = store
        .create_autosign(
            &member.id,
            60,
            "cosign_password",
            Some(("key-9", b"sealed-share")),
            context,
        )
        .await
        .unwrap();
    assert_eq!(
        store.autosign_escrow(&member.id).await.unwrap(),
        Some((a3.id.clone(), "key-9".to_owned(), b"sealed-share".to_vec()))
    );
    store.revoke_autosign(&a3, context).await.unwrap();
    assert_eq!(store.autosign_escrow(&member.id).await.unwrap(), None);
    assert!(store.autosign(&a2.id).await.unwrap().revoked_at.is_some());

    let stats = store.seal_stats(&seal.id, now - 60, now + 60).await.unwrap();
    assert_eq!(stats.total, 2);
    assert_eq!(stats.by_user, [(member.id.clone(), 2)]);
    assert_eq!(stats.by_day.len(), 1);
    assert!(
        store
            .seal_uses_page(&seal.id, None, 1)
            .await
            .unwrap()
            .next
            .is_some()
    );

    // Disabled seals and revoked grants stop stamping.
    store
        .set_seal_status(&seal.id, SealStatus::Enabled, SealStatus::Disabled, context)
        .await
        .unwrap();
    assert!(matches!(
        store
            .record_stamp(&actor(&member.id), &seal.id, None, "doc-4", false, context)
            .await,
        Err(StoreError::Rule(qz_domain::Error::State(_)))
    ));
    assert!(matches!(
        store
            .set_seal_status(&seal.id, SealStatus::Enabled, SealStatus::Disabled, context)
            .await,
        Err(StoreError::Stale(_))
    ));
    store
        .set_seal_status(&seal.id, SealStatus::Disabled, SealStatus::Enabled, context)
        .await
        .unwrap();
    store.revoke_grant(&grant, context).await.unwrap();
    assert!(matches!(
        store.revoke_grant(&grant, context).await,
        Err(StoreError::Stale(_))
    ));
    assert!(
        store
            .record_stamp(&actor(&member.id), &seal.id, None, "doc-5", false, context)
            .await
            .is_err()
    );

    // Grant requests: one pending per seal and applicant; approval creates the grant.
    let new = NewGrant {
        seal_id: &seal.id,
        org_id: &org.id,
        grantee: &member.id,
        not_before: now,
        not_after: now + 600,
        scope: &["合同".to_owned()],
    };
    let request = store.create_grant_request(&new, "签合同", context).await.unwrap();
    assert!(matches!(
        store.create_grant_request(&new, "again", context).await,
        Err(StoreError::Conflict(_))
    ));
    let listed = store
        .grant_requests(
            std::slice::from_ref(&org.id),
            None,
            Some(GrantRequestStatus::Pending),
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let approved = store
        .decide_grant_request(&request, GrantRequestStatus::Approved, None, context)
        .await
        .unwrap();
    let granted = store.grant(approved.grant_id.as_deref().unwrap()).await.unwrap();
    assert_eq!(granted.scope, ["合同"]);
    assert_eq!(granted.request_id.as_deref(), Some(request.id.as_str()));
    assert!(matches!(
        store
            .decide_grant_request(&request, GrantRequestStatus::Rejected, Some("no"), context)
            .await,
        Err(StoreError::Stale(_))
    ));
    // The scope binds: the purpose must be listed.
    assert!(
        store
            .record_stamp(
                &actor(&member.id),
                &seal.id,
                Some("财务"),
                "doc-6",
                false,
                context
            )
            .await
            .is_err()
    );
    store
        .record_stamp(
            &actor(&member.id),
            &seal.id,
            Some("合同"),
            "doc-6",
            false,
            context,
        )
        .await
        .unwrap();

    // Certificates: one active per owner, the previous superseded; leaving the organization
    // revokes the person's certificate and grants.
    let id1 = store.new_certificate_id();
    let id2 = store.new_certificate_id();
    let c1 = store
        .insert_certificate(
            &NewCertificate {
                owner_user: Some(&member.id),
                ..cert(&id1, "01aa", now)
            },
            None,
            context,
        )
        .await
        .unwrap();
    let c2 = store
        .insert_certificate(
            &NewCertificate {
                owner_user: Some(&member.id),
                ..cert(&id2, "01bb", now)
            },
            None,
            context,
        )
        .await
        .unwrap();
    let old = store.certificate(&c1.id).await.unwrap();
    assert_eq!((old.status.as_str(), old.revoke_reason), ("revoked", Some(4)));
    assert_eq!(
        store
            .active_certificate(Some(&member.id), None)
            .await
            .unwrap()
            .map(|c| c.id),
        Some(c2.id.clone())
    );
    assert_eq!(
        store.certificate(&c2.id).await.unwrap().key_sealed.as_deref(),
        Some(&b"sealed"[..])
    );
    let changes = store.certificate_changes(now - 5).await.unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c.serial == "01aa" && c.revoked_at.is_some())
    );
    store
        .remove_member(&org.id, &member.id, OrgRole::Member, context)
        .await
        .unwrap();
    let left = store.certificate(&c2.id).await.unwrap();
    assert_eq!((left.status.as_str(), left.revoke_reason), ("revoked", Some(3)));
    assert!(
        store
            .grants_of_user(&member.id)
            .await
            .unwrap()
            .iter()
            .all(|g| g.revoked_at.is_some())
    );

    // Co-sign enrolment: an invitation works once; a superseded key is retired.
    let expires = store
        .create_cosign_invite("digest-1", &admin.id, 600, context)
        .await
        .unwrap();
    assert!(expires > now);
    let user = store
        .start_cosign_enrolment("digest-1", "key-1", "04ab", b"share", context)
        .await
        .unwrap();
    assert_eq!(user, admin.id);
    assert!(matches!(
        store
            .start_cosign_enrolment("digest-1", "key-2", "04ab", b"share", context)
            .await,
        Err(StoreError::NotFound(_))
    ));
    let id3 = store.new_certificate_id();
    store
        .insert_certificate(
            &NewCertificate {
                owner_user: Some(&admin.id),
                custody: Custody::Cosign,
                key_sealed: None,
                ..cert(&id3, "01cc", now)
            },
            Some("key-1"),
            context,
        )
        .await
        .unwrap();
    assert_eq!(store.cosign_key("key-1").await.unwrap().status, "active");
    let active = store
        .active_certificate(Some(&admin.id), None)
        .await
        .unwrap()
        .unwrap();
    store.revoke_certificate(&active, 1, context).await.unwrap();
    assert_eq!(store.cosign_key("key-1").await.unwrap().status, "retired");
}
