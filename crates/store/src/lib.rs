//! Persistence for the platform: one interface over SQLite (the embedded default, WAL) and
//! PostgreSQL (scale-out), with migrations per backend. This crate is the only one that speaks
//! SQL (DESIGN.md §3).
//!
//! Both backends run the same SQL text through `sqlx::Any` with `$N` placeholders, restricted
//! to the types `Any` supports (text, integers, blobs): timestamps are Unix seconds. Every state
//! change commits together with its trail event in one transaction; trail events are
//! hash-chained per object so `verify_trail` can prove nothing was edited or removed.
//!
//! This is the foundation slice of the platform issue: accounts and the trail. Organizations,
//! sessions, seals and flows add their tables through further migrations.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

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
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
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

/// A user account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: String,
    /// Phone number (login name).
    pub phone: String,
    /// Display name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// One trail event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailEvent {
    /// Object the event is about.
    pub object: String,
    /// Position in the object's chain, from 1.
    pub seq: i64,
    /// Action name.
    pub action: String,
    /// JSON details.
    pub details: String,
    /// Unix seconds.
    pub at: i64,
    /// Hash of the previous event ("" for the first).
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
    .unwrap_or(i64::MAX)
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS RNG failing is not recoverable; an all-zero id would then collide at insert.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn event_hash(
    prev_hash: &str,
    object: &str,
    seq: i64,
    action: &str,
    details: &str,
    at: i64,
    context: &str,
) -> String {
    let mut hasher = Sha256::new();
    for part in [
        prev_hash,
        object,
        &seq.to_string(),
        action,
        details,
        &at.to_string(),
        context,
    ] {
        // Length-prefixed, so fields cannot shift into each other.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| e.is_unique_violation())
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) and runs the migrations
    /// of that backend.
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
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers work while a writer commits; busy_timeout makes
                        // writers queue instead of failing.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
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

    /// Creates a user and its trail event in one transaction.
    pub async fn create_user(
        &self,
        phone: &str,
        name: &str,
        password_hash: &str,
        context: &TrailContext,
    ) -> Result<User, StoreError> {
        let user = User {
            id: random_id(),
            phone: phone.to_owned(),
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            created_at: now(),
        };
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, phone, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.phone)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                return Err(StoreError::Conflict("a user with this phone"));
            }
            Err(err) => return Err(err.into()),
        }
        let details = serde_json::json!({ "phone": phone, "name": name }).to_string();
        append_event(
            &mut tx,
            &format!("user:{}", user.id),
            "user.created",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// A user by phone number.
    pub async fn user_by_phone(&self, phone: &str) -> Result<User, StoreError> {
        let row =
            sqlx::query("SELECT id, phone, name, password_hash, created_at FROM users WHERE phone = $1")
                .bind(phone)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound("user"))?;
        Ok(User {
            id: row.try_get(0)?,
            phone: row.try_get(1)?,
            name: row.try_get(2)?,
            password_hash: row.try_get(3)?,
            created_at: row.try_get(4)?,
        })
    }

    /// Records an event on its own (for changes whose state lives elsewhere).
    pub async fn record(
        &self,
        object: &str,
        action: &str,
        details: &str,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        append_event(&mut tx, object, action, details, context).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The events of one object, in order.
    pub async fn trail(&self, object: &str) -> Result<Vec<TrailEvent>, StoreError> {
        let rows = sqlx::query("SELECT object, seq, action, details, at, prev_hash, hash FROM trail WHERE object = $1 ORDER BY seq")
            .bind(object)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(TrailEvent {
                    object: row.try_get(0)?,
                    seq: row.try_get(1)?,
                    action: row.try_get(2)?,
                    details: row.try_get(3)?,
                    at: row.try_get(4)?,
                    prev_hash: row.try_get(5)?,
                    hash: row.try_get(6)?,
                })
            })
            .collect()
    }

    /// Checks every chain; returns the number of events checked.
    pub async fn verify_trail(&self) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT object, seq, action, details, at, prev_hash, hash, COALESCE(actor, ''), COALESCE(acting_for, ''), \
             COALESCE(ip, ''), COALESCE(user_agent, '') FROM trail ORDER BY object, seq",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut previous: Option<(String, i64, String)> = None;
        for row in &rows {
            let object: String = row.try_get(0)?;
            let seq: i64 = row.try_get(1)?;
            let action: String = row.try_get(2)?;
            let details: String = row.try_get(3)?;
            let at: i64 = row.try_get(4)?;
            let prev_hash: String = row.try_get(5)?;
            let hash: String = row.try_get(6)?;
            let parts: [String; 4] = [
                row.try_get(7)?,
                row.try_get(8)?,
                row.try_get(9)?,
                row.try_get(10)?,
            ];
            let context = context_text(&parts[0], &parts[1], &parts[2], &parts[3]);
            let (expected_seq, expected_prev) = match &previous {
                Some((o, s, h)) if *o == object => (s + 1, h.clone()),
                _ => (1, String::new()),
            };
            let broken = |why| StoreError::BrokenTrail {
                object: object.clone(),
                seq,
                why,
            };
            if seq != expected_seq {
                return Err(broken("an event is missing"));
            }
            if prev_hash != expected_prev {
                return Err(broken("it does not link to the previous event"));
            }
            if hash != event_hash(&prev_hash, &object, seq, &action, &details, at, &context) {
                return Err(broken("its content was changed"));
            }
            previous = Some((object, seq, hash));
        }
        Ok(rows.len())
    }

    /// The pool, for tests that tamper on purpose.
    #[doc(hidden)]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

fn context_text(actor: &str, acting_for: &str, ip: &str, user_agent: &str) -> String {
    format!("{actor}\u{1f}{acting_for}\u{1f}{ip}\u{1f}{user_agent}")
}

/// Appends an event to `object`'s chain inside `tx`. Concurrent appends to one object race
/// for the same `seq`; the UNIQUE (object, seq) constraint makes the loser's transaction fail
/// rather than fork the chain.
async fn append_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    object: &str,
    action: &str,
    details: &str,
    context: &TrailContext,
) -> Result<(), StoreError> {
    let last = sqlx::query("SELECT seq, hash FROM trail WHERE object = $1 ORDER BY seq DESC LIMIT 1")
        .bind(object)
        .fetch_optional(&mut **tx)
        .await?;
    let (seq, prev_hash) = match last {
        Some(row) => (row.try_get::<i64, _>(0)? + 1, row.try_get::<String, _>(1)?),
        None => (1, String::new()),
    };
    let at = now();
    let text = context_text(
        context.actor.as_deref().unwrap_or_default(),
        context.acting_for.as_deref().unwrap_or_default(),
        context.ip.as_deref().unwrap_or_default(),
        context.user_agent.as_deref().unwrap_or_default(),
    );
    let hash = event_hash(&prev_hash, object, seq, action, details, at, &text);
    sqlx::query(
        "INSERT INTO trail (object, seq, actor, acting_for, action, details, ip, user_agent, at, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(object)
    .bind(seq)
    .bind(context.actor.clone())
    .bind(context.acting_for.clone())
    .bind(action)
    .bind(details)
    .bind(context.ip.clone())
    .bind(context.user_agent.clone())
    .bind(at)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
