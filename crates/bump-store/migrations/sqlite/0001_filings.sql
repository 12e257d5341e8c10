-- The Open311 filing outbox: one row per filing, written before anything
-- is sent (see bump-filing's outbox module for the states).
CREATE TABLE filings (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    marker             TEXT    NOT NULL UNIQUE,
    cluster_id         TEXT    NOT NULL,
    class              TEXT    NOT NULL,
    lat                REAL    NOT NULL,
    lon                REAL    NOT NULL,
    jurisdiction_id    TEXT    NOT NULL,
    service_code       TEXT    NOT NULL,
    attributes         TEXT    NOT NULL,  -- JSON array of [code, value]
    description        TEXT    NOT NULL,
    generation         INTEGER NOT NULL,
    reopens            TEXT,
    state              TEXT    NOT NULL,
    service_request_id TEXT,
    token              TEXT,
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT,
    created_at         TEXT    NOT NULL,  -- RFC 3339, UTC
    posted_at          TEXT,
    updated_at         TEXT    NOT NULL,
    next_attempt_at    TEXT,
    closed_at          TEXT,
    status_notes       TEXT
);
CREATE INDEX filings_cluster ON filings (cluster_id);
CREATE INDEX filings_state ON filings (state);

-- Reviewers' decisions on clusters; the latest per cluster stands.
CREATE TABLE reviews (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster_id TEXT NOT NULL,
    action     TEXT NOT NULL,  -- confirm, dismiss, reclassify, known, fixed
    value      TEXT,           -- the new class for reclassify
    actor      TEXT NOT NULL,
    at         TEXT NOT NULL,
    note       TEXT
);
CREATE INDEX reviews_cluster ON reviews (cluster_id, id);

-- Who did what, when: every review action and every filing transition.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT
);
