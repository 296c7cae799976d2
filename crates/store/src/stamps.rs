//! The one place a stamp is allowed and recorded: [`stamp_in`] runs inside the caller's writing
//! transaction (`Store::record_stamp`, `Store::append_signature`), reads the seal, the actor's
//! memberships, grants and auto-sign grants afresh (share-locked on PostgreSQL) and asks
//! `qz_domain` whether the stamp may happen, then writes the ledger and trail entries.

use sqlx::Row;

use qz_domain::access::{Actor, Membership};
use qz_domain::grant::AutoSignRef;
use qz_domain::org::OrgRole;
use qz_domain::seal::GrantRef;

use crate::seals::{SEAL_COLUMNS, seal_from_row};
use crate::trail::append_event;
use crate::{StampRecord, StoreError, TrailContext, new_id, now, query_text};

fn grant_ref_from_row(row: &sqlx::any::AnyRow) -> Result<GrantRef, StoreError> {
    let scope: String = row.try_get(5)?;
    Ok(GrantRef {
        id: row.try_get(0)?,
        seal_id: row.try_get(1)?,
        grantee: row.try_get(2)?,
        not_before: row.try_get(3)?,
        not_after: row.try_get(4)?,
        scope: serde_json::from_str(&scope).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        revoked_at: row.try_get(6)?,
    })
}

/// The checks and ledger entries of [`Store::record_stamp`], inside the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn stamp_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: crate::Backend,
    actor: &Actor,
    seal_id: &str,
    purpose: Option<&str>,
    document: &str,
    autosign: bool,
    context: &TrailContext,
) -> Result<StampRecord, StoreError> {
    let at = now();
    // PostgreSQL: the rows the decision rests on are share-locked, so a revocation, a
    // disabling or a removal either commits before this reads them or waits for it.
    // SQLite's writers are serialized by BEGIN IMMEDIATE.
    let lock = if backend == crate::Backend::Postgres {
        " FOR SHARE"
    } else {
        ""
    };
    let row = query_text!("SELECT {SEAL_COLUMNS} FROM seals WHERE id = $1{lock}")
        .bind(seal_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("seal"))?;
    let seal = seal_from_row(&row)?;
    let memberships = query_text!("SELECT org_id, role FROM memberships WHERE user_id = $1{lock}")
        .bind(&actor.user_id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| {
            Ok(Membership {
                org_id: row.try_get(0)?,
                role: OrgRole::parse(&row.try_get::<String, _>(1)?)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let actor = Actor {
        memberships,
        ..actor.clone()
    };
    let grants = query_text!(
        "SELECT id, seal_id, grantee, not_before, not_after, scope, revoked_at FROM grants \
         WHERE seal_id = $1 AND grantee = $2 AND revoked_at IS NULL{lock}"
    )
    .bind(seal_id)
    .bind(&actor.user_id)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(grant_ref_from_row)
    .collect::<Result<Vec<_>, _>>()?;
    let grant_id = actor
        .may_stamp(seal.as_ref(), &grants, purpose, at)
        .map_err(StoreError::Rule)?;
    let autosign_id = if autosign {
        let live = crate::grants::live_autosign(tx, &actor.user_id, at, lock).await?;
        Some(
            live.map(|g: AutoSignRef| g.id)
                .ok_or(StoreError::Rule(qz_domain::Error::Forbidden(
                    "no live auto-sign grant",
                )))?,
        )
    } else {
        None
    };
    let use_id = new_id();
    sqlx::query(
        "INSERT INTO seal_uses (id, seal_id, user_id, grant_id, autosign_id, purpose, document, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&use_id)
    .bind(seal_id)
    .bind(&actor.user_id)
    .bind(grant_id.clone())
    .bind(autosign_id.clone())
    .bind(purpose.map(str::to_owned))
    .bind(document)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    let details = serde_json::json!({
        "use_id": use_id, "user_id": actor.user_id, "grant_id": grant_id,
        "autosign_id": autosign_id, "purpose": purpose, "document": document,
    })
    .to_string();
    append_event(tx, &format!("seal:{seal_id}"), "seal.stamped", &details, context).await?;
    append_event(
        tx,
        &format!("document:{document}"),
        "document.stamped",
        &details,
        context,
    )
    .await?;
    if let Some(autosign_id) = &autosign_id {
        sqlx::query(
            "INSERT INTO autosign_uses (id, grant_id, user_id, seal_id, document, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(autosign_id)
        .bind(&actor.user_id)
        .bind(seal_id)
        .bind(document)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        append_event(
            tx,
            &format!("autosign:{autosign_id}"),
            "autosign.used",
            &details,
            context,
        )
        .await?;
    }
    Ok(StampRecord {
        use_id,
        grant_id,
        autosign_id,
    })
}
