-- Accounts, identity checks, sessions, one-time codes, organizations, requests, the
-- notification outbox, idempotency records and blob metadata. The two backends' files differ
-- only in integer (INTEGER / BIGINT) and byte (BLOB / BYTEA) column types.

ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN platform_admin BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'zh-CN';
ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_email ON users (email);
-- The first start created the bootstrap administrator with the login name "admin".
UPDATE users SET platform_admin = 1 WHERE phone = 'admin';

-- The last event of each object's chain, so removing the newest events is detected too.
CREATE TABLE trail_heads (
    object TEXT PRIMARY KEY,
    seq    BIGINT NOT NULL,
    hash   TEXT NOT NULL
);
INSERT INTO trail_heads (object, seq, hash)
    SELECT t.object, t.seq, t.hash FROM trail t
    WHERE t.seq = (SELECT MAX(u.seq) FROM trail u WHERE u.object = t.object);
CREATE INDEX trail_actor ON trail (actor);

-- Real-name verification. The ID number itself is kept only sealed under the platform key
-- (certificates need it); the digest (HMAC under the platform key) makes one identity per
-- person enforceable without reading the number.
CREATE TABLE identities (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    status     TEXT NOT NULL,
    real_name  TEXT NOT NULL,
    id_masked  TEXT NOT NULL,
    id_digest  TEXT NOT NULL,
    id_sealed  BYTEA NOT NULL,
    provider   TEXT NOT NULL,
    reference  TEXT,
    reason     TEXT,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX identities_verified_digest ON identities (id_digest) WHERE status = 'verified';
CREATE INDEX identities_reference ON identities (reference);

-- Sessions are looked up by the SHA-256 of the cookie's token, so a copy of the table
-- opens no session.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    csrf       TEXT NOT NULL,
    acting_for TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip         TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE codes (
    id         TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    used       BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX codes_recipient ON codes (recipient, created_at);

CREATE TABLE orgs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    parent_id    TEXT REFERENCES orgs (id),
    dept_code    TEXT,
    credit_code  TEXT,
    legal_rep    TEXT,
    licence_blob TEXT,
    verified     BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX orgs_credit_code ON orgs (credit_code);
CREATE UNIQUE INDEX orgs_dept_code ON orgs (dept_code);
CREATE INDEX orgs_parent ON orgs (parent_id);

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Organization verifications, join requests and admin applications share one shape.
CREATE TABLE requests (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    applicant  TEXT NOT NULL REFERENCES users (id),
    status     TEXT NOT NULL,
    details    TEXT NOT NULL,
    reason     TEXT,
    decided_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX requests_org ON requests (org_id, kind, status);
CREATE INDEX requests_applicant ON requests (applicant);
CREATE INDEX requests_kind_status ON requests (kind, status);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    template        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    secret          BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    read_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (recipient, channel, created_at);

CREATE TABLE idempotency (
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE blobs (
    id           TEXT PRIMARY KEY,
    sha256       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    owner_id     TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL
);

-- Installation-wide settings, e.g. the check value that makes every instance prove it holds
-- the same platform key.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
