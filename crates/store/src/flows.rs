//! Signing flows: creation, the per-document signature ledger, signer decisions, revocation,
//! expiry and the inbox views.
//!
//! Every decision re-reads the flow inside its writing transaction and asks `qz_domain::flow`,
//! so two requests racing on one flow cannot both act on a state only one of them saw. A
//! signature is appended to the document version the signer read (compare-and-set on
//! `flow_documents.version`): a parallel signer who lost the race re-reads and signs again on
//! top, and `flow_signatures` holds one row per signer and document, so a retried request never
//! signs twice.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use qz_domain::access::Actor;
use qz_domain::flow::{FlowRef, FlowStatus, Inbox, Party, SignerAction, SignerRef, SignerStatus};

use crate::stamps::stamp_in;
use crate::trail::append_event;
use crate::{Page, StampRecord, Store, StoreError, TrailContext, begin_write, new_id, now, query_text};

/// A flow with its documents, signers and CC recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Business type.
    pub business_type: Option<String>,
    /// Who started it.
    pub initiator: String,
    /// The organization the initiator acted for.
    pub acting_for: Option<String>,
    /// Status.
    #[serde(serialize_with = "status_name")]
    pub status: FlowStatus,
    /// Unix seconds from which it is expired.
    pub deadline: Option<i64>,
    /// Why it was declined or revoked.
    pub reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Unix seconds.
    pub ended_at: Option<i64>,
    /// The documents (a contract group).
    pub documents: Vec<FlowDocument>,
    /// The signer slots.
    pub signers: Vec<FlowSigner>,
    /// CC recipients (user ids).
    pub cc: Vec<String>,
}

fn status_name<S: serde::Serializer>(status: &FlowStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

fn signer_status_name<S: serde::Serializer>(status: &SignerStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

/// One document of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowDocument {
    /// Position in the flow, from 0.
    pub idx: i64,
    /// File name.
    pub name: String,
    /// The uploaded original.
    pub original_blob: String,
    /// SHA-256 of the current version (originals plus every signature so far).
    pub current_sha256: String,
    /// Size of the current version.
    pub size: i64,
    /// Signatures appended.
    pub version: i64,
}

/// One signer slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowSigner {
    /// Slot id.
    pub id: String,
    /// Stage.
    pub stage: i64,
    /// A person.
    pub user_id: Option<String>,
    /// An organization.
    pub org_id: Option<String>,
    /// May decline.
    pub may_decline: bool,
    /// Preset stamp positions: `[{document, page, x, y, width?}]`.
    pub positions: serde_json::Value,
    /// Status.
    #[serde(serialize_with = "signer_status_name")]
    pub status: SignerStatus,
    /// Who signed (for an organization slot, the member who did).
    pub signed_by: Option<String>,
    /// Unix seconds.
    pub ended_at: Option<i64>,
    /// Decline reason.
    pub reason: Option<String>,
    /// The legal name the initiator gave for this person (unregistered signers, or anyone
    /// named with name and ID number).
    pub expected_name: Option<String>,
    /// Digest of the ID number given with it.
    #[serde(skip)]
    pub expected_id_digest: Option<String>,
    /// The number itself, sealed for the named account (`expected-identity:{user_id}`).
    #[serde(skip)]
    pub expected_id_sealed: Option<Vec<u8>>,
}

/// Whom the initiator named for a person's slot.
#[derive(Debug, Clone)]
pub struct ExpectedIdentity {
    /// Legal name.
    pub name: String,
    /// Digest of the ID number (the platform key's HMAC, as in identities).
    pub id_digest: String,
    /// The number, sealed.
    pub id_sealed: Vec<u8>,
}

impl Flow {
    /// The facts the rules look at.
    pub fn as_ref(&self) -> FlowRef {
        FlowRef {
            status: self.status,
            initiator: self.initiator.clone(),
            deadline: self.deadline,
            signers: self
                .signers
                .iter()
                .map(|s| SignerRef {
                    id: s.id.clone(),
                    stage: u32::try_from(s.stage).unwrap_or(u32::MAX),
                    party: match (&s.user_id, &s.org_id) {
                        (Some(user), _) => Party::Person(user.clone()),
                        (None, Some(org)) => Party::Org(org.clone()),
                        (None, None) => Party::Org(String::new()),
                    },
                    status: s.status,
                    may_decline: s.may_decline,
                })
                .collect(),
        }
    }
}

/// An entry of the document revocation registry (文件吊销).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokedDocument {
    /// SHA-256 of the revoked file.
    pub sha256: String,
    /// Why.
    pub reason: String,
    /// Unix seconds.
    pub revoked_at: i64,
}

/// A flow as listed in an inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowSummary {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Business type.
    pub business_type: Option<String>,
    /// Initiator.
    pub initiator: String,
    /// Status.
    #[serde(serialize_with = "status_name")]
    pub status: FlowStatus,
    /// Deadline.
    pub deadline: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A flow to create.
#[derive(Debug, Clone)]
pub struct NewFlow<'a> {
    /// Title.
    pub title: &'a str,
    /// Business type.
    pub business_type: Option<&'a str>,
    /// Initiator.
    pub initiator: &'a str,
    /// Organization acted for.
    pub acting_for: Option<&'a str>,
    /// Deadline.
    pub deadline: Option<i64>,
    /// Documents: (name, blob id, sha256, size).
    pub documents: Vec<(String, String, String, i64)>,
    /// Signers.
    pub signers: Vec<NewSigner>,
    /// CC recipients.
    pub cc: Vec<String>,
}

/// A signer slot to create.
#[derive(Debug, Clone)]
pub struct NewSigner {
    /// Stage.
    pub stage: u32,
    /// A person…
    pub user_id: Option<String>,
    /// …or an organization.
    pub org_id: Option<String>,
    /// May decline.
    pub may_decline: bool,
    /// Preset positions (JSON array).
    pub positions: serde_json::Value,
    /// Whom the initiator named (a person's slot only).
    pub expected: Option<ExpectedIdentity>,
}

const FLOW_COLUMNS: &str = "id, title, business_type, initiator, acting_for, status, deadline, reason, created_at, updated_at, ended_at";

fn summary_from_row(row: &AnyRow) -> Result<FlowSummary, StoreError> {
    Ok(FlowSummary {
        id: row.try_get(0)?,
        title: row.try_get(1)?,
        business_type: row.try_get(2)?,
        initiator: row.try_get(3)?,
        status: FlowStatus::parse(&row.try_get::<String, _>(5)?)?,
        deadline: row.try_get(6)?,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
    })
}

async fn load_flow(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    lock: &str,
) -> Result<Flow, StoreError> {
    let row = query_text!("SELECT {FLOW_COLUMNS} FROM flows WHERE id = $1{lock}")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("flow"))?;
    let documents = sqlx::query(
        "SELECT idx, name, original_blob, current_sha256, size, version FROM flow_documents WHERE flow_id = $1 ORDER BY idx",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| {
        Ok(FlowDocument {
            idx: r.try_get(0)?,
            name: r.try_get(1)?,
            original_blob: r.try_get(2)?,
            current_sha256: r.try_get(3)?,
            size: r.try_get(4)?,
            version: r.try_get(5)?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    let signers = sqlx::query(
        "SELECT id, stage, user_id, org_id, may_decline, positions, status, signed_by, ended_at, reason, \
         expected_name, expected_id_digest, expected_id_sealed \
         FROM flow_signers WHERE flow_id = $1 ORDER BY stage, id",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| {
        Ok(FlowSigner {
            id: r.try_get(0)?,
            stage: r.try_get(1)?,
            user_id: r.try_get(2)?,
            org_id: r.try_get(3)?,
            may_decline: r.try_get::<i64, _>(4)? != 0,
            positions: serde_json::from_str(&r.try_get::<String, _>(5)?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            status: SignerStatus::parse(&r.try_get::<String, _>(6)?)?,
            signed_by: r.try_get(7)?,
            ended_at: r.try_get(8)?,
            reason: r.try_get(9)?,
            expected_name: r.try_get(10)?,
            expected_id_digest: r.try_get(11)?,
            expected_id_sealed: r.try_get(12)?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    let cc = sqlx::query("SELECT user_id FROM flow_cc WHERE flow_id = $1 ORDER BY user_id")
        .bind(id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<Vec<String>, _>>()?;
    Ok(Flow {
        id: row.try_get(0)?,
        title: row.try_get(1)?,
        business_type: row.try_get(2)?,
        initiator: row.try_get(3)?,
        acting_for: row.try_get(4)?,
        status: FlowStatus::parse(&row.try_get::<String, _>(5)?)?,
        deadline: row.try_get(6)?,
        reason: row.try_get(7)?,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
        ended_at: row.try_get(10)?,
        documents,
        signers,
        cc,
    })
}

impl Store {
    fn lock_clause(&self) -> &'static str {
        if self.backend == crate::Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        }
    }

    /// Creates a flow, in progress.
    pub async fn create_flow(&self, new: &NewFlow<'_>, context: &TrailContext) -> Result<Flow, StoreError> {
        let mut tx = begin_write(self).await?;
        let id = new_id();
        let at = now();
        sqlx::query(
            "INSERT INTO flows (id, title, business_type, initiator, acting_for, status, deadline, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, $7, $7)",
        )
        .bind(&id)
        .bind(new.title)
        .bind(new.business_type.map(str::to_owned))
        .bind(new.initiator)
        .bind(new.acting_for.map(str::to_owned))
        .bind(new.deadline)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        for (idx, (name, blob, sha256, size)) in new.documents.iter().enumerate() {
            sqlx::query(
                "INSERT INTO flow_documents (flow_id, idx, name, original_blob, current_sha256, size, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0)",
            )
            .bind(&id)
            .bind(i64::try_from(idx).unwrap_or(i64::MAX))
            .bind(name)
            .bind(blob)
            .bind(sha256)
            .bind(*size)
            .execute(&mut *tx)
            .await?;
        }
        for signer in &new.signers {
            sqlx::query(
                "INSERT INTO flow_signers (id, flow_id, stage, user_id, org_id, may_decline, positions, status, \
                 expected_name, expected_id_digest, expected_id_sealed) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'waiting', $8, $9, $10)",
            )
            .bind(new_id())
            .bind(&id)
            .bind(i64::from(signer.stage))
            .bind(signer.user_id.clone())
            .bind(signer.org_id.clone())
            .bind(i64::from(signer.may_decline))
            .bind(signer.positions.to_string())
            .bind(signer.expected.as_ref().map(|e| e.name.clone()))
            .bind(signer.expected.as_ref().map(|e| e.id_digest.clone()))
            .bind(signer.expected.as_ref().map(|e| e.id_sealed.clone()))
            .execute(&mut *tx)
            .await
            .map_err(|err| match err {
                sqlx::Error::Database(e) if e.is_foreign_key_violation() => StoreError::NotFound("signer"),
                other => StoreError::Database(other),
            })?;
        }
        for user in &new.cc {
            sqlx::query("INSERT INTO flow_cc (flow_id, user_id) VALUES ($1, $2)")
                .bind(&id)
                .bind(user)
                .execute(&mut *tx)
                .await
                .map_err(|err| match err {
                    sqlx::Error::Database(e) if e.is_foreign_key_violation() => {
                        StoreError::NotFound("CC recipient")
                    }
                    other => crate::conflict("a CC recipient")(other),
                })?;
        }
        let details = serde_json::json!({
            "title": new.title, "business_type": new.business_type, "deadline": new.deadline,
            "documents": new.documents.iter().map(|(n, b, h, _)| serde_json::json!({"name": n, "blob": b, "sha256": h})).collect::<Vec<_>>(),
            "signers": new.signers.len(), "cc": new.cc,
        })
        .to_string();
        append_event(&mut tx, &format!("flow:{id}"), "flow.created", &details, context).await?;
        let flow = load_flow(&mut tx, &id, "").await?;
        tx.commit().await?;
        Ok(flow)
    }

    /// One flow.
    pub async fn flow(&self, id: &str) -> Result<Flow, StoreError> {
        let mut tx = self.pool.begin().await?;
        let flow = load_flow(&mut tx, id, "").await?;
        tx.commit().await?;
        Ok(flow)
    }

    /// One document of a flow, as it stands.
    pub async fn flow_document(&self, flow_id: &str, idx: i64) -> Result<FlowDocument, StoreError> {
        let r = sqlx::query(
            "SELECT idx, name, original_blob, current_sha256, size, version FROM flow_documents WHERE flow_id = $1 AND idx = $2",
        )
        .bind(flow_id)
        .bind(idx)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("document"))?;
        Ok(FlowDocument {
            idx: r.try_get(0)?,
            name: r.try_get(1)?,
            original_blob: r.try_get(2)?,
            current_sha256: r.try_get(3)?,
            size: r.try_get(4)?,
            version: r.try_get(5)?,
        })
    }

    /// The documents `signer_id` signed already (indexes).
    pub async fn signed_documents(&self, signer_id: &str) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query("SELECT idx FROM flow_signatures WHERE signer_id = $1 ORDER BY idx")
            .bind(signer_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Appends `signer_id`'s signature to document `idx`: the new version (`sha256`, `size`)
    /// must have been made from version `seen`; otherwise `Stale` and the caller signs the newer
    /// version. The stamp's permission is checked and recorded in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn append_signature(
        &self,
        actor: &Actor,
        flow_id: &str,
        signer_id: &str,
        idx: i64,
        seen: i64,
        sha256: &str,
        size: i64,
        seal_id: &str,
        autosign: bool,
        context: &TrailContext,
    ) -> Result<StampRecord, StoreError> {
        let mut tx = begin_write(self).await?;
        let flow = load_flow(&mut tx, flow_id, self.lock_clause()).await?;
        let at = now();
        flow.as_ref()
            .may_act(actor, signer_id, SignerAction::Sign, at)
            .map_err(StoreError::Rule)?;
        let updated = sqlx::query(
            "UPDATE flow_documents SET current_sha256 = $3, size = $4, version = version + 1 \
             WHERE flow_id = $1 AND idx = $2 AND version = $5",
        )
        .bind(flow_id)
        .bind(idx)
        .bind(sha256)
        .bind(size)
        .bind(seen)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale("the document"));
        }
        let document = format!("sha256:{sha256}");
        let record = stamp_in(
            &mut tx,
            self.backend,
            actor,
            seal_id,
            flow.business_type.as_deref(),
            &document,
            autosign,
            context,
        )
        .await?;
        sqlx::query(
            "INSERT INTO flow_signatures (signer_id, idx, flow_id, version, sha256, use_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(signer_id)
        .bind(idx)
        .bind(flow_id)
        .bind(seen + 1)
        .bind(sha256)
        .bind(&record.use_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(crate::conflict("this signer's signature on the document"))?;
        let details = serde_json::json!({
            "signer_id": signer_id, "document": idx, "version": seen + 1, "sha256": sha256,
            "seal_id": seal_id, "use_id": record.use_id, "grant_id": record.grant_id,
            "autosign_id": record.autosign_id,
        })
        .to_string();
        append_event(
            &mut tx,
            &format!("flow:{flow_id}"),
            "document.signed",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Marks a signer slot signed once every document carries its signature; the flow
    /// completes with the last signer.
    pub async fn finish_signer(
        &self,
        actor: &Actor,
        flow_id: &str,
        signer_id: &str,
        context: &TrailContext,
    ) -> Result<Flow, StoreError> {
        let mut tx = begin_write(self).await?;
        let flow = load_flow(&mut tx, flow_id, self.lock_clause()).await?;
        let at = now();
        let rules = flow.as_ref();
        rules
            .may_act(actor, signer_id, SignerAction::Sign, at)
            .map_err(StoreError::Rule)?;
        let signed = sqlx::query("SELECT COUNT(*) FROM flow_signatures WHERE signer_id = $1")
            .bind(signer_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>(0)?;
        if usize::try_from(signed).unwrap_or(0) != flow.documents.len() {
            return Err(StoreError::Rule(qz_domain::Error::State(
                "not every document carries this signer's signature yet".into(),
            )));
        }
        let next = rules.after(signer_id, SignerAction::Sign);
        sqlx::query("UPDATE flow_signers SET status = 'signed', signed_by = $2, ended_at = $3 WHERE id = $1")
            .bind(signer_id)
            .bind(&actor.user_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        set_status(&mut tx, flow_id, next.status, None, at).await?;
        append_event(
            &mut tx,
            &format!("flow:{flow_id}"),
            "signer.signed",
            &serde_json::json!({ "signer_id": signer_id, "flow_status": next.status.as_str() }).to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        // The flow as the two updates above left it (read under this transaction's lock),
        // without reading it all again.
        let mut flow = flow;
        if let Some(slot) = flow.signers.iter_mut().find(|s| s.id == signer_id) {
            slot.status = SignerStatus::Signed;
            slot.signed_by = Some(actor.user_id.clone());
            slot.ended_at = Some(at);
        }
        flow.status = next.status;
        flow.updated_at = at;
        flow.ended_at = (next.status != FlowStatus::InProgress).then_some(at);
        Ok(flow)
    }

    /// A signer declines: the flow is void.
    pub async fn decline_flow(
        &self,
        actor: &Actor,
        flow_id: &str,
        signer_id: &str,
        reason: &str,
        context: &TrailContext,
    ) -> Result<Flow, StoreError> {
        let mut tx = begin_write(self).await?;
        let flow = load_flow(&mut tx, flow_id, self.lock_clause()).await?;
        let at = now();
        flow.as_ref()
            .may_act(actor, signer_id, SignerAction::Decline, at)
            .map_err(StoreError::Rule)?;
        sqlx::query(
            "UPDATE flow_signers SET status = 'declined', signed_by = $2, ended_at = $3, reason = $4 WHERE id = $1",
        )
        .bind(signer_id)
        .bind(&actor.user_id)
        .bind(at)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        set_status(&mut tx, flow_id, FlowStatus::Declined, Some(reason), at).await?;
        append_event(
            &mut tx,
            &format!("flow:{flow_id}"),
            "flow.declined",
            &serde_json::json!({ "signer_id": signer_id, "reason": reason }).to_string(),
            context,
        )
        .await?;
        let flow = load_flow(&mut tx, flow_id, "").await?;
        tx.commit().await?;
        Ok(flow)
    }

    /// The initiator revokes a running flow.
    pub async fn revoke_flow(
        &self,
        actor: &Actor,
        flow_id: &str,
        reason: &str,
        context: &TrailContext,
    ) -> Result<Flow, StoreError> {
        let mut tx = begin_write(self).await?;
        let flow = load_flow(&mut tx, flow_id, self.lock_clause()).await?;
        flow.as_ref().may_revoke(actor).map_err(StoreError::Rule)?;
        set_status(&mut tx, flow_id, FlowStatus::Revoked, Some(reason), now()).await?;
        append_event(
            &mut tx,
            &format!("flow:{flow_id}"),
            "flow.revoked",
            &serde_json::json!({ "reason": reason }).to_string(),
            context,
        )
        .await?;
        let flow = load_flow(&mut tx, flow_id, "").await?;
        tx.commit().await?;
        Ok(flow)
    }

    /// Expires running flows whose deadline passed; returns their ids.
    pub async fn expire_flows(&self, at: i64) -> Result<Vec<String>, StoreError> {
        let mut tx = begin_write(self).await?;
        let ids = sqlx::query(
            "SELECT id FROM flows WHERE status = 'in_progress' AND deadline IS NOT NULL AND deadline <= $1 ORDER BY id LIMIT 500",
        )
        .bind(at)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<Vec<String>, _>>()?;
        let mut expired = Vec::new();
        for id in ids {
            // Conditional: another instance running the same job expires each flow once.
            let updated = sqlx::query(
                "UPDATE flows SET status = 'expired', updated_at = $2, ended_at = $2 WHERE id = $1 AND status = 'in_progress'",
            )
            .bind(&id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 1 {
                append_event(
                    &mut tx,
                    &format!("flow:{id}"),
                    "flow.expired",
                    "{}",
                    &TrailContext::default(),
                )
                .await?;
                expired.push(id);
            }
        }
        tx.commit().await?;
        Ok(expired)
    }

    /// One page of an inbox view for `user_id`, newest first.
    pub async fn inbox(
        &self,
        user_id: &str,
        view: Inbox,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Page<FlowSummary>, StoreError> {
        let filter = inbox_filter(view);
        let rows = query_text!(
            "SELECT {FLOW_COLUMNS} FROM flows f WHERE {filter} AND ($2 = '' OR f.id < $2) ORDER BY f.id DESC LIMIT $3"
        )
        .bind(user_id)
        .bind(before.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(summary_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |f| f.id.clone()))
    }

    /// Every flow, newest first, for the platform's administrators: optionally only one
    /// status and titles containing `title` (case-insensitive for ASCII).
    pub async fn all_flows(
        &self,
        status: Option<FlowStatus>,
        title: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Page<FlowSummary>, StoreError> {
        // LIKE's wildcards in the search text are taken literally.
        let pattern = title.map(|t| {
            let escaped = t.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{}%", escaped.to_lowercase())
        });
        let rows = query_text!(
            "SELECT {FLOW_COLUMNS} FROM flows f WHERE ($1 = '' OR f.status = $1) \
             AND ($2 = '' OR LOWER(f.title) LIKE $2 ESCAPE '\\') AND ($3 = '' OR f.id < $3) \
             ORDER BY f.id DESC LIMIT $4"
        )
        .bind(status.map_or("", FlowStatus::as_str))
        .bind(pattern.unwrap_or_default())
        .bind(before.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(summary_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |f| f.id.clone()))
    }

    /// How many flows each inbox view holds for `user_id` (the tabs' counts).
    pub async fn inbox_counts(&self, user_id: &str) -> Result<Vec<(Inbox, i64)>, StoreError> {
        let mut counts = Vec::new();
        for view in Inbox::ALL {
            let filter = inbox_filter(view);
            let count: i64 = query_text!("SELECT COUNT(*) FROM flows f WHERE {filter}")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            counts.push((view, count));
        }
        Ok(counts)
    }

    /// Enters a completed flow's document in the revocation registry.
    pub async fn revoke_document(
        &self,
        flow: &Flow,
        idx: i64,
        reason: &str,
        context: &TrailContext,
    ) -> Result<RevokedDocument, StoreError> {
        let doc = flow
            .documents
            .iter()
            .find(|d| d.idx == idx)
            .ok_or(StoreError::NotFound("document"))?;
        if flow.status != FlowStatus::Completed {
            return Err(StoreError::Rule(qz_domain::Error::State(
                "only documents of completed flows are revoked; revoke the flow instead".into(),
            )));
        }
        let mut tx = begin_write(self).await?;
        let at = now();
        sqlx::query(
            "INSERT INTO revoked_documents (sha256, flow_id, idx, reason, revoked_by, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&doc.current_sha256)
        .bind(&flow.id)
        .bind(idx)
        .bind(reason)
        .bind(context.actor.clone().unwrap_or_default())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(crate::conflict("a revocation of this document"))?;
        append_event(
            &mut tx,
            &format!("flow:{}", flow.id),
            "document.revoked",
            &serde_json::json!({ "document": idx, "sha256": doc.current_sha256, "reason": reason })
                .to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(RevokedDocument {
            sha256: doc.current_sha256.clone(),
            reason: reason.to_owned(),
            revoked_at: at,
        })
    }

    /// The registry entry of the first of `hashes` that was revoked.
    pub async fn revoked_document(&self, hashes: &[String]) -> Result<Option<RevokedDocument>, StoreError> {
        for hash in hashes.iter().take(100) {
            let row =
                sqlx::query("SELECT sha256, reason, revoked_at FROM revoked_documents WHERE sha256 = $1")
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(row) = row {
                return Ok(Some(RevokedDocument {
                    sha256: row.try_get(0)?,
                    reason: row.try_get(1)?,
                    revoked_at: row.try_get(2)?,
                }));
            }
        }
        Ok(None)
    }

    /// Whether `user_id` may see a flow: initiator, a signer (or member of a signing
    /// organization), or CC recipient.
    pub async fn may_see_flow(&self, user_id: &str, flow_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM flows f WHERE f.id = $2 AND (f.initiator = $1 \
             OR EXISTS (SELECT 1 FROM flow_signers s WHERE s.flow_id = f.id AND (s.user_id = $1 OR s.org_id IN (SELECT org_id FROM memberships WHERE user_id = $1))) \
             OR EXISTS (SELECT 1 FROM flow_cc c WHERE c.flow_id = f.id AND c.user_id = $1))",
        )
        .bind(user_id)
        .bind(flow_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}

async fn set_status(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    flow_id: &str,
    status: FlowStatus,
    reason: Option<&str>,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE flows SET status = $2, reason = COALESCE($3, reason), updated_at = $4, \
         ended_at = CASE WHEN $2 = 'in_progress' THEN NULL ELSE $4 END WHERE id = $1",
    )
    .bind(flow_id)
    .bind(status.as_str())
    .bind(reason.map(str::to_owned))
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The SQL condition on `flows f` of an inbox view, for the user bound to `$1`.
fn inbox_filter(view: Inbox) -> String {
    // A slot is the user's: their own, or their organization's.
    const MINE: &str = "(s.user_id = $1 OR s.org_id IN (SELECT org_id FROM memberships WHERE user_id = $1))";
    const CURRENT: &str = "s.status = 'waiting' AND s.stage = (SELECT MIN(t.stage) FROM flow_signers t WHERE t.flow_id = f.id AND t.status = 'waiting')";
    let involved = format!(
        "(f.initiator = $1 OR EXISTS (SELECT 1 FROM flow_signers s WHERE s.flow_id = f.id AND {MINE}) \
         OR EXISTS (SELECT 1 FROM flow_cc c WHERE c.flow_id = f.id AND c.user_id = $1))"
    );
    match view {
        Inbox::Todo => format!(
            "f.status = 'in_progress' AND EXISTS (SELECT 1 FROM flow_signers s WHERE s.flow_id = f.id AND {MINE} AND {CURRENT})"
        ),
        Inbox::WaitingOthers => format!(
            "f.status = 'in_progress' AND (f.initiator = $1 OR EXISTS (SELECT 1 FROM flow_signers s WHERE s.flow_id = f.id AND {MINE})) \
             AND NOT EXISTS (SELECT 1 FROM flow_signers s WHERE s.flow_id = f.id AND {MINE} AND {CURRENT})"
        ),
        Inbox::Completed => format!("f.status = 'completed' AND {involved}"),
        Inbox::Void => format!("f.status IN ('declined', 'revoked', 'expired') AND {involved}"),
        Inbox::Cc => "EXISTS (SELECT 1 FROM flow_cc c WHERE c.flow_id = f.id AND c.user_id = $1)".to_owned(),
        Inbox::Initiated => "f.initiator = $1".to_owned(),
    }
}
