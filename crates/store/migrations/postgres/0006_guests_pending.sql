-- Unregistered signers (#8 item 7): the flow makes them an account without a password
-- (users.guest), reached through single-use SMS links; the session a link opens is scoped to
-- that one flow (sessions.scope).
ALTER TABLE users ADD COLUMN guest BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN scope TEXT;
-- Whom the initiator named for a person's slot (name, ID number digest, the number sealed for
-- the named account): only a person whose verified identity matches signs it.
ALTER TABLE flow_signers ADD COLUMN expected_name TEXT;
ALTER TABLE flow_signers ADD COLUMN expected_id_digest TEXT;
ALTER TABLE flow_signers ADD COLUMN expected_id_sealed BYTEA;

CREATE TABLE guest_links (
    token_hash TEXT PRIMARY KEY,
    flow_id    TEXT NOT NULL REFERENCES flows (id),
    signer_id  TEXT NOT NULL REFERENCES flow_signers (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX guest_links_signer ON guest_links (signer_id);

-- Flow signatures waiting for a value made elsewhere: the phone's half of a co-sign key, or a
-- token (Ukey) through a local helper. Only the inputs are kept; the revision is prepared again
-- at finish and must give the same digest, so any server instance can finish it.
CREATE TABLE pending_signatures (
    id             TEXT PRIMARY KEY,
    flow_id        TEXT NOT NULL REFERENCES flows (id),
    signer_id      TEXT NOT NULL REFERENCES flow_signers (id),
    user_id        TEXT NOT NULL REFERENCES users (id),
    seal_id        TEXT NOT NULL,
    method         TEXT NOT NULL,
    certificate_id TEXT NOT NULL,
    signing_time   BIGINT NOT NULL,
    placements     TEXT NOT NULL,
    documents      TEXT NOT NULL,
    status         TEXT NOT NULL,
    reason         TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    ended_at       BIGINT
);
CREATE INDEX pending_signatures_user ON pending_signatures (user_id, status);

-- Abnormal tasks (异常任务, S 2.8): signings that failed and notifications that could not be
-- queued, with their reasons, for the initiator and the admin console.
CREATE TABLE flow_failures (
    id        BIGSERIAL PRIMARY KEY,
    flow_id   TEXT NOT NULL REFERENCES flows (id),
    signer_id TEXT,
    kind      TEXT NOT NULL,
    reason    TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX flow_failures_flow ON flow_failures (flow_id);
