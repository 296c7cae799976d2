//! Records the HTTP layer keeps in the database so that any instance sees them: responses to
//! `Idempotency-Key` requests.

use sqlx::Row;

use crate::{Store, StoreError, is_unique_violation, now};

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

/// What to do with a request carrying an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First time: run it, then `finish_idempotent`.
    Proceed,
    /// Done before: answer with this.
    Replay(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// Keys are kept for a day.
const KEEP_FOR: i64 = 86_400;

impl Store {
    /// Claims `key` for a request whose method, path and body hash to `request_hash`.
    pub async fn begin_idempotent(
        &self,
        user_id: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<IdempotencyBegin, StoreError> {
        sqlx::query("DELETE FROM idempotency WHERE created_at < $1")
            .bind(now() - KEEP_FOR)
            .execute(&self.pool)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency (user_id, key, request_hash, status, body, created_at) VALUES ($1, $2, $3, 0, '', $4)",
        )
        .bind(user_id)
        .bind(key)
        .bind(request_hash)
        .bind(now())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => return Ok(IdempotencyBegin::Proceed),
            Err(err) if is_unique_violation(&err) => {}
            Err(err) => return Err(err.into()),
        }
        let row =
            sqlx::query("SELECT request_hash, status, body FROM idempotency WHERE user_id = $1 AND key = $2")
                .bind(user_id)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::Stale("the idempotency key"))?;
        let stored_hash: String = row.try_get(0)?;
        let status: i64 = row.try_get(1)?;
        Ok(if stored_hash != request_hash {
            IdempotencyBegin::Mismatch
        } else if status == 0 {
            IdempotencyBegin::InProgress
        } else {
            IdempotencyBegin::Replay(StoredResponse {
                status: u16::try_from(status).unwrap_or(500),
                body: row.try_get(2)?,
            })
        })
    }

    /// Stores the response of a claimed key.
    pub async fn finish_idempotent(
        &self,
        user_id: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE idempotency SET status = $3, body = $4 WHERE user_id = $1 AND key = $2")
            .bind(user_id)
            .bind(key)
            .bind(i64::from(response.status))
            .bind(&response.body)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Releases a claimed key whose request failed on our side, so a retry may run.
    pub async fn abandon_idempotent(&self, user_id: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency WHERE user_id = $1 AND key = $2 AND status = 0")
            .bind(user_id)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
