//! Seals, handwriting capture links and the stamp ledger.
//!
//! Stamping goes through [`Store::record_stamp`] (or a flow's `append_signature`), both built on
//! `stamps::stamp_in`, so a grant revoked a moment earlier can never be used, whatever the
//! handler checked before.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use qz_domain::access::Actor;
use qz_domain::seal::{SealKind, SealOwner, SealRef, SealStatus};

use crate::trail::append_event;
use crate::{Page, Store, StoreError, TrailContext, begin_write, conflict, new_id, now, query_text};

/// A seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seal {
    /// Id.
    pub id: String,
    /// Owning person.
    pub owner_user: Option<String>,
    /// Owning organization.
    pub owner_org: Option<String>,
    /// Kind.
    #[serde(serialize_with = "kind_name")]
    pub kind: SealKind,
    /// Display name.
    pub name: String,
    /// The PNG.
    pub blob_id: String,
    /// Status.
    #[serde(serialize_with = "status_name")]
    pub status: SealStatus,
    /// The person's default seal.
    pub is_default: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

fn kind_name<S: serde::Serializer>(kind: &SealKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

fn status_name<S: serde::Serializer>(status: &SealStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

impl Seal {
    /// The facts the rules look at.
    pub fn as_ref(&self) -> SealRef<'_> {
        SealRef {
            id: &self.id,
            owner: match (&self.owner_user, &self.owner_org) {
                (Some(user), _) => SealOwner::Person(user),
                (None, Some(org)) => SealOwner::Org(org),
                // The table's CHECK makes this impossible; treat it as nobody's.
                (None, None) => SealOwner::Org(""),
            },
            status: self.status,
        }
    }
}

pub(crate) const SEAL_COLUMNS: &str =
    "id, owner_user, owner_org, kind, name, blob_id, status, is_default, created_at, updated_at";

pub(crate) fn seal_from_row(row: &AnyRow) -> Result<Seal, StoreError> {
    Ok(Seal {
        id: row.try_get(0)?,
        owner_user: row.try_get(1)?,
        owner_org: row.try_get(2)?,
        kind: SealKind::parse(&row.try_get::<String, _>(3)?)?,
        name: row.try_get(4)?,
        blob_id: row.try_get(5)?,
        status: SealStatus::parse(&row.try_get::<String, _>(6)?)?,
        is_default: row.try_get::<i64, _>(7)? != 0,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
    })
}

/// A seal to create.
#[derive(Debug, Clone)]
pub struct NewSeal<'a> {
    /// Owner.
    pub owner: SealOwner<'a>,
    /// Kind.
    pub kind: SealKind,
    /// Display name.
    pub name: &'a str,
    /// The PNG blob.
    pub blob_id: &'a str,
    /// The person's default seal.
    pub is_default: bool,
}

/// What allowed a stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StampRecord {
    /// Ledger entry id.
    pub use_id: String,
    /// The grant, for an organization seal.
    pub grant_id: Option<String>,
    /// The auto-sign grant, when the platform signed for the person.
    pub autosign_id: Option<String>,
}

/// Uses of one seal in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealStats {
    /// Seal id.
    pub seal_id: String,
    /// Stamps in the period.
    pub total: i64,
    /// Stamps per user.
    pub by_user: Vec<(String, i64)>,
    /// Stamps per day (UTC+8, `YYYY-MM-DD`).
    pub by_day: Vec<(String, i64)>,
}

/// One entry of the stamp ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealUse {
    /// Id.
    pub id: String,
    /// Seal.
    pub seal_id: String,
    /// Who stamped.
    pub user_id: String,
    /// The grant that allowed it.
    pub grant_id: Option<String>,
    /// The auto-sign grant, if the platform signed.
    pub autosign_id: Option<String>,
    /// Business type.
    pub purpose: Option<String>,
    /// The document: `sha256:` and the hash of the stamped result.
    pub document: String,
    /// Unix seconds.
    pub at: i64,
}

async fn load_seal<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    id: &str,
) -> Result<Seal, StoreError> {
    let row = query_text!("SELECT {SEAL_COLUMNS} FROM seals WHERE id = $1")
        .bind(id)
        .fetch_optional(executor)
        .await?
        .ok_or(StoreError::NotFound("seal"))?;
    seal_from_row(&row)
}

impl Store {
    /// Creates a seal. A new default or handwriting seal replaces the person's previous one
    /// (soft-deleted in the same transaction: the last capture wins).
    pub async fn create_seal(&self, new: &NewSeal<'_>, context: &TrailContext) -> Result<Seal, StoreError> {
        let mut tx = begin_write(self).await?;
        let id = insert_seal(&mut tx, new, context).await?;
        let seal = load_seal(&mut *tx, &id).await?;
        tx.commit().await?;
        Ok(seal)
    }

    /// One seal, deleted ones included (callers hide those).
    pub async fn seal(&self, id: &str) -> Result<Seal, StoreError> {
        load_seal(&self.pool, id).await
    }

    /// A person's seals that are not deleted.
    pub async fn seals_of_user(&self, user_id: &str) -> Result<Vec<Seal>, StoreError> {
        let rows = query_text!(
            "SELECT {SEAL_COLUMNS} FROM seals WHERE owner_user = $1 AND status <> 'deleted' ORDER BY id"
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(seal_from_row).collect()
    }

    /// An organization's seals that are not deleted.
    pub async fn seals_of_org(&self, org_id: &str) -> Result<Vec<Seal>, StoreError> {
        let rows = query_text!(
            "SELECT {SEAL_COLUMNS} FROM seals WHERE owner_org = $1 AND status <> 'deleted' ORDER BY id"
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(seal_from_row).collect()
    }

    /// Moves a seal from `from` to `to` (the domain checked the transition). Deleting a seal
    /// also revokes its grants.
    pub async fn set_seal_status(
        &self,
        id: &str,
        from: SealStatus,
        to: SealStatus,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let at = now();
        let updated =
            sqlx::query("UPDATE seals SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4")
                .bind(id)
                .bind(to.as_str())
                .bind(at)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale("the seal"));
        }
        if to == SealStatus::Deleted {
            sqlx::query(
                "UPDATE grants SET revoked_at = $2, revoked_by = $3 WHERE seal_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(at)
            .bind(context.actor.clone())
            .execute(&mut *tx)
            .await?;
        }
        let details = serde_json::json!({ "from": from.as_str(), "to": to.as_str() }).to_string();
        append_event(
            &mut tx,
            &format!("seal:{id}"),
            &format!("seal.{}", to.as_str()),
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a stamp after checking, inside the transaction, that `actor` may stamp the seal
    /// now: the seal's state, the actor's membership and grants are read afresh. With
    /// `autosign`, a live auto-sign grant of the actor must exist and is named in the ledger.
    pub async fn record_stamp(
        &self,
        actor: &Actor,
        seal_id: &str,
        purpose: Option<&str>,
        document: &str,
        autosign: bool,
        context: &TrailContext,
    ) -> Result<StampRecord, StoreError> {
        let mut tx = begin_write(self).await?;
        let record = crate::stamps::stamp_in(
            &mut tx,
            self.backend,
            actor,
            seal_id,
            purpose,
            document,
            autosign,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Uses of a seal in `[from, to)`: totals per user and per day (China time).
    pub async fn seal_stats(&self, seal_id: &str, from: i64, to: i64) -> Result<SealStats, StoreError> {
        let rows =
            sqlx::query("SELECT user_id, at FROM seal_uses WHERE seal_id = $1 AND at >= $2 AND at < $3")
                .bind(seal_id)
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?;
        let mut by_user = std::collections::BTreeMap::<String, i64>::new();
        let mut by_day = std::collections::BTreeMap::<String, i64>::new();
        for row in &rows {
            let user: String = row.try_get(0)?;
            let at: i64 = row.try_get(1)?;
            *by_user.entry(user).or_default() += 1;
            *by_day.entry(china_day(at)).or_default() += 1;
        }
        Ok(SealStats {
            seal_id: seal_id.to_owned(),
            total: i64::try_from(rows.len()).unwrap_or(i64::MAX),
            by_user: by_user.into_iter().collect(),
            by_day: by_day.into_iter().collect(),
        })
    }

    /// One page of a seal's ledger, oldest first.
    pub async fn seal_uses_page(
        &self,
        seal_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<SealUse>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, seal_id, user_id, grant_id, autosign_id, purpose, document, at FROM seal_uses \
             WHERE seal_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(seal_id)
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(SealUse {
                    id: row.try_get(0)?,
                    seal_id: row.try_get(1)?,
                    user_id: row.try_get(2)?,
                    grant_id: row.try_get(3)?,
                    autosign_id: row.try_get(4)?,
                    purpose: row.try_get(5)?,
                    document: row.try_get(6)?,
                    at: row.try_get(7)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_rows(items, limit, |u| u.id.clone()))
    }

    /// Stores a capture link (by the SHA-256 of its token).
    pub async fn create_capture_link(
        &self,
        token_digest: &str,
        user_id: &str,
        ttl: i64,
        context: &TrailContext,
    ) -> Result<i64, StoreError> {
        let mut tx = begin_write(self).await?;
        let at = now();
        sqlx::query(
            "INSERT INTO capture_links (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_digest)
        .bind(user_id)
        .bind(at)
        .bind(at + ttl)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "handwriting.link_created",
            "{}",
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(at + ttl)
    }

    /// The user a live, unused capture link belongs to.
    pub async fn capture_link_user(&self, token_digest: &str) -> Result<String, StoreError> {
        let row = sqlx::query(
            "SELECT user_id FROM capture_links WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_digest)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("capture link"))?;
        Ok(row.try_get(0)?)
    }

    /// Spends a capture link on a handwriting seal: the link is marked used and the new seal
    /// replaces the old one, in one transaction (a link works once; a failure keeps it).
    pub async fn use_capture_link(
        &self,
        token_digest: &str,
        blob_id: &str,
        context: &TrailContext,
    ) -> Result<Seal, StoreError> {
        let mut tx = begin_write(self).await?;
        let at = now();
        let row = sqlx::query(
            "SELECT user_id FROM capture_links WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_digest)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("capture link"))?;
        let user_id: String = row.try_get(0)?;
        let seal_id = insert_seal(
            &mut tx,
            &NewSeal {
                owner: SealOwner::Person(&user_id),
                kind: SealKind::Handwriting,
                name: "手写签名",
                blob_id,
                is_default: false,
            },
            context,
        )
        .await?;
        let used = sqlx::query(
            "UPDATE capture_links SET used_at = $2, seal_id = $3 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_digest)
        .bind(at)
        .bind(&seal_id)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Err(StoreError::NotFound("capture link"));
        }
        let seal = load_seal(&mut *tx, &seal_id).await?;
        tx.commit().await?;
        Ok(seal)
    }
}

async fn insert_seal(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    new: &NewSeal<'_>,
    context: &TrailContext,
) -> Result<String, StoreError> {
    let (owner_user, owner_org) = match new.owner {
        SealOwner::Person(user) => (Some(user.to_owned()), None),
        SealOwner::Org(org) => (None, Some(org.to_owned())),
    };
    let at = now();
    if let Some(user) = &owner_user {
        let replaced = if new.kind == SealKind::Handwriting {
            "kind = 'handwriting'"
        } else if new.is_default {
            "is_default = 1"
        } else {
            "0 = 1"
        };
        let old =
            query_text!("SELECT id FROM seals WHERE owner_user = $1 AND status <> 'deleted' AND {replaced}")
                .bind(user)
                .fetch_all(&mut **tx)
                .await?;
        for row in old {
            let id: String = row.try_get(0)?;
            sqlx::query("UPDATE seals SET status = 'deleted', updated_at = $2 WHERE id = $1")
                .bind(&id)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            append_event(tx, &format!("seal:{id}"), "seal.replaced", "{}", context).await?;
        }
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO seals (id, owner_user, owner_org, kind, name, blob_id, status, is_default, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'enabled', $7, $8, $9, $9)",
    )
    .bind(&id)
    .bind(owner_user.clone())
    .bind(owner_org.clone())
    .bind(new.kind.as_str())
    .bind(new.name)
    .bind(new.blob_id)
    .bind(i64::from(new.is_default))
    .bind(context.actor.clone())
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(conflict("a default seal"))?;
    let details = serde_json::json!({
        "owner_user": owner_user, "owner_org": owner_org, "kind": new.kind.as_str(),
        "name": new.name, "blob_id": new.blob_id, "is_default": new.is_default,
    })
    .to_string();
    append_event(tx, &format!("seal:{id}"), "seal.created", &details, context).await?;
    if let Some(org) = &owner_org {
        append_event(tx, &format!("org:{org}"), "seal.created", &details, context).await?;
    }
    Ok(id)
}

/// `YYYY-MM-DD` of a Unix time in China (UTC+8, no daylight saving).
pub fn china_day(at: i64) -> String {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let days = (at + 8 * 3600).div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::china_day;

    #[test]
    fn china_days() {
        assert_eq!(china_day(0), "1970-01-01");
        // 2026-12-03 15:59:59 UTC is 23:59:59 in Beijing; a second later it is the 4th.
        assert_eq!(china_day(1_796_313_599), "2026-12-03");
        assert_eq!(china_day(1_796_313_600), "2026-12-04");
        assert_eq!(china_day(951_753_600), "2000-02-29");
    }
}
