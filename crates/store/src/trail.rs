//! The audit trail: per-object hash chains (DESIGN.md §6). Each event's hash covers its
//! length-prefixed fields and the previous event's hash; `trail_heads` holds each chain's last
//! event, so edits, removals in the middle and removals at the end are all found.

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Page, Store, StoreError, TrailContext, TrailEvent, begin_write, now, query_text};

#[allow(clippy::too_many_arguments)]
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
    hex(&hasher.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn context_text(actor: &str, acting_for: &str, ip: &str, user_agent: &str) -> String {
    format!("{actor}\u{1f}{acting_for}\u{1f}{ip}\u{1f}{user_agent}")
}

const EVENT_COLUMNS: &str =
    "object, seq, actor, acting_for, action, details, ip, user_agent, at, prev_hash, hash";

fn event_from_row(row: &AnyRow) -> Result<TrailEvent, StoreError> {
    Ok(TrailEvent {
        object: row.try_get(0)?,
        seq: row.try_get(1)?,
        actor: row.try_get(2)?,
        acting_for: row.try_get(3)?,
        action: row.try_get(4)?,
        details: row.try_get(5)?,
        ip: row.try_get(6)?,
        user_agent: row.try_get(7)?,
        at: row.try_get(8)?,
        prev_hash: row.try_get(9)?,
        hash: row.try_get(10)?,
    })
}

impl Store {
    /// Records an event on its own (for changes whose state lives elsewhere, e.g. a login).
    pub async fn record(
        &self,
        object: &str,
        action: &str,
        details: &str,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        append_event(&mut tx, object, action, details, context).await?;
        tx.commit().await?;
        Ok(())
    }

    /// All events of one object, in order.
    pub async fn trail(&self, object: &str) -> Result<Vec<TrailEvent>, StoreError> {
        let rows = query_text!("SELECT {EVENT_COLUMNS} FROM trail WHERE object = $1 ORDER BY seq")
            .bind(object)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// One page of an object's events; the cursor is the last sequence number seen.
    pub async fn trail_page(
        &self,
        object: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<TrailEvent>, StoreError> {
        let after: i64 = after.and_then(|a| a.parse().ok()).unwrap_or(0);
        let rows = query_text!(
            "SELECT {EVENT_COLUMNS} FROM trail WHERE object = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        )
        .bind(object)
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(event_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |e| e.seq.to_string()))
    }

    /// Checks every chain and its head; returns the number of events checked.
    pub async fn verify_trail(&self) -> Result<usize, StoreError> {
        let rows = query_text!("SELECT {EVENT_COLUMNS} FROM trail ORDER BY object, seq")
            .fetch_all(&self.pool)
            .await?;
        let heads = sqlx::query("SELECT object, seq, hash FROM trail_heads")
            .fetch_all(&self.pool)
            .await?;
        let mut heads: std::collections::HashMap<String, (i64, String)> = heads
            .iter()
            .map(|row| Ok((row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?))))
            .collect::<Result<_, sqlx::Error>>()?;
        let mut previous: Option<TrailEvent> = None;
        let mut count = 0;
        let close = |last: &TrailEvent,
                     heads: &mut std::collections::HashMap<String, (i64, String)>|
         -> Result<(), StoreError> {
            match heads.remove(&last.object) {
                Some((seq, hash)) if seq == last.seq && hash == last.hash => Ok(()),
                Some((seq, _)) => Err(StoreError::BrokenTrail {
                    object: last.object.clone(),
                    seq: last.seq.min(seq),
                    why: "events at the end of the chain are missing",
                }),
                None => Err(StoreError::BrokenTrail {
                    object: last.object.clone(),
                    seq: last.seq,
                    why: "the chain has no recorded head",
                }),
            }
        };
        for row in &rows {
            let event = event_from_row(row)?;
            let context = context_text(
                event.actor.as_deref().unwrap_or_default(),
                event.acting_for.as_deref().unwrap_or_default(),
                event.ip.as_deref().unwrap_or_default(),
                event.user_agent.as_deref().unwrap_or_default(),
            );
            let (expected_seq, expected_prev) = match &previous {
                Some(p) if p.object == event.object => (p.seq + 1, p.hash.clone()),
                Some(p) => {
                    close(p, &mut heads)?;
                    (1, String::new())
                }
                None => (1, String::new()),
            };
            let broken = |why| StoreError::BrokenTrail {
                object: event.object.clone(),
                seq: event.seq,
                why,
            };
            if event.seq != expected_seq {
                return Err(broken("an event is missing"));
            }
            if event.prev_hash != expected_prev {
                return Err(broken("it does not link to the previous event"));
            }
            let hash = event_hash(
                &event.prev_hash,
                &event.object,
                event.seq,
                &event.action,
                &event.details,
                event.at,
                &context,
            );
            if event.hash != hash {
                return Err(broken("its content was changed"));
            }
            count += 1;
            previous = Some(event);
        }
        if let Some(p) = &previous {
            close(p, &mut heads)?;
        }
        if let Some((object, (seq, _))) = heads.into_iter().next() {
            return Err(StoreError::BrokenTrail {
                object,
                seq,
                why: "all of the chain's events are missing",
            });
        }
        Ok(count)
    }
}

/// Appends an event to `object`'s chain inside `tx`. The head row serializes appends to one
/// object: on PostgreSQL the UPDATE locks it, and a racing first insert loses on its primary
/// key, failing its transaction rather than forking the chain.
pub(crate) async fn append_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    object: &str,
    action: &str,
    details: &str,
    context: &TrailContext,
) -> Result<(), StoreError> {
    // PostgreSQL: lock the head so concurrent appends queue instead of failing. SQLite
    // transactions here already hold the writer lock (BEGIN IMMEDIATE).
    let lock = if tx.backend_name() == "PostgreSQL" {
        " FOR UPDATE"
    } else {
        ""
    };
    let head = query_text!("SELECT seq, hash FROM trail_heads WHERE object = $1{lock}")
        .bind(object)
        .fetch_optional(&mut **tx)
        .await?;
    let (seq, prev_hash) = match head {
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
    if seq == 1 {
        sqlx::query("INSERT INTO trail_heads (object, seq, hash) VALUES ($1, $2, $3)")
            .bind(object)
            .bind(seq)
            .bind(&hash)
            .execute(&mut **tx)
            .await?;
    } else {
        let updated =
            sqlx::query("UPDATE trail_heads SET seq = $2, hash = $3 WHERE object = $1 AND seq = $4")
                .bind(object)
                .bind(seq)
                .bind(&hash)
                .bind(seq - 1)
                .execute(&mut **tx)
                .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale("the trail"));
        }
    }
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
