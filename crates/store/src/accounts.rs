//! Accounts: users, sessions, one-time codes and real-name identities.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use qz_domain::identity::IdentityStatus;

use crate::trail::append_event;
use crate::{Page, Store, StoreError, TrailContext, begin_write, conflict, new_id, now, query_text};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Id.
    pub id: String,
    /// Phone number (the login name; "admin" for the bootstrap administrator).
    pub phone: String,
    /// Display name.
    pub name: String,
    /// Verified e-mail address.
    pub email: Option<String>,
    /// Argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// A platform administrator.
    pub platform_admin: bool,
    /// Consecutive failed logins.
    #[serde(skip)]
    pub failed_logins: i64,
    /// Locked until (Unix seconds; 0 = not locked).
    #[serde(skip)]
    pub locked_until: i64,
    /// zh-CN or en.
    pub locale: String,
    /// Disabled by an administrator.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// An account the platform made for an unregistered signer (no password; signs through
    /// SMS links only).
    pub guest: bool,
}

const USER_COLUMNS: &str = "id, phone, name, email, password_hash, platform_admin, failed_logins, locked_until, locale, disabled, created_at, guest";

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get(0)?,
        phone: row.try_get(1)?,
        name: row.try_get(2)?,
        email: row.try_get(3)?,
        password_hash: row.try_get(4)?,
        platform_admin: row.try_get::<i64, _>(5)? != 0,
        failed_logins: row.try_get(6)?,
        locked_until: row.try_get(7)?,
        locale: row.try_get(8)?,
        disabled: row.try_get::<i64, _>(9)? != 0,
        created_at: row.try_get(10)?,
        guest: row.try_get::<i64, _>(11)? != 0,
    })
}

/// A login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie token (hex).
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// CSRF token the client must echo on state-changing requests.
    pub csrf: String,
    /// The organization the user acts for, if any.
    pub acting_for: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// A guest session opened by an SMS link: the one flow it may act on.
    pub scope: Option<String>,
}

/// The result of checking a one-time code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right code: it is now used up.
    Accepted,
    /// Wrong code; attempts remain.
    Wrong,
    /// No live code (none sent, expired, used, or too many wrong guesses).
    NoLiveCode,
}

/// A real-name identity as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Whose.
    pub user_id: String,
    /// Where the check stands.
    #[serde(serialize_with = "status_name")]
    pub status: IdentityStatus,
    /// Legal name.
    pub real_name: String,
    /// First and last four characters of the ID number.
    pub id_masked: String,
    /// The number sealed under the platform key.
    #[serde(skip)]
    pub id_sealed: Vec<u8>,
    /// Which provider checked it ("development" accepts any well-formed number).
    pub provider: String,
    /// The provider's reference of a pending check.
    #[serde(skip)]
    pub reference: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// Unix seconds.
    pub updated_at: i64,
}

fn status_name<S: serde::Serializer>(status: &IdentityStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

/// A new identity submission.
#[derive(Debug, Clone)]
pub struct NewIdentity<'a> {
    /// Legal name.
    pub real_name: &'a str,
    /// Masked number.
    pub id_masked: &'a str,
    /// HMAC of the number under the platform key.
    pub id_digest: &'a str,
    /// Sealed number.
    pub id_sealed: &'a [u8],
    /// Provider name.
    pub provider: &'a str,
    /// The provider's answer.
    pub status: IdentityStatus,
    /// Pending reference.
    pub reference: Option<&'a str>,
    /// Rejection reason.
    pub reason: Option<&'a str>,
}

impl Store {
    /// Creates a user and its trail event in one transaction.
    pub async fn create_user(
        &self,
        phone: &str,
        name: &str,
        password_hash: &str,
        platform_admin: bool,
        context: &TrailContext,
    ) -> Result<User, StoreError> {
        let id = new_id();
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO users (id, phone, name, password_hash, platform_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(phone)
        .bind(name)
        .bind(password_hash)
        .bind(i64::from(platform_admin))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(conflict("a user with this phone number"))?;
        let details = serde_json::json!({ "phone": phone, "name": name, "platform_admin": platform_admin });
        append_event(
            &mut tx,
            &format!("user:{id}"),
            "user.created",
            &details.to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        self.user(&id).await
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<User, StoreError> {
        let row = query_text!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        user_from_row(&row)
    }

    /// A user by phone number.
    pub async fn user_by_phone(&self, phone: &str) -> Result<User, StoreError> {
        let row = query_text!("SELECT {USER_COLUMNS} FROM users WHERE phone = $1")
            .bind(phone)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        user_from_row(&row)
    }

    /// One page of all users (administration).
    pub async fn users_page(&self, after: Option<&str>, limit: i64) -> Result<Page<User>, StoreError> {
        let rows = query_text!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after.unwrap_or(""))
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(user_from_row).collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit, |u: &User| u.id.clone()))
    }

    /// Records a failed login: counts it and, at `max_failures` consecutive failures, locks
    /// the account for `lock_for` seconds. Count and decision are one statement, so parallel
    /// guesses cannot slip past the limit. Returns whether the account is now locked.
    pub async fn login_failed(
        &self,
        user_id: &str,
        max_failures: i64,
        lock_for: i64,
        context: &TrailContext,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(self).await?;
        let at = now();
        let row = sqlx::query(
            "UPDATE users SET \
             locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END, \
             failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END \
             WHERE id = $1 RETURNING locked_until",
        )
        .bind(user_id)
        .bind(max_failures)
        .bind(at + lock_for)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        let locked = row.try_get::<i64, _>(0)? > at;
        let action = if locked {
            "user.locked"
        } else {
            "user.login_failed"
        };
        append_event(&mut tx, &format!("user:{user_id}"), action, "{}", context).await?;
        tx.commit().await?;
        Ok(locked)
    }

    /// Clears the failure count after a successful login.
    pub async fn login_succeeded(&self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1 AND failed_logins <> 0")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets a new password hash, unlocks the account and ends every session but `keep`.
    pub async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        action: &str,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        sqlx::query("UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = 0 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep_session.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        append_event(&mut tx, &format!("user:{user_id}"), action, "{}", context).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes the phone number (the login name).
    pub async fn set_phone(
        &self,
        user_id: &str,
        phone: &str,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        sqlx::query("UPDATE users SET phone = $2 WHERE id = $1")
            .bind(user_id)
            .bind(phone)
            .execute(&mut *tx)
            .await
            .map_err(conflict("a user with this phone number"))?;
        let details = serde_json::json!({ "phone": phone }).to_string();
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "user.phone_changed",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes the e-mail address.
    pub async fn set_email(
        &self,
        user_id: &str,
        email: &str,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        sqlx::query("UPDATE users SET email = $2 WHERE id = $1")
            .bind(user_id)
            .bind(email)
            .execute(&mut *tx)
            .await
            .map_err(conflict("a user with this e-mail address"))?;
        let details = serde_json::json!({ "email": email }).to_string();
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "user.email_changed",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the display language.
    pub async fn set_locale(
        &self,
        user_id: &str,
        locale: &str,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        sqlx::query("UPDATE users SET locale = $2 WHERE id = $1")
            .bind(user_id)
            .bind(locale)
            .execute(&mut *tx)
            .await?;
        let details = serde_json::json!({ "locale": locale }).to_string();
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "user.locale_changed",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates a session.
    pub async fn create_session(&self, session: &Session, context: &TrailContext) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, csrf, acting_for, created_at, expires_at, ip, user_agent, scope) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&session.id)
        .bind(&session.user_id)
        .bind(&session.csrf)
        .bind(session.acting_for.clone())
        .bind(now())
        .bind(session.expires_at)
        .bind(context.ip.clone())
        .bind(context.user_agent.clone())
        .bind(session.scope.clone())
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            &format!("user:{}", session.user_id),
            "user.login",
            "{}",
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A live session by id, with its user (one query: every authenticated request asks).
    pub async fn session(&self, id: &str) -> Result<(Session, User), StoreError> {
        let user_columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = query_text!(
            "SELECT {user_columns}, s.id, s.csrf, s.acting_for, s.expires_at, s.scope \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND s.expires_at > $2"
        )
        .bind(id)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("session"))?;
        let user = user_from_row(&row)?;
        let session = Session {
            id: row.try_get(12)?,
            user_id: user.id.clone(),
            csrf: row.try_get(13)?,
            acting_for: row.try_get(14)?,
            expires_at: row.try_get(15)?,
            scope: row.try_get(16)?,
        };
        Ok((session, user))
    }

    /// Ends a session.
    pub async fn delete_session(&self, id: &str, context: &TrailContext) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let row = sqlx::query("DELETE FROM sessions WHERE id = $1 RETURNING user_id")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = row {
            let user_id: String = row.try_get(0)?;
            append_event(&mut tx, &format!("user:{user_id}"), "user.logout", "{}", context).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets or clears the organization a session acts for.
    pub async fn set_acting_for(
        &self,
        session_id: &str,
        org_id: Option<&str>,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let row = sqlx::query("UPDATE sessions SET acting_for = $2 WHERE id = $1 RETURNING user_id")
            .bind(session_id)
            .bind(org_id.map(str::to_owned))
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("session"))?;
        let user_id: String = row.try_get(0)?;
        let details = serde_json::json!({ "acting_for": org_id }).to_string();
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "user.acting_for",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes expired sessions and codes older than a day (the per-day code limit needs
    /// them that long); returns how many rows went.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let at = now();
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(at)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let codes = sqlx::query("DELETE FROM codes WHERE created_at < $1")
            .bind(at - 2 * 86_400)
            .execute(&self.pool)
            .await?
            .rows_affected();
        // Phone shares handed over for auto-sign leave with the window.
        let escrows = sqlx::query(
            "UPDATE autosign_grants SET escrow = NULL WHERE escrow IS NOT NULL AND (not_after <= $1 OR revoked_at IS NOT NULL)",
        )
        .bind(at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(sessions + codes + escrows)
    }

    /// When the last code for `purpose` went to `recipient`, and how many codes of any
    /// purpose it got in the last 24 hours.
    pub async fn code_history(
        &self,
        purpose: &str,
        recipient: &str,
    ) -> Result<(Option<i64>, i64), StoreError> {
        let row = sqlx::query(
            "SELECT MAX(CASE WHEN purpose = $3 THEN created_at END), COUNT(*) FROM codes \
             WHERE recipient = $1 AND created_at > $2",
        )
        .bind(recipient)
        .bind(now() - 86_400)
        .bind(purpose)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Stores a new code (its hash), voiding earlier live codes for the same purpose and
    /// recipient.
    pub async fn create_code(
        &self,
        purpose: &str,
        recipient: &str,
        code_hash: &str,
        ttl: i64,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        sqlx::query("UPDATE codes SET used = 1 WHERE purpose = $1 AND recipient = $2 AND used = 0")
            .bind(purpose)
            .bind(recipient)
            .execute(&mut *tx)
            .await?;
        let at = now();
        sqlx::query(
            "INSERT INTO codes (id, purpose, recipient, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(purpose)
        .bind(recipient)
        .bind(code_hash)
        .bind(at)
        .bind(at + ttl)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks a code (by hash). A right code is used up; each wrong guess counts, and the code
    /// dies after `max_attempts`. Compared inside one write transaction, so parallel guesses
    /// cannot exceed the limit.
    pub async fn check_code(
        &self,
        purpose: &str,
        recipient: &str,
        code_hash: &str,
        max_attempts: i64,
    ) -> Result<CodeCheck, StoreError> {
        let mut tx = begin_write(self).await?;
        let lock = if self.backend == crate::Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let row = query_text!(
            "SELECT id, code_hash, attempts FROM codes WHERE purpose = $1 AND recipient = $2 AND used = 0 \
             AND expires_at > $3 ORDER BY created_at DESC LIMIT 1{lock}"
        )
        .bind(purpose)
        .bind(recipient)
        .bind(now())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(CodeCheck::NoLiveCode);
        };
        let id: String = row.try_get(0)?;
        let stored: String = row.try_get(1)?;
        let attempts: i64 = row.try_get(2)?;
        let result = if constant_time_eq(stored.as_bytes(), code_hash.as_bytes()) {
            sqlx::query("UPDATE codes SET used = 1 WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            CodeCheck::Accepted
        } else {
            let used = i64::from(attempts + 1 >= max_attempts);
            sqlx::query("UPDATE codes SET attempts = attempts + 1, used = $2 WHERE id = $1")
                .bind(&id)
                .bind(used)
                .execute(&mut *tx)
                .await?;
            if used == 1 {
                CodeCheck::NoLiveCode
            } else {
                CodeCheck::Wrong
            }
        };
        tx.commit().await?;
        Ok(result)
    }

    /// A user's identity record, if any.
    pub async fn identity(&self, user_id: &str) -> Result<Option<Identity>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, status, real_name, id_masked, id_sealed, provider, reference, reason, updated_at \
             FROM identities WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| identity_from_row(&row)).transpose()
    }

    /// The identity waiting on a provider's `reference`.
    pub async fn identity_by_reference(&self, reference: &str) -> Result<Identity, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, status, real_name, id_masked, id_sealed, provider, reference, reason, updated_at \
             FROM identities WHERE reference = $1 AND status = 'pending'",
        )
        .bind(reference)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("pending identity check"))?;
        identity_from_row(&row)
    }

    /// Stores an identity submission and its outcome. A verified identity whose number is
    /// already verified for another account is a conflict.
    pub async fn put_identity(
        &self,
        user_id: &str,
        new: &NewIdentity<'_>,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        sqlx::query("DELETE FROM identities WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO identities (user_id, status, real_name, id_masked, id_digest, id_sealed, provider, reference, reason, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(user_id)
        .bind(new.status.as_str())
        .bind(new.real_name)
        .bind(new.id_masked)
        .bind(new.id_digest)
        .bind(new.id_sealed.to_vec())
        .bind(new.provider)
        .bind(new.reference.map(str::to_owned))
        .bind(new.reason.map(str::to_owned))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(conflict("a verified account with this ID number"))?;
        if new.status == IdentityStatus::Verified {
            sqlx::query("UPDATE users SET name = $2 WHERE id = $1")
                .bind(user_id)
                .bind(new.real_name)
                .execute(&mut *tx)
                .await?;
        }
        let details = serde_json::json!({
            "status": new.status.as_str(),
            "real_name": new.real_name,
            "id_masked": new.id_masked,
            "provider": new.provider,
            "reason": new.reason,
        })
        .to_string();
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "identity.checked",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Completes a pending check with the provider's result.
    pub async fn finish_identity(
        &self,
        user_id: &str,
        status: IdentityStatus,
        reason: Option<&str>,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let row = sqlx::query(
            "UPDATE identities SET status = $2, reason = $3, reference = NULL, updated_at = $4 \
             WHERE user_id = $1 AND status = 'pending' RETURNING real_name",
        )
        .bind(user_id)
        .bind(status.as_str())
        .bind(reason.map(str::to_owned))
        .bind(now())
        .fetch_optional(&mut *tx)
        .await
        .map_err(conflict("a verified account with this ID number"))?
        .ok_or(StoreError::Stale("the identity check"))?;
        if status == IdentityStatus::Verified {
            let real_name: String = row.try_get(0)?;
            sqlx::query("UPDATE users SET name = $2 WHERE id = $1")
                .bind(user_id)
                .bind(real_name)
                .execute(&mut *tx)
                .await?;
        }
        let details = serde_json::json!({ "status": status.as_str(), "reason": reason }).to_string();
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "identity.completed",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn identity_from_row(row: &AnyRow) -> Result<Identity, StoreError> {
    Ok(Identity {
        user_id: row.try_get(0)?,
        status: IdentityStatus::parse(&row.try_get::<String, _>(1)?)?,
        real_name: row.try_get(2)?,
        id_masked: row.try_get(3)?,
        id_sealed: row.try_get(4)?,
        provider: row.try_get(5)?,
        reference: row.try_get(6)?,
        reason: row.try_get(7)?,
        updated_at: row.try_get(8)?,
    })
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
