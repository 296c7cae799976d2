//! The platform server: health, readiness and metrics endpoints, the PKI routes and
//! `/api/v1`. Handlers translate HTTP to domain checks and store calls only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use qz_store::Store;
use qz_store::blobs::BlobStore;

use crate::api::ratelimit::RateLimiter;
use crate::config::ServerConfig;
use crate::notify::Notifier;
use crate::pki::PkiServices;
use crate::secrets::PlatformKey;

/// Per-document async locks, created on demand and dropped when nobody holds them.
#[derive(Debug, Default)]
pub struct DocumentLocks(std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl DocumentLocks {
    /// The lock of `key`.
    pub fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 1024 {
            map.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        map.entry(key.to_owned()).or_default().clone()
    }
}

/// Shared state of the platform routes.
#[derive(Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Uploaded files.
    pub blobs: BlobStore,
    /// The platform key.
    pub key: PlatformKey,
    /// Settings.
    pub config: ServerConfig,
    /// Per-client limits.
    pub limiter: RateLimiter,
    /// Queues messages.
    pub notifier: Notifier,
    /// Client for outside providers.
    pub http: reqwest::Client,
    /// The CA and its services (platform certificates are issued here).
    pub pki: Arc<PkiServices>,
    /// Image work (handwriting cleanup, seal drawing) at once: each holds full-size buffers.
    pub image_jobs: tokio::sync::Semaphore,
    /// One signer at a time per flow document on this instance, so parallel signers queue
    /// instead of signing the same version and re-signing after losing the compare-and-set
    /// (which still guards across instances).
    pub document_locks: DocumentLocks,
    /// Seal images decoded and compressed for stamping, by image SHA-256.
    pub seal_pictures:
        std::sync::Mutex<std::collections::HashMap<String, Arc<crate::api::stamp::SealPicture>>>,
    /// Word conversions at once (LibreOffice is heavy).
    pub office_jobs: tokio::sync::Semaphore,
    /// The CJK font for reports, loaded on first use (`None` inside: none installed).
    report_font: std::sync::OnceLock<Option<Arc<qz_pdf::Font>>>,
    /// Requests served, for `/metrics`.
    requests: AtomicU64,
    /// Responses with a 5xx status.
    errors: AtomicU64,
}

impl AppState {
    /// The font for the documents the platform writes.
    pub fn report_font(&self) -> Option<Arc<qz_pdf::Font>> {
        self.report_font
            .get_or_init(|| {
                let font = match &self.config.font {
                    Some((path, index)) => qz_pdf::Font::load_file(path, *index).ok(),
                    None => qz_pdf::Font::system_cjk(),
                };
                font.map(Arc::new)
            })
            .clone()
    }

    /// State over its parts.
    pub fn new(
        store: Store,
        blobs: BlobStore,
        key: PlatformKey,
        config: ServerConfig,
        pki: Arc<PkiServices>,
    ) -> Self {
        AppState {
            report_font: std::sync::OnceLock::new(),
            office_jobs: tokio::sync::Semaphore::new(1),
            seal_pictures: std::sync::Mutex::new(std::collections::HashMap::new()),
            pki,
            image_jobs: tokio::sync::Semaphore::new(2),
            document_locks: DocumentLocks::default(),
            notifier: Notifier::new(store.clone(), &config),
            store,
            blobs,
            key,
            config,
            limiter: RateLimiter::default(),
            http: reqwest::Client::new(),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.store.ping().await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
    }
    if state.blobs.ping().await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "blob storage unavailable").into_response();
    }
    (StatusCode::OK, "ready").into_response()
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
    let mut response = next.run(request).await;
    if response.status().is_server_error() {
        state.errors.fetch_add(1, Ordering::Relaxed);
    }
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// All routes of the platform.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_upload;
    let pki = state.pki.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(crate::api::router(state.clone()))
        .merge(crate::web::router(state.clone()))
        .merge(crate::pki::router(pki))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state, count))
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM, finishing requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(crate::pki::shutdown_signal())
    .await
}
