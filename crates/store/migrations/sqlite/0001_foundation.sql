-- Accounts and the audit trail (the platform foundation's first tables).
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    phone         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE trail (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    object     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    actor      TEXT,
    acting_for TEXT,
    action     TEXT NOT NULL,
    details    TEXT NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    at         INTEGER NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    UNIQUE (object, seq)
);
