-- Seals, handwriting capture links, certificates, co-sign enrolment, grants, grant requests,
-- auto-sign grants and the ledgers of seal and auto-sign use. The two backends' files differ
-- only in integer (INTEGER / BIGINT) and byte (BLOB / BYTEA) column types.

-- A seal belongs to a person (owner_user) or an organization (owner_org), never both.
CREATE TABLE seals (
    id         TEXT PRIMARY KEY,
    owner_user TEXT REFERENCES users (id),
    owner_org  TEXT REFERENCES orgs (id),
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    blob_id    TEXT NOT NULL REFERENCES blobs (id),
    status     TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_by TEXT,            -- the acting user, as in the trail (no foreign key: the system acts too)
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((owner_user IS NULL) <> (owner_org IS NULL))
);
CREATE INDEX seals_user ON seals (owner_user, status);
CREATE INDEX seals_org ON seals (owner_org, status);
-- One default name seal and one handwritten signature per person (the last capture wins).
CREATE UNIQUE INDEX seals_one_default ON seals (owner_user) WHERE is_default = 1 AND status <> 'deleted';
CREATE UNIQUE INDEX seals_one_handwriting ON seals (owner_user) WHERE kind = 'handwriting' AND status <> 'deleted';

-- Every stamp, for statistics (盖章统计) and the trail.
CREATE TABLE seal_uses (
    id          TEXT PRIMARY KEY,
    seal_id     TEXT NOT NULL REFERENCES seals (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    grant_id    TEXT,
    autosign_id TEXT,
    purpose     TEXT,
    document    TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX seal_uses_seal ON seal_uses (seal_id, at);
CREATE INDEX seal_uses_seal_id ON seal_uses (seal_id, id);

-- Short-lived links for capturing a handwritten signature on a phone; looked up by the
-- SHA-256 of the token in the link.
CREATE TABLE capture_links (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    seal_id    TEXT
);
CREATE INDEX capture_links_user ON capture_links (user_id);

-- Certificates the platform issued. key_sealed: the hosted PKCS#8 key, or for co-signing the
-- server's share, sealed under the platform key; never stored in the clear.
CREATE TABLE certificates (
    id            TEXT PRIMARY KEY,
    owner_user    TEXT REFERENCES users (id),
    owner_org     TEXT REFERENCES orgs (id),
    serial        TEXT NOT NULL UNIQUE,
    subject       TEXT NOT NULL,
    custody       TEXT NOT NULL,
    algorithm     TEXT NOT NULL,
    cert_der      BYTEA NOT NULL,
    key_sealed    BYTEA,
    status        TEXT NOT NULL,
    not_after     BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CHECK ((owner_user IS NULL) <> (owner_org IS NULL))
);
CREATE UNIQUE INDEX certificates_one_active_user ON certificates (owner_user) WHERE status = 'active' AND owner_user IS NOT NULL;
CREATE UNIQUE INDEX certificates_one_active_org ON certificates (owner_org) WHERE status = 'active' AND owner_org IS NOT NULL;
CREATE INDEX certificates_updated ON certificates (updated_at);
CREATE INDEX certificates_user ON certificates (owner_user);
CREATE INDEX certificates_org ON certificates (owner_org);

-- Certificate download invitations (下载证书邀请码), by digest of the code.
CREATE TABLE cosign_invites (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX cosign_invites_user ON cosign_invites (user_id);

-- Server halves of split keys. enrolling: keys exchanged, certificate not yet issued;
-- active: the certificate of this key is the person's current one; retired: superseded or
-- revoked (the phone is told to download again).
CREATE TABLE cosign_keys (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    invite_id      TEXT NOT NULL REFERENCES cosign_invites (id),
    public_key     TEXT NOT NULL,
    share_sealed   BYTEA NOT NULL,
    certificate_id TEXT REFERENCES certificates (id),
    status         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX cosign_keys_user ON cosign_keys (user_id);
CREATE INDEX cosign_keys_certificate ON cosign_keys (certificate_id);

CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    seal_id    TEXT NOT NULL REFERENCES seals (id),
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    grantee    TEXT NOT NULL REFERENCES users (id),
    granted_by TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after  BIGINT NOT NULL,
    scope      TEXT NOT NULL,
    request_id TEXT,
    revoked_at BIGINT,
    revoked_by TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX grants_seal ON grants (seal_id, grantee);
CREATE INDEX grants_grantee ON grants (grantee);
CREATE INDEX grants_org ON grants (org_id);

CREATE TABLE grant_requests (
    id         TEXT PRIMARY KEY,
    seal_id    TEXT NOT NULL REFERENCES seals (id),
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    applicant  TEXT NOT NULL REFERENCES users (id),
    not_before BIGINT NOT NULL,
    not_after  BIGINT NOT NULL,
    scope      TEXT NOT NULL,
    note       TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT,
    decided_by TEXT,
    grant_id   TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX grant_requests_org ON grant_requests (org_id, status);
CREATE INDEX grant_requests_applicant ON grant_requests (applicant);
CREATE UNIQUE INDEX grant_requests_one_pending ON grant_requests (seal_id, applicant) WHERE status = 'pending';

CREATE TABLE autosign_grants (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    not_before BIGINT NOT NULL,
    not_after  BIGINT NOT NULL,
    evidence   TEXT NOT NULL,
    -- Co-sign custody: the phone's share, sealed under the platform key, for the window only
    -- (cleared on revocation, replacement and expiry).
    key_id     TEXT,
    escrow     BYTEA,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX autosign_grants_user ON autosign_grants (user_id);
CREATE INDEX autosign_grants_key ON autosign_grants (key_id);

-- The auto-sign ledger the person reads (W 5).
CREATE TABLE autosign_uses (
    id       TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES autosign_grants (id),
    user_id  TEXT NOT NULL REFERENCES users (id),
    seal_id  TEXT,
    document TEXT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX autosign_uses_grant ON autosign_uses (grant_id, at);
CREATE INDEX autosign_uses_user ON autosign_uses (user_id, id);
