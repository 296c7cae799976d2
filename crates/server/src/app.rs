//! The platform server: health, readiness and metrics endpoints, the PKI routes, and (in later
//! slices) the `/api/v1` and page routes. Handlers translate HTTP to store/domain calls only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use qz_store::Store;

use crate::pki::PkiServices;

/// Shared state of the platform routes.
#[derive(Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Requests served, for `/metrics`.
    requests: AtomicU64,
    /// Responses with a 5xx status.
    errors: AtomicU64,
}

impl AppState {
    /// State over `store`.
    pub fn new(store: Store) -> Self {
        AppState {
            store,
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let body = format!(
        "# HELP qz_http_requests_total HTTP requests served.\n# TYPE qz_http_requests_total counter\n\
         qz_http_requests_total {}\n# HELP qz_http_errors_total HTTP responses with a 5xx status.\n\
         # TYPE qz_http_errors_total counter\nqz_http_errors_total {}\n",
        state.requests.load(Ordering::Relaxed),
        state.errors.load(Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn count(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let response = next.run(request).await;
    if response.status().is_server_error() {
        state.errors.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// All routes of the platform.
pub fn router(state: Arc<AppState>, pki: Arc<PkiServices>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(crate::pki::router(pki))
        .layer(middleware::from_fn_with_state(state, count))
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM, finishing requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(crate::pki::shutdown_signal())
        .await
}
