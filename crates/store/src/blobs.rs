//! Blob storage: uploaded files (licence images, imports, later documents) live on a local
//! directory (embedded default) or S3-compatible storage (scale-out), both through the
//! `object_store` crate. Objects are named by their SHA-256, so a stored object never changes
//! and equal uploads share one object; the `blobs` table records who uploaded what.

use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::trail::hex;
use crate::{Store, StoreError, new_id, now};

/// Where blobs go.
#[derive(Debug, Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    description: String,
}

/// A blob's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobInfo {
    /// Id.
    pub id: String,
    /// SHA-256 of the content (hex).
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// Media type as checked at upload.
    pub content_type: String,
    /// Uploader.
    pub owner_id: String,
    /// Unix seconds.
    pub created_at: i64,
}

fn blob_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Blob(err.to_string())
}

impl BlobStore {
    /// A local directory (created if missing).
    pub fn local(dir: &std::path::Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(blob_error)?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir).map_err(blob_error)?;
        Ok(BlobStore {
            inner: Arc::new(store),
            description: format!("directory {}", dir.display()),
        })
    }

    /// `s3://BUCKET?endpoint=URL&region=R`: credentials come from the usual AWS_* variables.
    /// `endpoint` makes any S3-compatible server work (MinIO, Ceph, moto); plain http is
    /// allowed only for an explicit endpoint.
    pub fn s3(url: &str) -> Result<Self, StoreError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| StoreError::Blob(format!("{url:?} is not an s3:// URL")))?;
        let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::Blob(format!("{url:?} names no bucket")));
        }
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            builder = match key {
                "endpoint" => builder
                    .with_endpoint(value)
                    .with_allow_http(value.starts_with("http://"))
                    .with_virtual_hosted_style_request(false),
                "region" => builder.with_region(value),
                _ => {
                    return Err(StoreError::Blob(format!(
                        "unknown option {key:?} in the blob URL: use endpoint= and region="
                    )));
                }
            };
        }
        let store = builder.build().map_err(blob_error)?;
        Ok(BlobStore {
            inner: Arc::new(store),
            description: format!("S3 bucket {bucket}"),
        })
    }

    /// From configuration: `s3://…`, `file://DIR`, or a plain directory path.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("s3://") {
            Self::s3(url)
        } else {
            Self::local(std::path::Path::new(url.strip_prefix("file://").unwrap_or(url)))
        }
    }

    /// Where the blobs go, for the start-up message.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Stores `bytes`; returns their SHA-256 (hex), the object's name.
    pub async fn put(&self, bytes: Vec<u8>) -> Result<String, StoreError> {
        let digest = hex(&Sha256::digest(&bytes));
        let path = object_path(&digest);
        self.inner.put(&path, bytes.into()).await.map_err(blob_error)?;
        Ok(digest)
    }

    /// Reads an object by its SHA-256, checking the content still matches.
    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let result = self
            .inner
            .get(&object_path(sha256))
            .await
            .map_err(|err| match err {
                object_store::Error::NotFound { .. } => StoreError::NotFound("blob"),
                other => blob_error(other),
            })?;
        let bytes = result.bytes().await.map_err(blob_error)?.to_vec();
        if hex(&Sha256::digest(&bytes)) != sha256 {
            return Err(StoreError::Blob(format!("object {sha256} is corrupt")));
        }
        Ok(bytes)
    }

    /// Whether the storage answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        // A listing, not a HEAD: S3 answers a HEAD with 404 both for a missing object and
        // for a missing bucket, and only the second must fail.
        self.inner
            .list_with_delimiter(Some(&ObjectPath::from("qz-ping")))
            .await
            .map(|_| ())
            .map_err(blob_error)
    }
}

fn object_path(sha256: &str) -> ObjectPath {
    // Two levels of fan-out keep directories small on a local disk.
    let a = sha256.get(..2).unwrap_or("xx");
    let b = sha256.get(2..4).unwrap_or("xx");
    ObjectPath::from(format!("{a}/{b}/{sha256}"))
}

impl Store {
    /// Records an uploaded blob.
    pub async fn create_blob(
        &self,
        sha256: &str,
        size: i64,
        content_type: &str,
        owner_id: &str,
        context: &crate::TrailContext,
    ) -> Result<BlobInfo, StoreError> {
        let info = BlobInfo {
            id: new_id(),
            sha256: sha256.to_owned(),
            size,
            content_type: content_type.to_owned(),
            owner_id: owner_id.to_owned(),
            created_at: now(),
        };
        let mut tx = crate::begin_write(self).await?;
        sqlx::query(
            "INSERT INTO blobs (id, sha256, size, content_type, owner_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&info.id)
        .bind(&info.sha256)
        .bind(info.size)
        .bind(&info.content_type)
        .bind(&info.owner_id)
        .bind(info.created_at)
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({
            "blob": info.id, "sha256": info.sha256, "size": info.size, "content_type": info.content_type
        })
        .to_string();
        crate::trail::append_event(
            &mut tx,
            &format!("user:{owner_id}"),
            "blob.uploaded",
            &details,
            context,
        )
        .await?;
        tx.commit().await?;
        Ok(info)
    }

    /// A blob's record.
    pub async fn blob(&self, id: &str) -> Result<BlobInfo, StoreError> {
        let row = sqlx::query(
            "SELECT id, sha256, size, content_type, owner_id, created_at FROM blobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("blob"))?;
        Ok(BlobInfo {
            id: row.try_get(0)?,
            sha256: row.try_get(1)?,
            size: row.try_get(2)?,
            content_type: row.try_get(3)?,
            owner_id: row.try_get(4)?,
            created_at: row.try_get(5)?,
        })
    }
}
