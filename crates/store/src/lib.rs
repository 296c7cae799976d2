//! Persistence for the platform: one interface over SQLite (the embedded default, WAL) and
//! PostgreSQL (scale-out), with migrations per backend, and blob storage on a local directory
//! or S3-compatible storage. This crate is the only one that speaks SQL (DESIGN.md §3).
//!
//! Both backends run the same SQL text through `sqlx::Any` with `$N` placeholders, restricted
//! to the types `Any` supports (text, integers, blobs): timestamps are Unix seconds, flags are
//! 0/1. Where the backends need different SQL (claiming outbox jobs) the text says why.
//! Every state change commits together with its trail event in one transaction.
//!
//! Ids are 32 hex characters, the first 12 the creation time in milliseconds, so ordering by id
//! is ordering by creation and an id is a stable pagination cursor.

mod accounts;
pub mod blobs;
mod certs;
mod flows;
mod grants;
mod guests;
mod http;
mod orgs;
mod outbox;
mod pending;
mod seals;
mod stamps;
mod trail;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

pub use accounts::{CodeCheck, Identity, NewIdentity, Session, User};
pub use certs::{CertRecord, CertStatusRow, CosignKey, Custody, NewCertificate, REASON_SUPERSEDED};
pub use flows::{
    ExpectedIdentity, Flow, FlowDocument, FlowSigner, FlowSummary, NewFlow, NewSigner, RevokedDocument,
};
pub use grants::{AutoSignGrant, AutoSignUse, Grant, GrantRequest, NewGrant};
pub use guests::{FlowFailure, GuestLink, NO_PASSWORD};
pub use http::{IdempotencyBegin, StoredResponse};
pub use orgs::{Member, NewOrg, Org, Request, RequestFilter, RequestKind};
pub use outbox::{Message, NewMessage};
pub use pending::{NewPending, PendingDocument, PendingSignature};
pub use seals::{NewSeal, Seal, SealStats, SealUse, StampRecord, china_day};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names no supported backend.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// A uniqueness rule was violated (e.g. the phone number is taken).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The row changed under us (a concurrent decision won).
    #[error("{0} changed meanwhile; reload and try again")]
    Stale(&'static str),
    /// A platform rule refused the change (checked inside the transaction).
    #[error(transparent)]
    Rule(qz_domain::Error),
    /// A trail chain does not verify.
    #[error("the trail of {object} is broken at event {seq}: {why}")]
    BrokenTrail {
        /// The object whose chain broke.
        object: String,
        /// Sequence number of the first bad event.
        seq: i64,
        /// What is wrong.
        why: &'static str,
    },
    /// A stored value does not parse (a bug or a hand-edited row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Blob storage failed.
    #[error("blob storage: {0}")]
    Blob(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl From<qz_domain::Error> for StoreError {
    fn from(err: qz_domain::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (embedded default).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Who did something, for whom, from where: recorded with every state change.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrailContext {
    /// The acting user.
    pub actor: Option<String>,
    /// The organization acted for.
    pub acting_for: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// One trail event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailEvent {
    /// Object the event is about.
    pub object: String,
    /// Position in the object's chain, from 1.
    pub seq: i64,
    /// The acting user.
    pub actor: Option<String>,
    /// The organization acted for.
    pub acting_for: Option<String>,
    /// Action name.
    pub action: String,
    /// JSON details.
    pub details: String,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Unix seconds.
    pub at: i64,
    /// Hash of the previous event ("" for the first).
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// One page of a list and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says there is more.
    fn from_rows(mut items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(cursor)
        } else {
            None
        };
        Page { items, next }
    }
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Unix seconds now.
pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
    .unwrap_or(i64::MAX)
}

/// A new id: creation milliseconds (12 hex digits) then 80 random bits.
pub fn new_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut bytes = [0u8; 10];
    // The OS RNG failing is not recoverable; an all-zero tail would then collide at insert.
    let _ = getrandom::fill(&mut bytes);
    let mut id = format!("{:012x}", millis & 0xffff_ffff_ffff);
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| e.is_unique_violation())
}

/// Maps a unique violation to `Conflict(what)`.
fn conflict(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| {
        if is_unique_violation(&err) {
            StoreError::Conflict(what)
        } else {
            StoreError::Database(err)
        }
    }
}

/// Page sizes are 1–100; the default 20.
pub fn clamp_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(20).clamp(1, 100)
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) and runs the migrations
    /// of that backend. Several processes may connect to one PostgreSQL database at once:
    /// sqlx serializes migrations with an advisory lock.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers work while a writer commits; busy_timeout makes
                        // writers queue instead of failing.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let store = Store { pool, backend };
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&store.pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&store.pool).await?,
        }
        Ok(store)
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Number of user accounts (the first start creates the admin).
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for tests that tamper on purpose.
    #[doc(hidden)]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Begins a transaction that will write. On SQLite the writer lock is taken at BEGIN
/// (`BEGIN IMMEDIATE`): a transaction that reads first and upgrades later can fail with
/// SQLITE_BUSY at the upgrade, which busy_timeout does not cover.
async fn begin_write(store: &Store) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
    Ok(match store.backend {
        Backend::Sqlite => store.pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => store.pool.begin().await?,
    })
}

/// A query whose text is assembled from this crate's own constant fragments (column lists,
/// backend-specific clauses), never from input: input always goes through `bind`.
macro_rules! query_text {
    ($($fmt:tt)*) => {
        sqlx::query(sqlx::AssertSqlSafe(format!($($fmt)*)))
    };
}
pub(crate) use query_text;

impl Store {
    /// An installation setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Sets an installation setting (replacing its value) and records who changed it.
    pub async fn put_setting(
        &self,
        name: &str,
        value: &str,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        trail::append_event(
            &mut tx,
            &format!("setting:{name}"),
            "setting.changed",
            value,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets an installation setting if it is not set yet; returns the value in force.
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String, StoreError> {
        let inserted = sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(value.to_owned()),
            Err(err) if is_unique_violation(&err) => {
                self.setting(name).await?.ok_or(StoreError::NotFound("setting"))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Creates the first platform administrator if there is no user yet; true when created.
    /// Several instances starting at once race here; only one wins.
    pub async fn create_first_admin(
        &self,
        password_hash: &str,
        context: &TrailContext,
    ) -> Result<bool, StoreError> {
        if self.user_count().await? > 0 {
            return Ok(false);
        }
        match self
            .create_user("admin", "管理员", password_hash, true, context)
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(err) => Err(err),
        }
    }
}
