//! Certificates the platform issued, and co-sign enrolment (invitation codes and the server
//! halves of split keys).
//!
//! The database is the record of what the platform issued and revoked: several servers may
//! share one CA directory, and the OCSP responder and CRLs read revocations from here.
//! Private material (a hosted key, a server share) is stored only sealed under the platform
//! key by the caller.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::trail::append_event;
use crate::{Store, StoreError, TrailContext, begin_write, conflict, new_id, now};

/// Where a certificate's private key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Custody {
    /// On the server, sealed under the platform key (托管证书).
    Hosted,
    /// Split between the person's phone and the server (协同签名).
    Cosign,
    /// On the person's token (Ukey); the server never sees the key.
    Token,
}

impl Custody {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Custody::Hosted => "hosted",
            Custody::Cosign => "cosign",
            Custody::Token => "token",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "hosted" => Ok(Custody::Hosted),
            "cosign" => Ok(Custody::Cosign),
            "token" => Ok(Custody::Token),
            other => Err(StoreError::Corrupt(format!("custody {other:?}"))),
        }
    }
}

/// A certificate as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertRecord {
    /// Id.
    pub id: String,
    /// Owning person.
    pub owner_user: Option<String>,
    /// Owning organization.
    pub owner_org: Option<String>,
    /// Serial, lower-case hex.
    pub serial: String,
    /// Subject DN.
    pub subject: String,
    /// Key custody.
    pub custody: Custody,
    /// p256, rsa3072, sm2.
    pub algorithm: String,
    /// active or revoked.
    pub status: String,
    /// Unix seconds.
    pub not_after: i64,
    /// Unix seconds.
    pub revoked_at: Option<i64>,
    /// RFC 5280 reason code.
    pub revoke_reason: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// DER.
    #[serde(skip)]
    pub cert_der: Vec<u8>,
    /// The sealed key or server share.
    #[serde(skip)]
    pub key_sealed: Option<Vec<u8>>,
}

const CERT_COLUMNS: &str = "id, owner_user, owner_org, serial, subject, custody, algorithm, status, not_after, revoked_at, revoke_reason, created_at, cert_der, key_sealed";

fn cert_from_row(row: &AnyRow) -> Result<CertRecord, StoreError> {
    Ok(CertRecord {
        id: row.try_get(0)?,
        owner_user: row.try_get(1)?,
        owner_org: row.try_get(2)?,
        serial: row.try_get(3)?,
        subject: row.try_get(4)?,
        custody: Custody::parse(&row.try_get::<String, _>(5)?)?,
        algorithm: row.try_get(6)?,
        status: row.try_get(7)?,
        not_after: row.try_get(8)?,
        revoked_at: row.try_get(9)?,
        revoke_reason: row.try_get(10)?,
        created_at: row.try_get(11)?,
        cert_der: row.try_get(12)?,
        key_sealed: row.try_get(13)?,
    })
}

/// A certificate to record.
#[derive(Debug, Clone)]
pub struct NewCertificate<'a> {
    /// The id the caller bound the sealed key to.
    pub id: &'a str,
    /// Owning person.
    pub owner_user: Option<&'a str>,
    /// Owning organization.
    pub owner_org: Option<&'a str>,
    /// Serial, hex.
    pub serial: &'a str,
    /// Subject DN.
    pub subject: &'a str,
    /// Custody.
    pub custody: Custody,
    /// Algorithm name.
    pub algorithm: &'a str,
    /// DER.
    pub cert_der: &'a [u8],
    /// Sealed key (hosted) or `None` (co-sign: the share is in `cosign_keys`).
    pub key_sealed: Option<&'a [u8]>,
    /// Unix seconds.
    pub not_after: i64,
}

/// RFC 5280 `affiliationChanged`.
pub const REASON_AFFILIATION_CHANGED: i64 = 3;
/// RFC 5280 `superseded`.
pub const REASON_SUPERSEDED: i64 = 4;

pub(crate) async fn revoke_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    cert: &CertRecord,
    reason: i64,
    context: &TrailContext,
) -> Result<(), StoreError> {
    let at = now();
    let updated = sqlx::query(
        "UPDATE certificates SET status = 'revoked', revoked_at = $2, revoke_reason = $3, updated_at = $2 \
         WHERE id = $1 AND status = 'active'",
    )
    .bind(&cert.id)
    .bind(at)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(StoreError::Stale("the certificate"));
    }
    // A retired split key can no longer co-sign: its phone must download again, and a share
    // it handed over for auto-sign goes with it.
    sqlx::query("UPDATE cosign_keys SET status = 'retired', updated_at = $2 WHERE certificate_id = $1")
        .bind(&cert.id)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE autosign_grants SET revoked_at = $2, escrow = NULL \
         WHERE revoked_at IS NULL AND key_id IN (SELECT id FROM cosign_keys WHERE certificate_id = $1)",
    )
    .bind(&cert.id)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    let details = serde_json::json!({ "serial": cert.serial, "reason": reason }).to_string();
    append_event(
        tx,
        &format!("certificate:{}", cert.id),
        "certificate.revoked",
        &details,
        context,
    )
    .await?;
    if let Some(user) = &cert.owner_user {
        append_event(
            tx,
            &format!("user:{user}"),
            "certificate.revoked",
            &details,
            context,
        )
        .await?;
    }
    if let Some(org) = &cert.owner_org {
        append_event(
            tx,
            &format!("org:{org}"),
            "certificate.revoked",
            &details,
            context,
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn active_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    owner_user: Option<&str>,
    owner_org: Option<&str>,
) -> Result<Option<CertRecord>, StoreError> {
    let row = crate::query_text!(
        "SELECT {CERT_COLUMNS} FROM certificates WHERE status = 'active' AND (owner_user = $1 OR owner_org = $2)"
    )
    // NULL never equals anything, so an absent owner matches no row.
    .bind(owner_user.map(str::to_owned))
    .bind(owner_org.map(str::to_owned))
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(cert_from_row).transpose()
}

/// A serial's revocation state, for the OCSP responder and CRLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertStatusRow {
    /// Serial, hex.
    pub serial: String,
    /// Unix seconds of revocation.
    pub revoked_at: Option<i64>,
    /// Reason code.
    pub reason: Option<i64>,
    /// Unix seconds of the last change.
    pub updated_at: i64,
}

impl Store {
    /// Records a new certificate as the owner's active one; the previous active certificate
    /// is revoked as superseded in the same transaction. For co-sign, `cosign_key` is the
    /// enrolled key this certificate is for, which becomes active.
    pub async fn insert_certificate(
        &self,
        new: &NewCertificate<'_>,
        cosign_key: Option<&str>,
        context: &TrailContext,
    ) -> Result<CertRecord, StoreError> {
        self.insert_certificate_if(new, cosign_key, false, context).await
    }

    /// [`Self::insert_certificate`], or with `only_first` a `Conflict` when the owner ever had
    /// a certificate (checked in the same transaction, so two first issues cannot both land).
    pub async fn insert_certificate_if(
        &self,
        new: &NewCertificate<'_>,
        cosign_key: Option<&str>,
        only_first: bool,
        context: &TrailContext,
    ) -> Result<CertRecord, StoreError> {
        let mut tx = begin_write(self).await?;
        if only_first {
            lock_owner(&mut tx, self.backend, new.owner_user, new.owner_org).await?;
            let any =
                sqlx::query("SELECT COUNT(*) FROM certificates WHERE owner_user = $1 OR owner_org = $2")
                    .bind(new.owner_user.map(str::to_owned))
                    .bind(new.owner_org.map(str::to_owned))
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get::<i64, _>(0)?;
            if any > 0 {
                return Err(StoreError::Conflict("a certificate"));
            }
        }
        if let Some(old) = active_in(&mut tx, new.owner_user, new.owner_org).await? {
            revoke_in(&mut tx, &old, REASON_SUPERSEDED, context).await?;
        }
        let at = now();
        sqlx::query(
            "INSERT INTO certificates (id, owner_user, owner_org, serial, subject, custody, algorithm, cert_der, key_sealed, status, not_after, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', $10, $11, $11)",
        )
        .bind(new.id)
        .bind(new.owner_user.map(str::to_owned))
        .bind(new.owner_org.map(str::to_owned))
        .bind(new.serial)
        .bind(new.subject)
        .bind(new.custody.as_str())
        .bind(new.algorithm)
        .bind(new.cert_der.to_vec())
        .bind(new.key_sealed.map(<[u8]>::to_vec))
        .bind(new.not_after)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(conflict("an active certificate"))?;
        if let Some(key) = cosign_key {
            let updated = sqlx::query(
                "UPDATE cosign_keys SET status = 'active', certificate_id = $2, updated_at = $3 WHERE id = $1 AND status = 'enrolling'",
            )
            .bind(key)
            .bind(new.id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::Stale("the enrolment"));
            }
        }
        let details = serde_json::json!({
            "serial": new.serial, "subject": new.subject, "custody": new.custody.as_str(),
            "algorithm": new.algorithm, "not_after": new.not_after,
        })
        .to_string();
        append_event(
            &mut tx,
            &format!("certificate:{}", new.id),
            "certificate.issued",
            &details,
            context,
        )
        .await?;
        if let Some(user) = new.owner_user {
            append_event(
                &mut tx,
                &format!("user:{user}"),
                "certificate.issued",
                &details,
                context,
            )
            .await?;
        }
        if let Some(org) = new.owner_org {
            append_event(
                &mut tx,
                &format!("org:{org}"),
                "certificate.issued",
                &details,
                context,
            )
            .await?;
        }
        tx.commit().await?;
        self.certificate(new.id).await
    }

    /// One certificate.
    pub async fn certificate(&self, id: &str) -> Result<CertRecord, StoreError> {
        let row = crate::query_text!("SELECT {CERT_COLUMNS} FROM certificates WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("certificate"))?;
        cert_from_row(&row)
    }

    /// The active certificate of a person or an organization.
    pub async fn active_certificate(
        &self,
        owner_user: Option<&str>,
        owner_org: Option<&str>,
    ) -> Result<Option<CertRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let found = active_in(&mut tx, owner_user, owner_org).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// All certificates of a person or organization, newest first.
    pub async fn certificates_of(
        &self,
        owner_user: Option<&str>,
        owner_org: Option<&str>,
    ) -> Result<Vec<CertRecord>, StoreError> {
        let rows = crate::query_text!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE owner_user = $1 OR owner_org = $2 ORDER BY id DESC LIMIT 100"
        )
        .bind(owner_user.map(str::to_owned))
        .bind(owner_org.map(str::to_owned))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cert_from_row).collect()
    }

    /// Revokes an active certificate with an RFC 5280 reason code.
    pub async fn revoke_certificate(
        &self,
        cert: &CertRecord,
        reason: i64,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        revoke_in(&mut tx, cert, reason, context).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Serials whose state changed at or after `since` (Unix seconds), for the revocation
    /// cache of the OCSP responder and the CRL.
    pub async fn certificate_changes(&self, since: i64) -> Result<Vec<CertStatusRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT serial, revoked_at, revoke_reason, updated_at FROM certificates WHERE updated_at >= $1",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CertStatusRow {
                    serial: row.try_get(0)?,
                    revoked_at: row.try_get(1)?,
                    reason: row.try_get(2)?,
                    updated_at: row.try_get(3)?,
                })
            })
            .collect()
    }

    /// Stores an invitation code (by digest) for a person, valid `ttl` seconds; earlier unused
    /// invitations of the person stop working.
    pub async fn create_cosign_invite(
        &self,
        digest: &str,
        user_id: &str,
        ttl: i64,
        context: &TrailContext,
    ) -> Result<i64, StoreError> {
        let mut tx = begin_write(self).await?;
        let at = now();
        sqlx::query("UPDATE cosign_invites SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO cosign_invites (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(digest)
        .bind(user_id)
        .bind(at)
        .bind(at + ttl)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "cosign.invited",
            "{}",
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(at + ttl)
    }

    /// Spends a live invitation on a new split key: returns the invited user. The server share
    /// comes sealed by the caller.
    pub async fn start_cosign_enrolment(
        &self,
        digest: &str,
        key_id: &str,
        public_key: &str,
        share_sealed: &[u8],
        context: &TrailContext,
    ) -> Result<String, StoreError> {
        let mut tx = begin_write(self).await?;
        let at = now();
        let row = sqlx::query(
            "SELECT user_id FROM cosign_invites WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(digest)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("invitation"))?;
        let user_id: String = row.try_get(0)?;
        // Conditional, so two enrolments racing on one code cannot both spend it.
        let spent = sqlx::query("UPDATE cosign_invites SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(digest)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        if spent.rows_affected() != 1 {
            return Err(StoreError::NotFound("invitation"));
        }
        // Keys left half-enrolled by earlier invitations of this person stop here.
        sqlx::query("UPDATE cosign_keys SET status = 'retired', updated_at = $2 WHERE user_id = $1 AND status = 'enrolling'")
            .bind(&user_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO cosign_keys (id, user_id, invite_id, public_key, share_sealed, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'enrolling', $6, $6)",
        )
        .bind(key_id)
        .bind(&user_id)
        .bind(digest)
        .bind(public_key)
        .bind(share_sealed.to_vec())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({ "key_id": key_id, "public_key": public_key }).to_string();
        append_event(
            &mut tx,
            &format!("user:{user_id}"),
            "cosign.enrolling",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(user_id)
    }

    /// A split key: (user, public key hex, sealed share, status, certificate id).
    pub async fn cosign_key(&self, key_id: &str) -> Result<CosignKey, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, public_key, share_sealed, status, certificate_id, created_at FROM cosign_keys WHERE id = $1",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("co-sign key"))?;
        Ok(CosignKey {
            id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            public_key: row.try_get(2)?,
            share_sealed: row.try_get(3)?,
            status: row.try_get(4)?,
            certificate_id: row.try_get(5)?,
            created_at: row.try_get(6)?,
        })
    }

    /// Records that the server co-signed a digest with a split key.
    pub async fn record_cosign(
        &self,
        key: &CosignKey,
        digest_hex: &str,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        self.record(
            &format!("cosign_key:{}", key.id),
            "cosign.signed",
            &serde_json::json!({ "digest": digest_hex, "user_id": key.user_id }).to_string(),
            context,
        )
        .await
    }

    /// Whether a person or organization ever had a certificate.
    pub async fn has_certificate(
        &self,
        owner_user: Option<&str>,
        owner_org: Option<&str>,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM certificates WHERE owner_user = $1 OR owner_org = $2 LIMIT 1")
            .bind(owner_user.map(str::to_owned))
            .bind(owner_org.map(str::to_owned))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Creates a fresh id for a certificate row (its sealed key is bound to it).
    pub fn new_certificate_id(&self) -> String {
        new_id()
    }
}

/// The server half of a split key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignKey {
    /// Key id.
    pub id: String,
    /// The person.
    pub user_id: String,
    /// Joint public key, hex.
    pub public_key: String,
    /// The server share, sealed.
    pub share_sealed: Vec<u8>,
    /// enrolling, active or retired.
    pub status: String,
    /// The certificate of an active key.
    pub certificate_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// On PostgreSQL, serializes writers per owner by locking the owner's row (SQLite's writers are
/// serialized by `BEGIN IMMEDIATE` already).
pub(crate) async fn lock_owner(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: crate::Backend,
    owner_user: Option<&str>,
    owner_org: Option<&str>,
) -> Result<(), StoreError> {
    if backend != crate::Backend::Postgres {
        return Ok(());
    }
    if let Some(user) = owner_user {
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind(user)
            .fetch_optional(&mut **tx)
            .await?;
    }
    if let Some(org) = owner_org {
        sqlx::query("SELECT id FROM orgs WHERE id = $1 FOR UPDATE")
            .bind(org)
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}
