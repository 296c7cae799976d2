//! Organizations (S 3.2, B 3.7.3): the internal tree and its XLSX import (platform admins),
//! outside companies, members and roles, admin transfer. Outsiders get 404 for everything of
//! an organization they do not belong to.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use qz_domain::access::{Actor, OrgAction, OrgRef, check_removal, check_role_change};
use qz_domain::org::{OrgKind, OrgRole, check_credit_code, check_org_name};
use qz_store::{Member, NewOrg, Org, StoreError, TrailEvent};

use crate::api::auth::Caller;
use crate::api::{ApiError, ApiResult, Body, ListQuery, PageOut};
use crate::app::AppState;

/// Loads an organization the caller may act on with `action`; outsiders learn nothing.
pub async fn authorized_org(state: &AppState, actor: &Actor, id: &str, action: OrgAction) -> ApiResult<Org> {
    let org = match state.store.org(id).await {
        Ok(org) => org,
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("organization")),
        Err(err) => return Err(err.into()),
    };
    actor
        .may(
            action,
            OrgRef {
                id: &org.id,
                kind: org.kind,
            },
        )
        .map_err(|err| match err {
            qz_domain::Error::Hidden => ApiError::not_found("organization"),
            other => other.into(),
        })?;
    Ok(org)
}

/// `GET /orgs` query.
#[derive(Debug, Deserialize)]
pub struct OrgListQuery {
    /// Cursor.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
    /// Platform admins: every organization.
    #[serde(default)]
    pub all: bool,
}

/// `GET /orgs`: the caller's organizations (or all, for platform admins with `all=true`).
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<OrgListQuery>,
) -> ApiResult<Json<PageOut<Org>>> {
    if query.all {
        caller.actor.may_administer()?;
    }
    let member = (!query.all).then_some(caller.user.id.as_str());
    Ok(Json(
        state
            .store
            .orgs_page(
                member,
                query.cursor.as_deref(),
                qz_store::clamp_limit(query.limit),
            )
            .await?
            .into(),
    ))
}

/// `POST /orgs` body (an internal organization).
#[derive(Debug, Deserialize)]
pub struct InternalForm {
    /// Name.
    pub name: String,
    /// Parent.
    pub parent_id: Option<String>,
    /// Department code.
    pub dept_code: Option<String>,
}

/// `POST /orgs`: platform admins add a department or college to the internal tree.
pub async fn create_internal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<InternalForm>,
) -> ApiResult<(StatusCode, Json<Org>)> {
    caller.actor.may_administer()?;
    check_org_name(&form.name)?;
    if let Some(parent) = &form.parent_id
        && state.store.org(parent).await?.kind != OrgKind::Internal
    {
        return Err(ApiError::invalid("the parent must be an internal organization"));
    }
    let org = state
        .store
        .create_internal_org(
            &NewOrg {
                name: form.name.trim(),
                parent_id: form.parent_id.as_deref(),
                dept_code: form.dept_code.as_deref().map(str::trim),
            },
            &caller.context(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(org)))
}

/// A node of the internal tree.
#[derive(Debug, Serialize)]
pub struct TreeNode {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Department code.
    pub dept_code: Option<String>,
    /// Children.
    pub children: Vec<TreeNode>,
}

fn build_tree(orgs: &[Org], parent: Option<&str>, depth: usize) -> Vec<TreeNode> {
    if depth > 64 {
        return Vec::new();
    }
    orgs.iter()
        .filter(|o| o.parent_id.as_deref() == parent)
        .map(|o| TreeNode {
            id: o.id.clone(),
            name: o.name.clone(),
            dept_code: o.dept_code.clone(),
            children: build_tree(orgs, Some(&o.id), depth + 1),
        })
        .collect()
}

/// `GET /orgs/tree`: the institution's tree, for its members and platform admins.
pub async fn tree(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Json<Vec<TreeNode>>> {
    let orgs = state.store.internal_tree().await?;
    let insider = caller.actor.platform_admin || orgs.iter().any(|o| caller.actor.role_in(&o.id).is_some());
    if !insider {
        return Err(ApiError::not_found("organization tree"));
    }
    Ok(Json(build_tree(&orgs, None, 0)))
}

/// `POST /orgs/import`: an XLSX sheet with columns 部门编码 / 部门名称 / 上级部门编码 (or
/// code / name / parent_code), header row first. All rows or none.
pub async fn import(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    caller.actor.may_administer()?;
    let rows = crate::xlsx::read_tree(&body).map_err(ApiError::invalid)?;
    let (created, updated) =
        state
            .store
            .import_tree(&rows, &caller.context())
            .await
            .map_err(|err| match err {
                StoreError::Corrupt(text) => ApiError::invalid(text),
                StoreError::NotFound(what) => ApiError::invalid(format!("{what} not found")),
                other => other.into(),
            })?;
    Ok(Json(
        serde_json::json!({ "rows": rows.len(), "created": created, "updated": updated }),
    ))
}

/// `GET /orgs/lookup?credit_code=`.
#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    /// Unified social credit code.
    pub credit_code: String,
}

/// `GET /orgs/lookup`: a verified outside company by credit code (to ask to join it). Only
/// the id and name are shown.
pub async fn lookup(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<LookupQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    state.limiter.check(&format!("lookup:{}", caller.user.id), 30)?;
    let code = check_credit_code(&query.credit_code)?;
    let org = state.store.org_by_credit_code(&code).await?;
    Ok(Json(serde_json::json!({ "id": org.id, "name": org.name })))
}

/// `GET /orgs/{id}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Org>> {
    Ok(Json(
        authorized_org(&state, &caller.actor, &id, OrgAction::View).await?,
    ))
}

/// `PATCH /orgs/{id}` body.
#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    /// New name.
    pub name: Option<String>,
    /// New parent (internal tree); `null` moves to the top.
    #[serde(default, with = "double_option")]
    pub parent_id: Option<Option<String>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// `PATCH /orgs/{id}`: rename or move an internal organization (platform admins). Outside
/// companies change their data by re-verification (`POST /org-verifications`).
pub async fn update_internal(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<UpdateForm>,
) -> ApiResult<Json<Org>> {
    let org = authorized_org(&state, &caller.actor, &id, OrgAction::Edit).await?;
    if org.kind != OrgKind::Internal {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "state",
            "an outside company changes its data by re-verification",
        ));
    }
    let name = form.name.unwrap_or(org.name);
    check_org_name(&name)?;
    let parent = form.parent_id.unwrap_or(org.parent_id);
    state
        .store
        .update_internal_org(&id, name.trim(), parent.as_deref(), &caller.context())
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => {
                ApiError::invalid("an organization cannot move under itself or its descendants")
            }
            other => other.into(),
        })?;
    Ok(Json(state.store.org(&id).await?))
}

/// `GET /orgs/{id}/members`.
pub async fn members(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<PageOut<Member>>> {
    authorized_org(&state, &caller.actor, &id, OrgAction::View).await?;
    Ok(Json(
        state
            .store
            .members_page(&id, query.cursor(), query.limit())
            .await?
            .into(),
    ))
}

/// `POST /orgs/{id}/members` body.
#[derive(Debug, Deserialize)]
pub struct AddMemberForm {
    /// The person's phone number (they must have an account).
    pub phone: String,
    /// member or seal_operator.
    pub role: Option<String>,
}

/// `POST /orgs/{id}/members`: the org admin (or a platform admin) adds a person.
pub async fn add_member(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<AddMemberForm>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    authorized_org(&state, &caller.actor, &id, OrgAction::ManageMembers).await?;
    let role = OrgRole::parse(form.role.as_deref().unwrap_or("member"))?;
    if role == OrgRole::Admin {
        return Err(ApiError::invalid(
            "make someone administrator by transfer, not when adding them",
        ));
    }
    let user = state.store.user_by_phone(form.phone.trim()).await?;
    state
        .store
        .add_member(&id, &user.id, role, &caller.context())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "user_id": user.id, "role": role.as_str() })),
    ))
}

async fn member_role(state: &AppState, org_id: &str, user_id: &str) -> ApiResult<OrgRole> {
    state
        .store
        .memberships(user_id)
        .await?
        .into_iter()
        .find(|m| m.org_id == org_id)
        .map(|m| m.role)
        .ok_or_else(|| ApiError::not_found("member"))
}

/// `PUT /orgs/{id}/members/{user_id}` body.
#[derive(Debug, Deserialize)]
pub struct RoleForm {
    /// member or seal_operator.
    pub role: String,
}

/// `PUT /orgs/{id}/members/{user_id}`: change a role.
pub async fn set_role(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    Body(form): Body<RoleForm>,
) -> ApiResult<StatusCode> {
    authorized_org(&state, &caller.actor, &id, OrgAction::ManageMembers).await?;
    let to = OrgRole::parse(&form.role)?;
    let from = member_role(&state, &id, &user_id).await?;
    check_role_change(from, to)?;
    state
        .store
        .set_role(&id, &user_id, from, to, &caller.context())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /orgs/{id}/members/{user_id}`: remove a member (the admin only after a
/// transfer). A member may also leave by removing themselves.
pub async fn remove_member(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let action = if user_id == caller.user.id {
        OrgAction::View
    } else {
        OrgAction::ManageMembers
    };
    authorized_org(&state, &caller.actor, &id, action).await?;
    let role = member_role(&state, &id, &user_id).await?;
    check_removal(role)?;
    state
        .store
        .remove_member(&id, &user_id, role, &caller.context())
        .await?;
    // Leaving revoked the person's certificate: tell the OCSP responder and CRL now.
    crate::credentials::sync_revocations(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /orgs/{id}/transfer-admin` body.
#[derive(Debug, Deserialize)]
pub struct TransferForm {
    /// The member who becomes administrator.
    pub user_id: String,
}

/// `POST /orgs/{id}/transfer-admin`: the admin hands over; they stay a member.
pub async fn transfer_admin(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(form): Body<TransferForm>,
) -> ApiResult<StatusCode> {
    authorized_org(&state, &caller.actor, &id, OrgAction::TransferAdmin).await?;
    member_role(&state, &id, &form.user_id).await?;
    state
        .store
        .transfer_admin(&id, &form.user_id, &caller.context())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /orgs/{id}/trail`: the organization's events (its managers only).
pub async fn trail(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<PageOut<TrailEvent>>> {
    authorized_org(&state, &caller.actor, &id, OrgAction::ManageMembers).await?;
    Ok(Json(
        state
            .store
            .trail_page(&format!("org:{id}"), query.cursor(), query.limit())
            .await?
            .into(),
    ))
}
