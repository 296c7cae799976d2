//! Unregistered signers (未注册签署人): the account a flow makes for a person it names by name,
//! phone and ID number, and the single-use SMS links that open a session scoped to that one
//! flow. A link is spent in the same transaction that creates its session, so two clicks on
//! one link cannot both get in.

use serde::Serialize;
use sqlx::Row;

use crate::accounts::{Session, User};
use crate::trail::append_event;
use crate::{Store, StoreError, TrailContext, begin_write, new_id, now};

/// A guest link as stored (the token itself is only ever in the SMS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuestLink {
    /// The flow.
    pub flow_id: String,
    /// The signer slot.
    pub signer_id: String,
    /// The guest's account.
    pub user_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds, once used.
    pub spent_at: Option<i64>,
}

/// A PHC-shaped value no password verifies against: guests log in through links or SMS codes.
pub const NO_PASSWORD: &str = "!guest";

impl Store {
    /// The account for an unregistered signer: the existing account of `phone` if there is one
    /// (a registered person, or a guest of an earlier flow), else a new guest account.
    pub async fn guest_user(
        &self,
        phone: &str,
        name: &str,
        context: &TrailContext,
    ) -> Result<User, StoreError> {
        if let Ok(user) = self.user_by_phone(phone).await {
            return Ok(user);
        }
        let id = new_id();
        let mut tx = begin_write(self).await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, phone, name, password_hash, platform_admin, created_at, guest) VALUES ($1, $2, $3, $4, 0, $5, 1)",
        )
        .bind(&id)
        .bind(phone)
        .bind(name)
        .bind(NO_PASSWORD)
        .bind(now())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // Created by a parallel flow meanwhile: that account is the one.
            Err(err) if crate::is_unique_violation(&err) => {
                drop(tx);
                return self.user_by_phone(phone).await;
            }
            Err(err) => return Err(err.into()),
        }
        append_event(
            &mut tx,
            &format!("user:{id}"),
            "user.guest_created",
            &serde_json::json!({ "phone": phone, "name": name }).to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        self.user(&id).await
    }

    /// Turns the guest account of `phone` into a registered one (the caller proved the number
    /// with a register code): a password, the display name, no longer a guest. `None` when the
    /// number's account is not a guest's.
    pub async fn claim_guest(
        &self,
        phone: &str,
        name: &str,
        password_hash: &str,
        context: &TrailContext,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = begin_write(self).await?;
        let row = sqlx::query(
            "UPDATE users SET password_hash = $2, name = $3, guest = 0 WHERE phone = $1 AND guest = 1 RETURNING id",
        )
        .bind(phone)
        .bind(password_hash)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: String = row.try_get(0)?;
        append_event(
            &mut tx,
            &format!("user:{id}"),
            "user.guest_claimed",
            "{}",
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(self.user(&id).await?))
    }

    /// Records a link for `signer_id` (its token's hash); earlier unspent links of the slot
    /// stop working, so only the latest SMS opens the task.
    pub async fn create_guest_link(
        &self,
        token_hash: &str,
        link: &GuestLink,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        if self.backend == crate::Backend::Postgres {
            // Two sends for one slot at once must not both leave a live link: they queue on the
            // slot's row (SQLite has one writer at a time anyway).
            sqlx::query("SELECT id FROM flow_signers WHERE id = $1 FOR UPDATE")
                .bind(&link.signer_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let at = now();
        sqlx::query("UPDATE guest_links SET expires_at = $2 WHERE signer_id = $1 AND spent_at IS NULL AND expires_at > $2")
            .bind(&link.signer_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO guest_links (token_hash, flow_id, signer_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(&link.flow_id)
        .bind(&link.signer_id)
        .bind(&link.user_id)
        .bind(at)
        .bind(link.expires_at)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            &format!("flow:{}", link.flow_id),
            "guest.link_sent",
            &serde_json::json!({ "signer_id": link.signer_id, "expires_at": link.expires_at }).to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A live (unspent, unexpired) link.
    pub async fn guest_link(&self, token_hash: &str) -> Result<GuestLink, StoreError> {
        let row = sqlx::query(
            "SELECT flow_id, signer_id, user_id, expires_at, spent_at FROM guest_links \
             WHERE token_hash = $1 AND spent_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("link"))?;
        Ok(GuestLink {
            flow_id: row.try_get(0)?,
            signer_id: row.try_get(1)?,
            user_id: row.try_get(2)?,
            expires_at: row.try_get(3)?,
            spent_at: row.try_get(4)?,
        })
    }

    /// Spends the link and opens `session` (scoped to the link's flow) in one transaction;
    /// `NotFound` when the link was spent or expired meanwhile.
    pub async fn spend_guest_link(
        &self,
        token_hash: &str,
        session: &Session,
        context: &TrailContext,
    ) -> Result<GuestLink, StoreError> {
        let link = self.guest_link(token_hash).await?;
        let mut tx = begin_write(self).await?;
        let at = now();
        let spent = sqlx::query(
            "UPDATE guest_links SET spent_at = $2 WHERE token_hash = $1 AND spent_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Err(StoreError::NotFound("link"));
        }
        sqlx::query(
            "INSERT INTO sessions (id, user_id, csrf, acting_for, created_at, expires_at, ip, user_agent, scope) \
             VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8)",
        )
        .bind(&session.id)
        .bind(&link.user_id)
        .bind(&session.csrf)
        .bind(at)
        .bind(session.expires_at)
        .bind(context.ip.clone())
        .bind(context.user_agent.clone())
        .bind(&link.flow_id)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            &format!("flow:{}", link.flow_id),
            "guest.link_opened",
            &serde_json::json!({ "signer_id": link.signer_id }).to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(GuestLink {
            spent_at: Some(at),
            ..link
        })
    }

    /// Records an abnormal task (异常任务): a signing or a notification of `flow_id` that failed.
    pub async fn record_flow_failure(
        &self,
        flow_id: &str,
        signer_id: Option<&str>,
        kind: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let reason: String = reason.chars().take(500).collect();
        sqlx::query(
            "INSERT INTO flow_failures (flow_id, signer_id, kind, reason, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(flow_id)
        .bind(signer_id)
        .bind(kind)
        .bind(reason)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Abnormal tasks of the flows `user_id` initiated (all flows for `None`, the admin view),
    /// newest first.
    pub async fn flow_failures(
        &self,
        user_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FlowFailure>, StoreError> {
        const SELECT: &str = "SELECT f.id, f.flow_id, fl.title, f.signer_id, f.kind, f.reason, f.at FROM flow_failures f \
             JOIN flows fl ON fl.id = f.flow_id";
        let rows = match user_id {
            Some(user) => {
                crate::query_text!("{SELECT} WHERE fl.initiator = $1 ORDER BY f.id DESC LIMIT $2")
                    .bind(user)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                crate::query_text!("{SELECT} ORDER BY f.id DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(FlowFailure {
                    id: r.try_get(0)?,
                    flow_id: r.try_get(1)?,
                    title: r.try_get(2)?,
                    signer_id: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    reason: r.try_get(5)?,
                    at: r.try_get(6)?,
                })
            })
            .collect()
    }
}

/// An abnormal task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowFailure {
    /// Id.
    pub id: i64,
    /// The flow.
    pub flow_id: String,
    /// Its title.
    pub title: String,
    /// The signer slot, when one was concerned.
    pub signer_id: Option<String>,
    /// `signing` or `notification`.
    pub kind: String,
    /// What went wrong.
    pub reason: String,
    /// Unix seconds.
    pub at: i64,
}
