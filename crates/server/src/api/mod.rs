//! `/api/v1`: JSON over HTTP (DESIGN.md §7). Handlers translate requests into domain checks
//! and store calls and back; every rule about who may do what is asked of `qz_domain`.
//!
//! Conventions: errors are RFC 9457 problem+json ([`error`]); lists take `cursor` and
//! `limit` and answer `{items, next_cursor}`; creating POSTs honour `Idempotency-Key`
//! ([`idempotency`]); web sessions are an HttpOnly cookie plus a CSRF token that every
//! state-changing request echoes in `X-CSRF-Token` ([`auth`]).

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod certs;
pub mod convert;
pub mod error;
pub mod flow_batch;
pub mod flow_sign;
pub mod flows;
pub mod grants;
pub mod guests;
pub mod idempotency;
pub mod identity;
pub mod orgs;
pub mod pages;
pub mod ratelimit;
pub mod report;
pub mod requests;
pub mod seals;
pub mod settings;
pub mod stamp;
pub mod token;
pub mod verify;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
pub use error::{ApiError, ApiResult};

/// The OpenAPI document, kept by hand beside the routes; a test checks both list the same
/// operations.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// A JSON body whose errors are problem+json.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(Body(value))
    }
}

/// `?cursor=&limit=` of list endpoints.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// Items per page, 1–100 (default 20).
    pub limit: Option<i64>,
}

impl ListQuery {
    /// The clamped page size.
    pub fn limit(&self) -> i64 {
        qz_store::clamp_limit(self.limit)
    }

    /// The cursor, if any.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
}

/// A page as the API shows it.
#[derive(Debug, Serialize)]
pub struct PageOut<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> From<qz_store::Page<T>> for PageOut<T> {
    fn from(page: qz_store::Page<T>) -> Self {
        PageOut {
            items: page.items,
            next_cursor: page.next,
        }
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Every `/api/v1` route. Keep in step with `openapi.json` (tested).
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        // Accounts.
        .route("/auth/codes", post(accounts::send_code))
        .route("/auth/register", post(accounts::register))
        .route("/auth/login", post(accounts::login))
        .route("/auth/logout", post(accounts::logout))
        .route("/auth/reset-password", post(accounts::reset_password))
        .route("/me", get(accounts::me))
        .route("/me/password", post(accounts::change_password))
        .route("/me/phone", post(accounts::change_phone))
        .route("/me/email", post(accounts::change_email))
        .route("/me/locale", put(accounts::set_locale))
        .route("/me/acting-for", put(accounts::set_acting_for))
        .route("/me/trail", get(accounts::my_trail))
        .route("/me/messages", get(accounts::messages))
        .route("/me/messages/{id}/read", post(accounts::mark_read))
        // Identity.
        .route("/me/identity", get(identity::status).post(identity::submit))
        .route("/identity/callback", post(identity::callback))
        // Organizations.
        .route("/orgs", get(orgs::list).post(orgs::create_internal))
        .route("/orgs/tree", get(orgs::tree))
        .route("/orgs/import", post(orgs::import))
        .route("/orgs/lookup", get(orgs::lookup))
        .route("/orgs/{id}", get(orgs::show).patch(orgs::update_internal))
        .route("/orgs/{id}/members", get(orgs::members).post(orgs::add_member))
        .route(
            "/orgs/{id}/members/{user_id}",
            put(orgs::set_role).delete(orgs::remove_member),
        )
        .route("/orgs/{id}/transfer-admin", post(orgs::transfer_admin))
        .route("/orgs/{id}/trail", get(orgs::trail))
        .route("/orgs/{id}/join-requests", post(requests::join))
        .route("/orgs/{id}/admin-requests", post(requests::apply_admin))
        .route("/org-verifications", post(requests::submit_verification))
        .route("/requests", get(requests::list))
        .route("/requests/{id}", get(requests::show))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/reject", post(requests::reject))
        .route("/requests/{id}/withdraw", post(requests::withdraw))
        .route("/requests/{id}/resubmit", post(requests::resubmit))
        // Files.
        .route("/blobs", post(admin::upload))
        .route("/blobs/{id}", get(admin::download))
        .route("/blobs/{id}/pages", get(pages::blob_sizes))
        .route("/blobs/{id}/pages/{page}", get(pages::blob_image))
        // Administration.
        .route("/admin/users", get(admin::users))
        .route("/admin/users/{id}", get(admin::user))
        .route("/admin/outbox", get(admin::outbox))
        .route("/admin/flows", get(flows::admin_list))
        .route("/admin/trail", get(admin::trail))
        .route("/admin/trail/verify", post(admin::verify_trail))
        .route(
            "/admin/users/{id}/handwriting",
            post(seals::admin_upload_handwriting),
        )
        // Seals.
        .route("/me/seals", get(seals::mine))
        .route("/me/seals/handwriting", post(seals::upload_handwriting))
        .route("/me/handwriting-links", post(seals::create_capture_link))
        .route(
            "/handwriting-links/{token}",
            get(seals::capture_link_status).post(seals::capture),
        )
        .route(
            "/orgs/{id}/seals",
            get(seals::of_org).post(seals::create_org_seal),
        )
        .route("/seals/{id}", get(seals::show).delete(seals::delete))
        .route("/seals/{id}/image", get(seals::image))
        .route("/seals/{id}/enable", post(seals::enable))
        .route("/seals/{id}/disable", post(seals::disable))
        .route("/seals/{id}/stats", get(seals::stats))
        .route("/seals/{id}/uses", get(seals::uses))
        .route("/stamp", post(stamp::stamp))
        // Certificates and co-sign enrolment.
        .route("/me/certificates", get(certs::mine))
        .route("/me/certificates/reissue", post(certs::reissue))
        .route("/orgs/{id}/certificates", get(certs::of_org))
        .route("/orgs/{id}/certificates/reissue", post(certs::reissue_org))
        .route("/certificates/{id}/revoke", post(certs::revoke))
        .route("/me/certificates/token", post(token::enrol))
        .route("/me/cosign/invitations", post(certs::invite))
        .route("/cosign/enrol", post(certs::enrol))
        .route("/cosign/certify", post(certs::certify))
        .route("/cosign/sign", post(certs::sign))
        .route("/cosign/keys/{key_id}", get(certs::key_status))
        // Grants and auto-sign.
        .route("/orgs/{id}/grants", get(grants::of_org).post(grants::create))
        .route("/me/grants", get(grants::mine))
        .route("/grants/{id}/revoke", post(grants::revoke))
        .route("/orgs/{id}/grant-requests", post(grants::request))
        .route("/grant-requests", get(grants::list_requests))
        .route("/grant-requests/{id}/approve", post(grants::approve))
        .route("/grant-requests/{id}/reject", post(grants::reject))
        .route("/grant-requests/{id}/withdraw", post(grants::withdraw))
        .route(
            "/me/autosign",
            get(grants::autosigns).post(grants::enable_autosign),
        )
        .route("/me/autosign/{id}/revoke", post(grants::revoke_autosign))
        .route("/me/autosign/uses", get(grants::autosign_uses))
        // Signing flows.
        .route("/flows", get(flows::list).post(flows::create))
        .route("/flows/revoke", post(flow_batch::revoke_many))
        .route("/flows/remind", post(flow_batch::remind_many))
        .route("/flows/abnormal", get(flow_batch::abnormal))
        .route("/flows/counts", get(flows::counts))
        .route("/flows/download", post(flow_batch::download_many))
        .route("/flows/{id}/documents.zip", get(flow_batch::download_zip))
        .route("/flows/{id}/remind", post(flow_batch::remind))
        .route("/flows/{id}", get(flows::show))
        .route("/flows/{id}/documents/{idx}", get(flows::document))
        .route("/flows/{id}/sign", post(flow_sign::sign))
        .route("/me/pending-signatures", get(flow_sign::pending_list))
        .route("/guest/{token}", get(guests::show))
        .route("/guest/{token}/code", post(guests::send_code))
        .route("/guest/{token}/session", post(guests::open))
        .route("/pending-signatures/{id}", get(flow_sign::pending_show))
        .route("/pending-signatures/{id}/finish", post(flow_sign::pending_finish))
        .route("/pending-signatures/{id}/cancel", post(flow_sign::pending_cancel))
        .route("/flows/{id}/decline", post(flows::decline))
        .route("/flows/{id}/revoke", post(flows::revoke))
        .route("/flows/{id}/trail", get(flows::trail))
        .route("/flows/{id}/report", get(report::report))
        .route("/flows/{id}/documents/{idx}/pages", get(pages::sizes))
        .route("/flows/{id}/documents/{idx}/pages/{page}", get(pages::image))
        .route("/settings/flows", get(settings::show))
        .route("/admin/settings/flows", put(settings::update))
        .route(
            "/flows/{id}/documents/{idx}/revoke",
            post(verify::revoke_document),
        )
        // Verification, open to everyone.
        .route("/verify", post(verify::verify));
    Router::new().nest(
        "/api/v1",
        api.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .with_state(state),
    )
}
