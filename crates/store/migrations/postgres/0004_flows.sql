-- Signing flows: the flow, its documents (a contract group), its signer slots in stages, the
-- signatures made so far (one per signer per document) and CC recipients. The two backends'
-- files differ only in integer (INTEGER / BIGINT) types.

CREATE TABLE flows (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    business_type TEXT,
    initiator     TEXT NOT NULL REFERENCES users (id),
    acting_for    TEXT REFERENCES orgs (id),
    status        TEXT NOT NULL,
    deadline      BIGINT,
    reason        TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    ended_at      BIGINT
);
CREATE INDEX flows_initiator ON flows (initiator, id);
CREATE INDEX flows_due ON flows (status, deadline);

-- version counts the signatures appended: a signer appends to the version they read, so two
-- parallel signers of one document never overwrite each other (the second retries).
CREATE TABLE flow_documents (
    flow_id        TEXT NOT NULL REFERENCES flows (id),
    idx            BIGINT NOT NULL,
    name           TEXT NOT NULL,
    original_blob  TEXT NOT NULL REFERENCES blobs (id),
    current_sha256 TEXT NOT NULL,
    size           BIGINT NOT NULL,
    version        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (flow_id, idx)
);

CREATE TABLE flow_signers (
    id          TEXT PRIMARY KEY,
    flow_id     TEXT NOT NULL REFERENCES flows (id),
    stage       BIGINT NOT NULL,
    user_id     TEXT REFERENCES users (id),
    org_id      TEXT REFERENCES orgs (id),
    may_decline BIGINT NOT NULL,
    positions   TEXT NOT NULL,
    status      TEXT NOT NULL,
    signed_by   TEXT,
    ended_at    BIGINT,
    reason      TEXT,
    CHECK ((user_id IS NULL) <> (org_id IS NULL))
);
CREATE INDEX flow_signers_flow ON flow_signers (flow_id);
CREATE INDEX flow_signers_user ON flow_signers (user_id, status);
CREATE INDEX flow_signers_org ON flow_signers (org_id, status);

-- One signature per signer slot and document: a retried request finds it and does not sign twice.
CREATE TABLE flow_signatures (
    signer_id TEXT NOT NULL REFERENCES flow_signers (id),
    idx       BIGINT NOT NULL,
    flow_id   TEXT NOT NULL REFERENCES flows (id),
    version   BIGINT NOT NULL,
    sha256    TEXT NOT NULL,
    use_id    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (signer_id, idx)
);

CREATE TABLE flow_cc (
    flow_id TEXT NOT NULL REFERENCES flows (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (flow_id, user_id)
);
CREATE INDEX flow_cc_user ON flow_cc (user_id);
