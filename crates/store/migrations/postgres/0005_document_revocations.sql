-- The document revocation registry (文件吊销): a completed document revoked with a reason by its
-- flow's initiator or a platform admin. Looked up by the SHA-256 of the file (or of any of its
-- revisions), so a revoked document is reported whoever verifies a copy of it.
CREATE TABLE revoked_documents (
    sha256     TEXT PRIMARY KEY,
    flow_id    TEXT NOT NULL REFERENCES flows (id),
    idx        BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    revoked_by TEXT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_documents_flow ON revoked_documents (flow_id);
