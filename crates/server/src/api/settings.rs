//! Flow settings an administrator manages (S 二, B 3.5): the business-type list (业务类型), the
//! file types, size and count limits of a flow's documents, and the default deadline. Stored as
//! one JSON setting; every change is in the trail of `setting:flows`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use qz_domain::grant::check_note;

use crate::api::auth::Caller;
use crate::api::flows::MAX_DOCUMENTS;
use crate::api::{ApiError, ApiResult, Body};
use crate::app::AppState;

const NAME: &str = "flows";

/// File types a flow may carry.
pub const FILE_TYPES: &[&str] = &["pdf", "docx", "doc"];

/// The settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    /// Business types to choose from; empty: any text.
    pub business_types: Vec<String>,
    /// Allowed document types: pdf, docx, doc.
    pub file_types: Vec<String>,
    /// Largest document, MiB.
    pub max_file_mb: u64,
    /// Most documents per flow (at most 20).
    pub max_documents: usize,
    /// Deadline when the initiator gives none, in days (none: no deadline).
    pub default_deadline_days: Option<u32>,
}

impl Default for FlowSettings {
    fn default() -> Self {
        FlowSettings {
            business_types: Vec::new(),
            file_types: FILE_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            max_file_mb: 10,
            max_documents: MAX_DOCUMENTS,
            default_deadline_days: None,
        }
    }
}

impl FlowSettings {
    fn check(&self) -> ApiResult<()> {
        if self.business_types.len() > 100 {
            return Err(ApiError::invalid("at most 100 business types"));
        }
        for kind in &self.business_types {
            check_note(kind)?;
            if kind.trim().is_empty() {
                return Err(ApiError::invalid("a business type has a name"));
            }
        }
        if self.file_types.is_empty() || self.file_types.iter().any(|t| !FILE_TYPES.contains(&t.as_str())) {
            return Err(ApiError::invalid("file_types are some of pdf, docx, doc"));
        }
        if !(1..=100).contains(&self.max_file_mb) {
            return Err(ApiError::invalid("max_file_mb is 1 to 100"));
        }
        if !(1..=MAX_DOCUMENTS).contains(&self.max_documents) {
            return Err(ApiError::invalid(format!(
                "max_documents is 1 to {MAX_DOCUMENTS}"
            )));
        }
        if self
            .default_deadline_days
            .is_some_and(|d| !(1..=365).contains(&d))
        {
            return Err(ApiError::invalid("default_deadline_days is 1 to 365"));
        }
        Ok(())
    }

    /// Whether a document of `content_type` may be part of a flow.
    pub fn allows(&self, content_type: &str) -> bool {
        let kind = match content_type {
            "application/pdf" => "pdf",
            crate::api::convert::DOCX => "docx",
            crate::api::convert::DOC => "doc",
            _ => return false,
        };
        self.file_types.iter().any(|t| t == kind)
    }
}

/// The settings in force.
pub async fn load(state: &AppState) -> ApiResult<FlowSettings> {
    Ok(match state.store.setting(&format!("settings:{NAME}")).await? {
        Some(json) => serde_json::from_str(&json).map_err(ApiError::internal)?,
        None => FlowSettings::default(),
    })
}

/// `GET /settings/flows`: for the flow wizard (anyone logged in).
pub async fn show(State(state): State<Arc<AppState>>, _caller: Caller) -> ApiResult<Json<FlowSettings>> {
    Ok(Json(load(&state).await?))
}

/// `PUT /admin/settings/flows` (platform admins).
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(form): Body<FlowSettings>,
) -> ApiResult<Json<FlowSettings>> {
    if !caller.actor.platform_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only platform administrators change settings",
        ));
    }
    let mut settings = form;
    settings.business_types = settings
        .business_types
        .iter()
        .map(|t| t.trim().to_owned())
        .collect();
    settings.business_types.dedup();
    settings.check()?;
    let json = serde_json::to_string(&settings).map_err(ApiError::internal)?;
    state
        .store
        .put_setting(&format!("settings:{NAME}"), &json, &caller.context())
        .await?;
    Ok(Json(settings))
}
