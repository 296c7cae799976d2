//! Flow signatures waiting for a signature value made elsewhere (待确认签署): the phone half of
//! a co-sign key, or a token through a local helper. Only the inputs of the preparation are
//! kept (document versions, placements, signing time, certificate); the server that finishes
//! prepares the revision again and must arrive at the digests recorded here.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::trail::append_event;
use crate::{Store, StoreError, TrailContext, begin_write, new_id, now};

/// One document's part of a pending signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDocument {
    /// Document index.
    pub idx: i64,
    /// The version the revision was prepared on.
    pub version: i64,
    /// What the key signs: the DER signed attributes, hex.
    pub to_be_signed: String,
    /// Their digest with the key's digest algorithm, hex (for tokens that take a hash).
    pub digest: String,
}

/// A pending signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingSignature {
    /// Id.
    pub id: String,
    /// The flow.
    pub flow_id: String,
    /// The signer slot.
    pub signer_id: String,
    /// Whose key must sign.
    pub user_id: String,
    /// The seal stamped.
    pub seal_id: String,
    /// `cosign` or `token`.
    pub method: String,
    /// The certificate whose key signs.
    pub certificate_id: String,
    /// Unix seconds written as the signing time.
    pub signing_time: i64,
    /// The placements (`[{document, page, x, y, width?}]`).
    pub placements: serde_json::Value,
    /// Per document: what to sign.
    pub documents: Vec<PendingDocument>,
    /// pending, done, cancelled, stale, replaced.
    pub status: String,
    /// Why it ended other than done.
    pub reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A pending signature to record.
#[derive(Debug, Clone)]
pub struct NewPending<'a> {
    /// The flow.
    pub flow_id: &'a str,
    /// The slot.
    pub signer_id: &'a str,
    /// Whose key.
    pub user_id: &'a str,
    /// The seal.
    pub seal_id: &'a str,
    /// `cosign` or `token`.
    pub method: &'a str,
    /// The certificate.
    pub certificate_id: &'a str,
    /// Signing time.
    pub signing_time: i64,
    /// Placements.
    pub placements: serde_json::Value,
    /// Documents.
    pub documents: Vec<PendingDocument>,
    /// Unix seconds.
    pub expires_at: i64,
}

const COLUMNS: &str = "id, flow_id, signer_id, user_id, seal_id, method, certificate_id, signing_time, placements, documents, status, reason, created_at, expires_at";

fn from_row(row: &AnyRow) -> Result<PendingSignature, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    Ok(PendingSignature {
        id: row.try_get(0)?,
        flow_id: row.try_get(1)?,
        signer_id: row.try_get(2)?,
        user_id: row.try_get(3)?,
        seal_id: row.try_get(4)?,
        method: row.try_get(5)?,
        certificate_id: row.try_get(6)?,
        signing_time: row.try_get(7)?,
        placements: serde_json::from_str(&row.try_get::<String, _>(8)?).map_err(corrupt)?,
        documents: serde_json::from_str(&row.try_get::<String, _>(9)?).map_err(corrupt)?,
        status: row.try_get(10)?,
        reason: row.try_get(11)?,
        created_at: row.try_get(12)?,
        expires_at: row.try_get(13)?,
    })
}

impl Store {
    /// Records a pending signature; an earlier pending one of the same slot is replaced.
    pub async fn create_pending(
        &self,
        new: &NewPending<'_>,
        context: &TrailContext,
    ) -> Result<PendingSignature, StoreError> {
        let id = new_id();
        let at = now();
        let documents =
            serde_json::to_string(&new.documents).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "UPDATE pending_signatures SET status = 'replaced', ended_at = $2 WHERE signer_id = $1 AND status = 'pending'",
        )
        .bind(new.signer_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO pending_signatures (id, flow_id, signer_id, user_id, seal_id, method, certificate_id, signing_time, \
             placements, documents, status, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12)",
        )
        .bind(&id)
        .bind(new.flow_id)
        .bind(new.signer_id)
        .bind(new.user_id)
        .bind(new.seal_id)
        .bind(new.method)
        .bind(new.certificate_id)
        .bind(new.signing_time)
        .bind(new.placements.to_string())
        .bind(documents)
        .bind(at)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            &format!("flow:{}", new.flow_id),
            "signature.pending",
            &serde_json::json!({ "signer_id": new.signer_id, "pending_id": id, "method": new.method })
                .to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        self.pending_signature(&id).await
    }

    /// A pending signature by id (whatever its status).
    pub async fn pending_signature(&self, id: &str) -> Result<PendingSignature, StoreError> {
        let row = crate::query_text!("SELECT {COLUMNS} FROM pending_signatures WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("pending signature"))?;
        from_row(&row)
    }

    /// The live pending signatures waiting for `user_id`'s key, newest first.
    pub async fn pending_of_user(&self, user_id: &str) -> Result<Vec<PendingSignature>, StoreError> {
        let rows = crate::query_text!(
            "SELECT {COLUMNS} FROM pending_signatures WHERE user_id = $1 AND status = 'pending' AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC LIMIT 50"
        )
        .bind(user_id)
        .bind(now())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Ends a pending signature (`done`, `cancelled`, `stale`); false when it was no longer
    /// pending, so only one finisher wins.
    pub async fn end_pending(
        &self,
        id: &str,
        status: &str,
        reason: Option<&str>,
        context: &TrailContext,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(self).await?;
        let row = sqlx::query(
            "UPDATE pending_signatures SET status = $2, reason = $3, ended_at = $4 WHERE id = $1 AND status = 'pending' \
             RETURNING flow_id, signer_id",
        )
        .bind(id)
        .bind(status)
        .bind(reason)
        .bind(now())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let flow_id: String = row.try_get(0)?;
        let signer_id: String = row.try_get(1)?;
        append_event(
            &mut tx,
            &format!("flow:{flow_id}"),
            &format!("signature.{status}"),
            &serde_json::json!({ "signer_id": signer_id, "pending_id": id, "reason": reason }).to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
