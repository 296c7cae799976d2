//! Grants of organization seals, grant requests (用印申请) and auto-sign grants with their
//! ledger. Every change commits with its trail event; decisions apply only to a request still
//! pending.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use qz_domain::grant::{AutoSignRef, GrantRequestStatus};

use crate::trail::append_event;
use crate::{Page, Store, StoreError, TrailContext, begin_write, new_id, now};

/// A grant of an organization seal to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// Id.
    pub id: String,
    /// Seal.
    pub seal_id: String,
    /// The seal's organization.
    pub org_id: String,
    /// Holder.
    pub grantee: String,
    /// Who granted it.
    pub granted_by: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds (exclusive).
    pub not_after: i64,
    /// Business types; empty: all.
    pub scope: Vec<String>,
    /// The request it answered.
    pub request_id: Option<String>,
    /// Unix seconds.
    pub revoked_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
}

const GRANT_COLUMNS: &str = "id, seal_id, org_id, grantee, granted_by, not_before, not_after, scope, request_id, revoked_at, created_at";

fn scope_from(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn grant_from_row(row: &AnyRow) -> Result<Grant, StoreError> {
    Ok(Grant {
        id: row.try_get(0)?,
        seal_id: row.try_get(1)?,
        org_id: row.try_get(2)?,
        grantee: row.try_get(3)?,
        granted_by: row.try_get(4)?,
        not_before: row.try_get(5)?,
        not_after: row.try_get(6)?,
        scope: scope_from(&row.try_get::<String, _>(7)?)?,
        request_id: row.try_get(8)?,
        revoked_at: row.try_get(9)?,
        created_at: row.try_get(10)?,
    })
}

impl Grant {
    /// The facts the rules look at.
    pub fn as_ref(&self) -> qz_domain::seal::GrantRef {
        qz_domain::seal::GrantRef {
            id: self.id.clone(),
            seal_id: self.seal_id.clone(),
            grantee: self.grantee.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            scope: self.scope.clone(),
            revoked_at: self.revoked_at,
        }
    }
}

/// A grant to create.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    /// Seal.
    pub seal_id: &'a str,
    /// The seal's organization.
    pub org_id: &'a str,
    /// Holder.
    pub grantee: &'a str,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// Business types.
    pub scope: &'a [String],
}

/// A member's request for a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantRequest {
    /// Id.
    pub id: String,
    /// Seal asked for.
    pub seal_id: String,
    /// The seal's organization.
    pub org_id: String,
    /// Who asks.
    pub applicant: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// Business types.
    pub scope: Vec<String>,
    /// Why (申请事由).
    pub note: String,
    /// Where it stands.
    #[serde(serialize_with = "status_name")]
    pub status: GrantRequestStatus,
    /// Rejection reason.
    pub reason: Option<String>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// The grant an approval created.
    pub grant_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

fn status_name<S: serde::Serializer>(status: &GrantRequestStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

const REQUEST_COLUMNS: &str = "id, seal_id, org_id, applicant, not_before, not_after, scope, note, status, reason, decided_by, grant_id, created_at";

fn request_from_row(row: &AnyRow) -> Result<GrantRequest, StoreError> {
    Ok(GrantRequest {
        id: row.try_get(0)?,
        seal_id: row.try_get(1)?,
        org_id: row.try_get(2)?,
        applicant: row.try_get(3)?,
        not_before: row.try_get(4)?,
        not_after: row.try_get(5)?,
        scope: scope_from(&row.try_get::<String, _>(6)?)?,
        note: row.try_get(7)?,
        status: GrantRequestStatus::parse(&row.try_get::<String, _>(8)?)?,
        reason: row.try_get(9)?,
        decided_by: row.try_get(10)?,
        grant_id: row.try_get(11)?,
        created_at: row.try_get(12)?,
    })
}

/// An auto-sign grant (W 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoSignGrant {
    /// Id.
    pub id: String,
    /// The person.
    pub user_id: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds (exclusive).
    pub not_after: i64,
    /// How the person confirmed it (`sms_code`, `cosign_password`).
    pub evidence: String,
    /// Unix seconds.
    pub revoked_at: Option<i64>,
}

impl AutoSignGrant {
    /// The facts the rules look at.
    pub fn as_ref(&self) -> AutoSignRef {
        AutoSignRef {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            revoked_at: self.revoked_at,
        }
    }
}

fn autosign_from_row(row: &AnyRow) -> Result<AutoSignGrant, StoreError> {
    Ok(AutoSignGrant {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        not_before: row.try_get(2)?,
        not_after: row.try_get(3)?,
        evidence: row.try_get(4)?,
        revoked_at: row.try_get(5)?,
    })
}

/// One use of an auto-sign grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoSignUse {
    /// Id.
    pub id: String,
    /// The grant.
    pub grant_id: String,
    /// The seal stamped, if any.
    pub seal_id: Option<String>,
    /// The document.
    pub document: String,
    /// Unix seconds.
    pub at: i64,
}

/// The person's live auto-sign grant at `at`, read inside a transaction.
pub(crate) async fn live_autosign(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    at: i64,
    lock: &str,
) -> Result<Option<AutoSignRef>, StoreError> {
    let rows = crate::query_text!(
        "SELECT id, user_id, not_before, not_after, evidence, revoked_at FROM autosign_grants \
         WHERE user_id = $1 AND revoked_at IS NULL AND not_after > $2 ORDER BY id DESC{lock}"
    )
    .bind(user_id)
    .bind(at)
    .fetch_all(&mut **tx)
    .await?;
    for row in &rows {
        let grant = autosign_from_row(row)?.as_ref();
        if grant.live(user_id, at) {
            return Ok(Some(grant));
        }
    }
    Ok(None)
}

async fn insert_grant(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    new: &NewGrant<'_>,
    request_id: Option<&str>,
    context: &TrailContext,
) -> Result<String, StoreError> {
    let id = new_id();
    let scope = serde_json::to_string(new.scope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // Only to a current member, checked in the same statement: a grant cannot outlive a
    // removal that commits meanwhile.
    let inserted = sqlx::query(
        "INSERT INTO grants (id, seal_id, org_id, grantee, granted_by, not_before, not_after, scope, request_id, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
         WHERE EXISTS (SELECT 1 FROM memberships WHERE org_id = $3 AND user_id = $4)",
    )
    .bind(&id)
    .bind(new.seal_id)
    .bind(new.org_id)
    .bind(new.grantee)
    .bind(context.actor.clone().unwrap_or_default())
    .bind(new.not_before)
    .bind(new.not_after)
    .bind(&scope)
    .bind(request_id.map(str::to_owned))
    .bind(now())
    .execute(&mut **tx)
    .await
    .map_err(|err| match err {
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => StoreError::NotFound("user or seal"),
        other => StoreError::Database(other),
    })?;
    if inserted.rows_affected() != 1 {
        return Err(StoreError::Rule(qz_domain::Error::State(
            "seals are granted to members of the organization only".into(),
        )));
    }
    let details = serde_json::json!({
        "grant_id": id, "seal_id": new.seal_id, "grantee": new.grantee,
        "not_before": new.not_before, "not_after": new.not_after, "scope": new.scope,
        "request_id": request_id,
    })
    .to_string();
    append_event(
        tx,
        &format!("seal:{}", new.seal_id),
        "grant.created",
        &details,
        context,
    )
    .await?;
    append_event(
        tx,
        &format!("org:{}", new.org_id),
        "grant.created",
        &details,
        context,
    )
    .await?;
    Ok(id)
}

impl Store {
    /// Grants a seal (the caller checked who may grant and that the grantee is a member).
    pub async fn create_grant(
        &self,
        new: &NewGrant<'_>,
        context: &TrailContext,
    ) -> Result<Grant, StoreError> {
        let mut tx = begin_write(self).await?;
        let id = insert_grant(&mut tx, new, None, context).await?;
        tx.commit().await?;
        self.grant(&id).await
    }

    /// One grant.
    pub async fn grant(&self, id: &str) -> Result<Grant, StoreError> {
        let row = crate::query_text!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("grant"))?;
        grant_from_row(&row)
    }

    /// Grants of an organization's seals (`seal_id` narrows to one seal), newest first.
    pub async fn grants_of_org(&self, org_id: &str, seal_id: Option<&str>) -> Result<Vec<Grant>, StoreError> {
        let rows = crate::query_text!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE org_id = $1 AND ($2 = '' OR seal_id = $2) ORDER BY id DESC LIMIT 500"
        )
        .bind(org_id)
        .bind(seal_id.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// A person's grants, newest first.
    pub async fn grants_of_user(&self, user_id: &str) -> Result<Vec<Grant>, StoreError> {
        let rows = crate::query_text!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE grantee = $1 ORDER BY id DESC LIMIT 500"
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// Revokes a grant that is not revoked yet.
    pub async fn revoke_grant(&self, grant: &Grant, context: &TrailContext) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let updated = sqlx::query(
            "UPDATE grants SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(&grant.id)
        .bind(now())
        .bind(context.actor.clone())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale("the grant"));
        }
        let details = serde_json::json!({ "grant_id": grant.id, "grantee": grant.grantee }).to_string();
        append_event(
            &mut tx,
            &format!("seal:{}", grant.seal_id),
            "grant.revoked",
            &details,
            context,
        )
        .await?;
        append_event(
            &mut tx,
            &format!("org:{}", grant.org_id),
            "grant.revoked",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Files a grant request (one pending per seal and applicant).
    pub async fn create_grant_request(
        &self,
        new: &NewGrant<'_>,
        note: &str,
        context: &TrailContext,
    ) -> Result<GrantRequest, StoreError> {
        let mut tx = begin_write(self).await?;
        let pending = sqlx::query(
            "SELECT COUNT(*) FROM grant_requests WHERE seal_id = $1 AND applicant = $2 AND status = 'pending'",
        )
        .bind(new.seal_id)
        .bind(new.grantee)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>(0)?;
        if pending > 0 {
            return Err(StoreError::Conflict("a pending request for this seal"));
        }
        let id = new_id();
        let at = now();
        let scope = serde_json::to_string(new.scope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO grant_requests (id, seal_id, org_id, applicant, not_before, not_after, scope, note, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9)",
        )
        .bind(&id)
        .bind(new.seal_id)
        .bind(new.org_id)
        .bind(new.grantee)
        .bind(new.not_before)
        .bind(new.not_after)
        .bind(&scope)
        .bind(note)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(crate::conflict("a pending request for this seal"))?;
        let details = serde_json::json!({
            "seal_id": new.seal_id, "not_before": new.not_before, "not_after": new.not_after,
            "scope": new.scope, "note": note,
        })
        .to_string();
        append_event(
            &mut tx,
            &format!("grant_request:{id}"),
            "grant_request.created",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        self.grant_request(&id).await
    }

    /// One grant request.
    pub async fn grant_request(&self, id: &str) -> Result<GrantRequest, StoreError> {
        let row = crate::query_text!("SELECT {REQUEST_COLUMNS} FROM grant_requests WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("grant request"))?;
        request_from_row(&row)
    }

    /// Grant requests of organizations (to decide) or of one applicant, newest first.
    pub async fn grant_requests(
        &self,
        org_ids: &[String],
        applicant: Option<&str>,
        status: Option<GrantRequestStatus>,
    ) -> Result<Vec<GrantRequest>, StoreError> {
        let mut out = Vec::new();
        let status = status.map(|s| s.as_str()).unwrap_or("");
        if let Some(applicant) = applicant {
            let rows = crate::query_text!(
                "SELECT {REQUEST_COLUMNS} FROM grant_requests WHERE applicant = $1 AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT 200"
            )
            .bind(applicant)
            .bind(status)
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                out.push(request_from_row(row)?);
            }
        }
        for org in org_ids {
            let rows = crate::query_text!(
                "SELECT {REQUEST_COLUMNS} FROM grant_requests WHERE org_id = $1 AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT 200"
            )
            .bind(org)
            .bind(status)
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                let request = request_from_row(row)?;
                if !out.iter().any(|r: &GrantRequest| r.id == request.id) {
                    out.push(request);
                }
            }
        }
        out.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(out)
    }

    /// Moves a pending request to `to` (the domain checked the transition); an approval
    /// creates the grant in the same transaction.
    pub async fn decide_grant_request(
        &self,
        request: &GrantRequest,
        to: GrantRequestStatus,
        reason: Option<&str>,
        context: &TrailContext,
    ) -> Result<GrantRequest, StoreError> {
        let mut tx = begin_write(self).await?;
        let grant_id = if to == GrantRequestStatus::Approved {
            Some(
                insert_grant(
                    &mut tx,
                    &NewGrant {
                        seal_id: &request.seal_id,
                        org_id: &request.org_id,
                        grantee: &request.applicant,
                        not_before: request.not_before,
                        not_after: request.not_after,
                        scope: &request.scope,
                    },
                    Some(&request.id),
                    context,
                )
                .await?,
            )
        } else {
            None
        };
        let updated = sqlx::query(
            "UPDATE grant_requests SET status = $2, reason = $3, decided_by = $4, grant_id = $5, updated_at = $6 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(&request.id)
        .bind(to.as_str())
        .bind(reason.map(str::to_owned))
        .bind(context.actor.clone())
        .bind(grant_id.clone())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale("the grant request"));
        }
        let details = serde_json::json!({ "reason": reason, "grant_id": grant_id }).to_string();
        append_event(
            &mut tx,
            &format!("grant_request:{}", request.id),
            &format!("grant_request.{}", to.as_str()),
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        self.grant_request(&request.id).await
    }

    /// Enables auto-sign for `seconds` from now; an earlier live grant is replaced (and its
    /// escrowed share dropped). `escrow`: the co-sign key id and the phone's sealed share.
    pub async fn create_autosign(
        &self,
        user_id: &str,
        seconds: i64,
        evidence: &str,
        escrow: Option<(&str, &[u8])>,
        context: &TrailContext,
    ) -> Result<AutoSignGrant, StoreError> {
        let mut tx = begin_write(self).await?;
        crate::certs::lock_owner(&mut tx, self.backend, Some(user_id), None).await?;
        let at = now();
        let old = sqlx::query(
            "SELECT id FROM autosign_grants WHERE user_id = $1 AND revoked_at IS NULL AND not_after > $2",
        )
        .bind(user_id)
        .bind(at)
        .fetch_all(&mut *tx)
        .await?;
        for row in old {
            let id: String = row.try_get(0)?;
            sqlx::query("UPDATE autosign_grants SET revoked_at = $2, escrow = NULL WHERE id = $1")
                .bind(&id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            append_event(
                &mut tx,
                &format!("autosign:{id}"),
                "autosign.replaced",
                "{}",
                context,
            )
            .await?;
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO autosign_grants (id, user_id, not_before, not_after, evidence, key_id, escrow, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $3)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(at)
        .bind(at + seconds)
        .bind(evidence)
        .bind(escrow.map(|(key, _)| key.to_owned()))
        .bind(escrow.map(|(_, sealed)| sealed.to_vec()))
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "not_after": at + seconds, "evidence": evidence }).to_string();
        append_event(
            &mut tx,
            &format!("autosign:{id}"),
            "autosign.enabled",
            &details,
            context,
        )
        .await?;
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "autosign.enabled",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        self.autosign(&id).await
    }

    /// One auto-sign grant.
    pub async fn autosign(&self, id: &str) -> Result<AutoSignGrant, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, not_before, not_after, evidence, revoked_at FROM autosign_grants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("auto-sign grant"))?;
        autosign_from_row(&row)
    }

    /// A person's auto-sign grants, newest first.
    pub async fn autosigns_of_user(&self, user_id: &str) -> Result<Vec<AutoSignGrant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, not_before, not_after, evidence, revoked_at FROM autosign_grants \
             WHERE user_id = $1 ORDER BY id DESC LIMIT 100",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(autosign_from_row).collect()
    }

    /// Revokes a person's auto-sign grant at once.
    pub async fn revoke_autosign(
        &self,
        grant: &AutoSignGrant,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let updated = sqlx::query(
            "UPDATE autosign_grants SET revoked_at = $2, escrow = NULL WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(&grant.id)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale("the auto-sign grant"));
        }
        append_event(
            &mut tx,
            &format!("autosign:{}", grant.id),
            "autosign.revoked",
            "{}",
            context,
        )
        .await?;
        append_event(
            &mut tx,
            &format!("user:{}", grant.user_id),
            "autosign.revoked",
            "{}",
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The escrowed phone share of the person's live auto-sign grant: (grant id, co-sign key
    /// id, sealed share).
    pub async fn autosign_escrow(
        &self,
        user_id: &str,
    ) -> Result<Option<(String, String, Vec<u8>)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, key_id, escrow FROM autosign_grants WHERE user_id = $1 AND revoked_at IS NULL \
             AND not_before <= $2 AND not_after > $2 AND escrow IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
    }

    /// One page of a person's auto-sign ledger, oldest first.
    pub async fn autosign_uses_page(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<AutoSignUse>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, grant_id, seal_id, document, at FROM autosign_uses WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(user_id)
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(AutoSignUse {
                    id: row.try_get(0)?,
                    grant_id: row.try_get(1)?,
                    seal_id: row.try_get(2)?,
                    document: row.try_get(3)?,
                    at: row.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_rows(items, limit, |u| u.id.clone()))
    }
}
