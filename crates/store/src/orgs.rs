//! Organizations, members and the requests that change them (verifications, joining,
//! becoming admin). Each decision and its effect commit with the trail event in one
//! transaction, and a decision only applies to a request still in the state the decider saw.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use qz_domain::access::Membership;
use qz_domain::org::{OrgKind, OrgRole, RequestStatus};

use crate::trail::append_event;
use crate::{Page, Store, StoreError, TrailContext, begin_write, conflict, new_id, now, query_text};

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Org {
    /// Id.
    pub id: String,
    /// Internal or external.
    #[serde(serialize_with = "kind_name")]
    pub kind: OrgKind,
    /// Name.
    pub name: String,
    /// Parent in the internal tree.
    pub parent_id: Option<String>,
    /// Department code (internal tree import).
    pub dept_code: Option<String>,
    /// Unified social credit code (external, once verified).
    pub credit_code: Option<String>,
    /// Legal representative (external).
    pub legal_rep: Option<String>,
    /// Business licence image blob.
    pub licence_blob: Option<String>,
    /// Whether verified (internal organizations always are).
    pub verified: bool,
    /// Unix seconds.
    pub created_at: i64,
}

fn kind_name<S: serde::Serializer>(kind: &OrgKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

const ORG_COLUMNS: &str =
    "id, kind, name, parent_id, dept_code, credit_code, legal_rep, licence_blob, verified, created_at";

fn org_from_row(row: &AnyRow) -> Result<Org, StoreError> {
    Ok(Org {
        id: row.try_get(0)?,
        kind: OrgKind::parse(&row.try_get::<String, _>(1)?)?,
        name: row.try_get(2)?,
        parent_id: row.try_get(3)?,
        dept_code: row.try_get(4)?,
        credit_code: row.try_get(5)?,
        legal_rep: row.try_get(6)?,
        licence_blob: row.try_get(7)?,
        verified: row.try_get::<i64, _>(8)? != 0,
        created_at: row.try_get(9)?,
    })
}

/// A new internal organization.
#[derive(Debug, Clone)]
pub struct NewOrg<'a> {
    /// Name.
    pub name: &'a str,
    /// Parent.
    pub parent_id: Option<&'a str>,
    /// Department code.
    pub dept_code: Option<&'a str>,
}

/// A member as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// User id.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Phone number.
    pub phone: String,
    /// Role.
    #[serde(serialize_with = "role_name")]
    pub role: OrgRole,
    /// Since (Unix seconds).
    pub joined_at: i64,
}

fn role_name<S: serde::Serializer>(role: &OrgRole, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.as_str())
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Verify an outside company (first time or after a change).
    OrgVerification,
    /// Join an organization.
    Join,
    /// Become the organization's administrator.
    Admin,
}

impl RequestKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::OrgVerification => "org_verification",
            RequestKind::Join => "join",
            RequestKind::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "org_verification" => Ok(RequestKind::OrgVerification),
            "join" => Ok(RequestKind::Join),
            "admin" => Ok(RequestKind::Admin),
            _ => Err(StoreError::Corrupt(format!("request kind {text:?}"))),
        }
    }
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Id.
    pub id: String,
    /// What it asks for.
    pub kind: RequestKind,
    /// The organization it is about.
    pub org_id: String,
    /// Who asked.
    pub applicant: String,
    /// Where it stands.
    #[serde(serialize_with = "status_name")]
    pub status: RequestStatus,
    /// What was submitted (JSON object).
    pub details: serde_json::Value,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

fn status_name<S: serde::Serializer>(status: &RequestStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

const REQUEST_COLUMNS: &str =
    "id, kind, org_id, applicant, status, details, reason, decided_by, created_at, updated_at";

fn request_from_row(row: &AnyRow) -> Result<Request, StoreError> {
    let details: String = row.try_get(5)?;
    Ok(Request {
        id: row.try_get(0)?,
        kind: RequestKind::parse(&row.try_get::<String, _>(1)?)?,
        org_id: row.try_get(2)?,
        applicant: row.try_get(3)?,
        status: RequestStatus::parse(&row.try_get::<String, _>(4)?)?,
        details: serde_json::from_str(&details)
            .map_err(|e| StoreError::Corrupt(format!("request details: {e}")))?,
        reason: row.try_get(6)?,
        decided_by: row.try_get(7)?,
        created_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
    })
}

fn text_field<'a>(details: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    details.get(key).and_then(serde_json::Value::as_str)
}

/// Which requests to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFilter<'a> {
    /// Of one organization.
    pub org_id: Option<&'a str>,
    /// By one applicant.
    pub applicant: Option<&'a str>,
    /// Of one kind.
    pub kind: Option<RequestKind>,
    /// In one state.
    pub status: Option<RequestStatus>,
    /// Leave out join requests (platform admins decide the other kinds).
    pub without_joins: bool,
}

impl Store {
    /// Creates an internal organization (a department or college of the institution).
    pub async fn create_internal_org(
        &self,
        new: &NewOrg<'_>,
        context: &TrailContext,
    ) -> Result<Org, StoreError> {
        let id = new_id();
        let mut tx = begin_write(self).await?;
        insert_internal(&mut tx, &id, new, context).await?;
        tx.commit().await?;
        self.org(&id).await
    }

    /// Imports the internal tree: rows of (department code, name, parent code), parents
    /// before or after children. Existing codes are renamed and moved; new codes created.
    /// All or nothing.
    pub async fn import_tree(
        &self,
        rows: &[(String, String, Option<String>)],
        context: &TrailContext,
    ) -> Result<(usize, usize), StoreError> {
        let mut tx = begin_write(self).await?;
        let mut ids = std::collections::HashMap::new();
        let (mut created, mut updated) = (0, 0);
        // First pass: make every code exist, so parents may come after children.
        for (code, name, _) in rows {
            let existing = sqlx::query("SELECT id FROM orgs WHERE dept_code = $1")
                .bind(code)
                .fetch_optional(&mut *tx)
                .await?;
            let id = match existing {
                Some(row) => {
                    let id: String = row.try_get(0)?;
                    sqlx::query("UPDATE orgs SET name = $2, updated_at = $3 WHERE id = $1")
                        .bind(&id)
                        .bind(name)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    updated += 1;
                    id
                }
                None => {
                    let id = new_id();
                    let new = NewOrg {
                        name,
                        parent_id: None,
                        dept_code: Some(code),
                    };
                    insert_internal(&mut tx, &id, &new, context).await?;
                    created += 1;
                    id
                }
            };
            ids.insert(code.clone(), id);
        }
        for (code, _, parent) in rows {
            let parent_id = match parent {
                Some(p) => Some(match ids.get(p) {
                    Some(id) => id.clone(),
                    None => sqlx::query("SELECT id FROM orgs WHERE dept_code = $1")
                        .bind(p)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or(StoreError::NotFound("parent department"))?
                        .try_get(0)?,
                }),
                None => None,
            };
            if parent_id.as_deref() == ids.get(code).map(String::as_str) {
                return Err(StoreError::Corrupt(format!(
                    "department {code} is its own parent"
                )));
            }
            sqlx::query("UPDATE orgs SET parent_id = $2 WHERE dept_code = $1")
                .bind(code)
                .bind(parent_id)
                .execute(&mut *tx)
                .await?;
        }
        append_event(
            &mut tx,
            "orgs:tree",
            "orgs.imported",
            &serde_json::json!({ "created": created, "updated": updated }).to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        Ok((created, updated))
    }

    /// An organization by id.
    pub async fn org(&self, id: &str) -> Result<Org, StoreError> {
        let row = query_text!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("organization"))?;
        org_from_row(&row)
    }

    /// A verified outside company by credit code.
    pub async fn org_by_credit_code(&self, code: &str) -> Result<Org, StoreError> {
        let row = query_text!("SELECT {ORG_COLUMNS} FROM orgs WHERE credit_code = $1 AND verified = 1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("organization"))?;
        org_from_row(&row)
    }

    /// One page of organizations: those `member` belongs to, or all (administration).
    pub async fn orgs_page(
        &self,
        member: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<Org>, StoreError> {
        let rows = match member {
            Some(user_id) => query_text!(
                "SELECT {ORG_COLUMNS} FROM orgs WHERE id > $1 AND id IN \
                 (SELECT org_id FROM memberships WHERE user_id = $2) ORDER BY id LIMIT $3"
            )
            .bind(after.unwrap_or(""))
            .bind(user_id)
            .bind(limit + 1),
            None => query_text!("SELECT {ORG_COLUMNS} FROM orgs WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after.unwrap_or(""))
                .bind(limit + 1),
        }
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(org_from_row).collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit, |o: &Org| o.id.clone()))
    }

    /// The whole internal tree (names and parents), for the tree view and the import.
    pub async fn internal_tree(&self) -> Result<Vec<Org>, StoreError> {
        let rows = query_text!("SELECT {ORG_COLUMNS} FROM orgs WHERE kind = 'internal' ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(org_from_row).collect()
    }

    /// Renames or moves an internal organization. Moving under one's own descendant is
    /// refused.
    pub async fn update_internal_org(
        &self,
        id: &str,
        name: &str,
        parent_id: Option<&str>,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let mut cursor = parent_id.map(str::to_owned);
        while let Some(p) = cursor {
            if p == id {
                return Err(StoreError::Conflict("a cycle in the organization tree"));
            }
            cursor = sqlx::query("SELECT parent_id FROM orgs WHERE id = $1 AND kind = 'internal'")
                .bind(&p)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound("parent organization"))?
                .try_get(0)?;
        }
        let updated = sqlx::query(
            "UPDATE orgs SET name = $2, parent_id = $3, updated_at = $4 WHERE id = $1 AND kind = 'internal'",
        )
        .bind(id)
        .bind(name)
        .bind(parent_id.map(str::to_owned))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::NotFound("organization"));
        }
        let details = serde_json::json!({ "name": name, "parent_id": parent_id }).to_string();
        append_event(&mut tx, &format!("org:{id}"), "org.updated", &details, context).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The organizations a user belongs to, with roles.
    pub async fn memberships(&self, user_id: &str) -> Result<Vec<Membership>, StoreError> {
        let rows = sqlx::query("SELECT org_id, role FROM memberships WHERE user_id = $1 ORDER BY org_id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Membership {
                    org_id: row.try_get(0)?,
                    role: OrgRole::parse(&row.try_get::<String, _>(1)?)?,
                })
            })
            .collect()
    }

    /// One page of an organization's members, ordered by user id.
    pub async fn members_page(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.name, u.phone, m.role, m.created_at FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.user_id > $2 \
             ORDER BY m.user_id LIMIT $3",
        )
        .bind(org_id)
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(Member {
                    user_id: row.try_get(0)?,
                    name: row.try_get(1)?,
                    phone: row.try_get(2)?,
                    role: OrgRole::parse(&row.try_get::<String, _>(3)?)?,
                    joined_at: row.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_rows(items, limit, |m| m.user_id.clone()))
    }

    /// The organization's administrator, if it has one.
    pub async fn org_admin(&self, org_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT user_id FROM memberships WHERE org_id = $1 AND role = 'admin'")
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Adds a member.
    pub async fn add_member(
        &self,
        org_id: &str,
        user_id: &str,
        role: OrgRole,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        insert_member(&mut tx, org_id, user_id, role, context).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes a member's role, if the member still has the role `from`.
    pub async fn set_role(
        &self,
        org_id: &str,
        user_id: &str,
        from: OrgRole,
        to: OrgRole,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let updated =
            sqlx::query("UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2 AND role = $4")
                .bind(org_id)
                .bind(user_id)
                .bind(to.as_str())
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale("the membership"));
        }
        let details =
            serde_json::json!({ "user_id": user_id, "from": from.as_str(), "to": to.as_str() }).to_string();
        append_event(
            &mut tx,
            &format!("org:{org_id}"),
            "member.role_changed",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member who still has the role `role`.
    pub async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        role: OrgRole,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let deleted = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2 AND role = $3")
            .bind(org_id)
            .bind(user_id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() != 1 {
            return Err(StoreError::Stale("the membership"));
        }
        // A session acting for the organization falls back to the person.
        sqlx::query("UPDATE sessions SET acting_for = NULL WHERE user_id = $1 AND acting_for = $2")
            .bind(user_id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        // Leaving ends the person's grants of the organization's seals, and their certificate
        // (its holder's affiliation changed; a new one is issued on request).
        let at = now();
        sqlx::query(
            "UPDATE grants SET revoked_at = $3, revoked_by = $4 WHERE org_id = $1 AND grantee = $2 AND revoked_at IS NULL",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(at)
        .bind(context.actor.clone())
        .execute(&mut *tx)
        .await?;
        if let Some(cert) = crate::certs::active_in(&mut tx, Some(user_id), None).await? {
            crate::certs::revoke_in(&mut tx, &cert, crate::certs::REASON_AFFILIATION_CHANGED, context)
                .await?;
        }
        let details = serde_json::json!({ "user_id": user_id }).to_string();
        append_event(
            &mut tx,
            &format!("org:{org_id}"),
            "member.removed",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `to` (a member) the administrator; the current administrator, if any, becomes a
    /// member.
    pub async fn transfer_admin(
        &self,
        org_id: &str,
        to: &str,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        move_admin(&mut tx, org_id, to, context).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Files a request. One pending request per (kind, organization, applicant); for
    /// verifications, one pending per organization.
    pub async fn create_request(
        &self,
        kind: RequestKind,
        org_id: Option<&str>,
        applicant: &str,
        details: &serde_json::Value,
        context: &TrailContext,
    ) -> Result<Request, StoreError> {
        let mut tx = begin_write(self).await?;
        let org_id = match org_id {
            Some(id) => id.to_owned(),
            None => {
                // A first verification creates the (unverified) outside organization.
                let id = new_id();
                let at = now();
                sqlx::query(
                    "INSERT INTO orgs (id, kind, name, verified, created_at, updated_at) VALUES ($1, 'external', $2, 0, $3, $3)",
                )
                .bind(&id)
                .bind(text_field(details, "name").unwrap_or_default())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                append_event(
                    &mut tx,
                    &format!("org:{id}"),
                    "org.created",
                    &details.to_string(),
                    context,
                )
                .await?;
                id
            }
        };
        let pending = sqlx::query(
            "SELECT COUNT(*) FROM requests WHERE kind = $1 AND org_id = $2 AND status = 'pending' \
             AND (applicant = $3 OR kind = 'org_verification')",
        )
        .bind(kind.as_str())
        .bind(&org_id)
        .bind(applicant)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>(0)?;
        if pending > 0 {
            return Err(StoreError::Conflict("a pending request of this kind"));
        }
        let id = new_id();
        let at = now();
        sqlx::query(
            "INSERT INTO requests (id, kind, org_id, applicant, status, details, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6)",
        )
        .bind(&id)
        .bind(kind.as_str())
        .bind(&org_id)
        .bind(applicant)
        .bind(details.to_string())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        append_event(
            &mut tx,
            &format!("request:{id}"),
            "request.created",
            &serde_json::json!({ "kind": kind.as_str(), "org_id": org_id, "details": details }).to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        self.request(&id).await
    }

    /// A request by id.
    pub async fn request(&self, id: &str) -> Result<Request, StoreError> {
        let row = query_text!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("request"))?;
        request_from_row(&row)
    }

    /// One page of requests matching `filter`.
    pub async fn requests_page(
        &self,
        filter: RequestFilter<'_>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<Request>, StoreError> {
        // Unused filters compare a column with itself through a constant, keeping one text.
        let rows = query_text!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE id > $1 \
             AND ($2 = '' OR org_id = $2) AND ($3 = '' OR applicant = $3) \
             AND ($4 = '' OR kind = $4) AND ($5 = '' OR status = $5) \
             AND ($7 = 0 OR kind <> 'join') ORDER BY id LIMIT $6"
        )
        .bind(after.unwrap_or(""))
        .bind(filter.org_id.unwrap_or(""))
        .bind(filter.applicant.unwrap_or(""))
        .bind(filter.kind.map(RequestKind::as_str).unwrap_or(""))
        .bind(filter.status.map(RequestStatus::as_str).unwrap_or(""))
        .bind(limit + 1)
        .bind(i64::from(filter.without_joins))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(request_from_row).collect::<Result<_, _>>()?;
        Ok(Page::from_rows(items, limit, |r: &Request| r.id.clone()))
    }

    /// Moves a request from `from` to `to` (the domain checked the transition) and applies the
    /// effect of an approval, all in one transaction:
    /// - verification: the organization takes the submitted name, credit code, legal
    ///   representative and licence, is verified, and the applicant becomes its administrator
    ///   if it has none;
    /// - join: the applicant becomes a member;
    /// - admin: the applicant becomes administrator, the previous one a member.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_request(
        &self,
        request: &Request,
        to: RequestStatus,
        reason: Option<&str>,
        new_details: Option<&serde_json::Value>,
        decided_by: Option<&str>,
        context: &TrailContext,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(self).await?;
        let details = new_details.unwrap_or(&request.details);
        let updated = sqlx::query(
            "UPDATE requests SET status = $2, reason = $3, decided_by = $4, details = $5, updated_at = $6 \
             WHERE id = $1 AND status = $7",
        )
        .bind(&request.id)
        .bind(to.as_str())
        .bind(reason.map(str::to_owned))
        .bind(decided_by.map(str::to_owned))
        .bind(details.to_string())
        .bind(now())
        .bind(request.status.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Stale("the request"));
        }
        if to == RequestStatus::Approved {
            match request.kind {
                RequestKind::OrgVerification => {
                    sqlx::query(
                        "UPDATE orgs SET name = $2, credit_code = $3, legal_rep = $4, licence_blob = $5, \
                         verified = 1, updated_at = $6 WHERE id = $1",
                    )
                    .bind(&request.org_id)
                    .bind(text_field(details, "name").unwrap_or_default())
                    .bind(text_field(details, "credit_code").map(str::to_owned))
                    .bind(text_field(details, "legal_rep").map(str::to_owned))
                    .bind(text_field(details, "licence_blob").map(str::to_owned))
                    .bind(now())
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict("a verified organization with this credit code"))?;
                    let admins =
                        sqlx::query("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'admin'")
                            .bind(&request.org_id)
                            .fetch_one(&mut *tx)
                            .await?
                            .try_get::<i64, _>(0)?;
                    if admins == 0 {
                        move_admin(&mut tx, &request.org_id, &request.applicant, context).await?;
                    }
                    append_event(
                        &mut tx,
                        &format!("org:{}", request.org_id),
                        "org.verified",
                        &details.to_string(),
                        context,
                    )
                    .await?;
                }
                RequestKind::Join => {
                    insert_member(
                        &mut tx,
                        &request.org_id,
                        &request.applicant,
                        OrgRole::Member,
                        context,
                    )
                    .await?;
                }
                RequestKind::Admin => {
                    move_admin(&mut tx, &request.org_id, &request.applicant, context).await?;
                }
            }
        }
        append_event(
            &mut tx,
            &format!("request:{}", request.id),
            &format!("request.{}", to.as_str()),
            &serde_json::json!({ "reason": reason, "details": new_details }).to_string(),
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_internal(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    new: &NewOrg<'_>,
    context: &TrailContext,
) -> Result<(), StoreError> {
    let at = now();
    sqlx::query(
        "INSERT INTO orgs (id, kind, name, parent_id, dept_code, verified, created_at, updated_at) \
         VALUES ($1, 'internal', $2, $3, $4, 1, $5, $5)",
    )
    .bind(id)
    .bind(new.name)
    .bind(new.parent_id.map(str::to_owned))
    .bind(new.dept_code.map(str::to_owned))
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(|err| match err {
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => {
            StoreError::NotFound("parent organization")
        }
        other => conflict("an organization with this department code")(other),
    })?;
    let details = serde_json::json!({
        "name": new.name, "parent_id": new.parent_id, "dept_code": new.dept_code
    })
    .to_string();
    append_event(tx, &format!("org:{id}"), "org.created", &details, context).await
}

async fn insert_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org_id: &str,
    user_id: &str,
    role: OrgRole,
    context: &TrailContext,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
        .bind(org_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(now())
        .execute(&mut **tx)
        .await
        .map_err(|err| match err {
            sqlx::Error::Database(e) if e.is_foreign_key_violation() => {
                StoreError::NotFound("user or organization")
            }
            other => conflict("this membership")(other),
        })?;
    let details = serde_json::json!({ "user_id": user_id, "role": role.as_str() }).to_string();
    append_event(tx, &format!("org:{org_id}"), "member.added", &details, context).await
}

async fn move_admin(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org_id: &str,
    to: &str,
    context: &TrailContext,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE memberships SET role = 'member' WHERE org_id = $1 AND role = 'admin'")
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    let updated = sqlx::query("UPDATE memberships SET role = 'admin' WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(to)
        .execute(&mut **tx)
        .await?;
    if updated.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'admin', $3)",
        )
        .bind(org_id)
        .bind(to)
        .bind(now())
        .execute(&mut **tx)
        .await?;
    }
    let details = serde_json::json!({ "user_id": to }).to_string();
    append_event(
        tx,
        &format!("org:{org_id}"),
        "org.admin_changed",
        &details,
        context,
    )
    .await
}
