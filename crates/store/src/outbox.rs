//! The notification outbox: SMS, e-mail and in-app messages are written here (with the change
//! that causes them, where there is one) and sent by a background job that any server
//! instance may run. Jobs are leased: a claim sets `claimed_until`, so a crashed sender's
//! messages come back after the lease; PostgreSQL claims with `FOR UPDATE SKIP LOCKED` so
//! instances do not queue behind each other, SQLite has one writer anyway.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, Page, Store, StoreError, begin_write, new_id, now, query_text};

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Id.
    pub id: String,
    /// sms, email or inbox.
    pub channel: String,
    /// Phone number, e-mail address, or user id (inbox).
    pub recipient: String,
    /// Template name.
    pub template: String,
    /// Subject (e-mail, inbox title).
    pub subject: String,
    /// Rendered text.
    pub body: String,
    /// queued, sent, dev (held in the development outbox), failed, delivered (inbox).
    pub status: String,
    /// Send attempts so far.
    pub attempts: i64,
    /// Last send error.
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub sent_at: Option<i64>,
    /// Unix seconds (inbox).
    pub read_at: Option<i64>,
}

const MESSAGE_COLUMNS: &str = "id, channel, recipient, template, subject, body, status, attempts, last_error, created_at, sent_at, read_at";

fn message_from_row(row: &AnyRow) -> Result<Message, StoreError> {
    Ok(Message {
        id: row.try_get(0)?,
        channel: row.try_get(1)?,
        recipient: row.try_get(2)?,
        template: row.try_get(3)?,
        subject: row.try_get(4)?,
        body: row.try_get(5)?,
        status: row.try_get(6)?,
        attempts: row.try_get(7)?,
        last_error: row.try_get(8)?,
        created_at: row.try_get(9)?,
        sent_at: row.try_get(10)?,
        read_at: row.try_get(11)?,
    })
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// sms, email or inbox.
    pub channel: &'a str,
    /// Phone number, e-mail address or user id.
    pub recipient: &'a str,
    /// Template name.
    pub template: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Rendered text.
    pub body: &'a str,
    /// The body holds a one-time code: blanked once a real provider took it.
    pub secret: bool,
}

impl Store {
    /// Queues a message (in-app messages are delivered at once).
    pub async fn enqueue(&self, message: &NewMessage<'_>) -> Result<String, StoreError> {
        let id = new_id();
        let at = now();
        let status = if message.channel == "inbox" {
            "delivered"
        } else {
            "queued"
        };
        sqlx::query(
            "INSERT INTO outbox (id, channel, recipient, template, subject, body, secret, status, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&id)
        .bind(message.channel)
        .bind(message.recipient)
        .bind(message.template)
        .bind(message.subject)
        .bind(message.body)
        .bind(i64::from(message.secret))
        .bind(status)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Messages to one recipient on one channel since `since` (rate limits).
    pub async fn messages_since(
        &self,
        recipient: &str,
        channel: &str,
        since: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND channel = $2 AND created_at >= $3",
        )
        .bind(recipient)
        .bind(channel)
        .bind(since)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?)
    }

    /// Claims up to `limit` due messages for `lease` seconds.
    pub async fn claim_messages(&self, limit: i64, lease: i64) -> Result<Vec<Message>, StoreError> {
        let at = now();
        let skip_locked = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = begin_write(self).await?;
        // The outer condition repeats the inner one: on PostgreSQL a row claimed by another
        // transaction meanwhile is re-checked after its lock is released and skipped.
        let rows = query_text!(
            "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $2 \
             AND claimed_until <= $2 ORDER BY next_attempt_at LIMIT $3{skip_locked}) \
             AND status = 'queued' AND claimed_until <= $2 RETURNING {MESSAGE_COLUMNS}"
        )
        .bind(at + lease)
        .bind(at)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Marks a message handed over: `sent` to a real provider (a secret body is blanked), or
    /// `dev` (kept in the development outbox for admins to read).
    pub async fn message_sent(&self, id: &str, status: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = $2, sent_at = $3, claimed_until = 0, last_error = NULL, \
             body = CASE WHEN secret = 1 AND $2 = 'sent' THEN '(one-time code removed after sending)' ELSE body END \
             WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or given up (`None`).
    pub async fn message_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET last_error = $2, claimed_until = 0, \
             status = CASE WHEN $3 > 0 THEN 'queued' ELSE 'failed' END, \
             next_attempt_at = CASE WHEN $3 > 0 THEN $3 ELSE next_attempt_at END WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(retry_at.unwrap_or(0))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A user's in-app messages, newest last.
    pub async fn inbox_page(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<Message>, StoreError> {
        let rows = query_text!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE channel = 'inbox' AND recipient = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        )
        .bind(user_id)
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(message_from_row).collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit, |m: &Message| m.id.clone()))
    }

    /// Marks one of the user's in-app messages read.
    pub async fn mark_read(&self, user_id: &str, id: &str) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE outbox SET read_at = $3 WHERE id = $1 AND channel = 'inbox' AND recipient = $2",
        )
        .bind(id)
        .bind(user_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("message"));
        }
        Ok(())
    }

    /// SMS and e-mail messages (the development outbox and delivery state), optionally for one
    /// recipient.
    pub async fn outbox_page(
        &self,
        recipient: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<Message>, StoreError> {
        let rows = query_text!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE channel <> 'inbox' AND ($1 = '' OR recipient = $1) \
             AND id > $2 ORDER BY id LIMIT $3"
        )
        .bind(recipient.unwrap_or(""))
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(message_from_row).collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit, |m: &Message| m.id.clone()))
    }

    /// Makes every queued message due now (tests of the retry path).
    #[doc(hidden)]
    pub async fn make_due_for_tests(&self) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET next_attempt_at = 0 WHERE status = 'queued'")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
