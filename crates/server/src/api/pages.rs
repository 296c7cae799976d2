//! Page images of a flow's documents (页面预览), for placing seals and reading before signing:
//! the page sizes as displayed (points, after rotation), and one page as PNG rendered on the
//! server (`qz_pdf::render_page`), so browsers need no PDF viewer. The same for an uploaded PDF
//! before it joins a flow (the start wizard places presets on it).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::flows::visible_flow;
use crate::api::{ApiError, ApiResult};
use crate::app::AppState;

/// A page's size as displayed.
#[derive(Debug, Serialize)]
pub struct PageSize {
    /// Page, from 1.
    pub page: usize,
    /// Width in points.
    pub width: f64,
    /// Height in points.
    pub height: f64,
}

async fn current_version(state: &AppState, caller: &Caller, id: &str, idx: usize) -> ApiResult<Vec<u8>> {
    let flow = visible_flow(state, caller, id).await?;
    let doc = flow
        .documents
        .get(idx)
        .ok_or_else(|| ApiError::not_found("document"))?;
    Ok(state.blobs.get(&doc.current_sha256).await?)
}

/// `GET /flows/{id}/documents/{idx}/pages`.
pub async fn sizes(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, idx)): Path<(String, usize)>,
) -> ApiResult<Json<Vec<PageSize>>> {
    let bytes = current_version(&state, &caller, &id, idx).await?;
    Ok(Json(page_sizes(bytes).await?))
}

/// The page sizes of a PDF, as displayed.
pub async fn page_sizes(bytes: Vec<u8>) -> ApiResult<Vec<PageSize>> {
    tokio::task::spawn_blocking(move || -> ApiResult<Vec<PageSize>> {
        let document = qz_pdf::Document::open(&bytes).map_err(ApiError::internal)?;
        Ok(document
            .pages()
            .iter()
            .enumerate()
            .map(|(i, p)| PageSize {
                page: i + 1,
                width: p.geometry.display_width(),
                height: p.geometry.display_height(),
            })
            .collect())
    })
    .await
    .map_err(ApiError::internal)?
}

/// `?width=` of a page image.
#[derive(Debug, Deserialize)]
pub struct ImageQuery {
    /// Pixels (100–2400; default 900).
    pub width: Option<u32>,
}

/// `GET /flows/{id}/documents/{idx}/pages/{page}`: the page as PNG.
pub async fn image(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, idx, page)): Path<(String, usize, usize)>,
    Query(query): Query<ImageQuery>,
) -> ApiResult<Response> {
    state.limiter.check(&format!("pages:{}", caller.user.id), 600)?;
    let bytes = current_version(&state, &caller, &id, idx).await?;
    png_response(&state, bytes, page, query.width).await
}

/// One page of a PDF as a PNG response.
pub async fn png_response(
    state: &AppState,
    bytes: Vec<u8>,
    page: usize,
    width: Option<u32>,
) -> ApiResult<Response> {
    let width = width.unwrap_or(900);
    // Rendering holds a full-size pixmap: as few at once as image work.
    let _turn = state.image_jobs.acquire().await.map_err(ApiError::internal)?;
    let png = tokio::task::spawn_blocking(move || qz_pdf::render_page(&bytes, page, width))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("image/png"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=60"),
    );
    Ok((headers, png).into_response())
}

async fn own_pdf(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Vec<u8>> {
    let info = match state.store.blob(id).await {
        Ok(info) if info.owner_id == caller.user.id => info,
        Ok(_) | Err(qz_store::StoreError::NotFound(_)) => return Err(ApiError::not_found("file")),
        Err(err) => return Err(err.into()),
    };
    if info.content_type != "application/pdf" {
        return Err(ApiError::invalid(
            "only a PDF has page images before the flow starts (a Word file is converted then)",
        ));
    }
    Ok(state.blobs.get(&info.sha256).await?)
}

/// `GET /blobs/{id}/pages`: the page sizes of a PDF the caller uploaded.
pub async fn blob_sizes(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<PageSize>>> {
    let bytes = own_pdf(&state, &caller, &id).await?;
    Ok(Json(page_sizes(bytes).await?))
}

/// `GET /blobs/{id}/pages/{page}`: one page of a PDF the caller uploaded, as PNG.
pub async fn blob_image(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, page)): Path<(String, usize)>,
    Query(query): Query<ImageQuery>,
) -> ApiResult<Response> {
    state.limiter.check(&format!("pages:{}", caller.user.id), 600)?;
    let bytes = own_pdf(&state, &caller, &id).await?;
    png_response(&state, bytes, page, query.width).await
}
