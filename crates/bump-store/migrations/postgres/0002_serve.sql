-- Devices and reviewers, sessions, raw batches, trips, evidence, clusters
-- and reviewer-added obstacles: the SQLite migration in PostgreSQL's types.
CREATE TABLE devices (
    device_id  TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,  -- SHA-256 of the token, hex
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    role          TEXT NOT NULL,      -- reviewer or admin
    password_hash TEXT NOT NULL,      -- Argon2id, PHC string
    created_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,      -- SHA-256 of the cookie, hex
    username   TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    expires_at TEXT NOT NULL
);

CREATE TABLE trips (
    trip_id        TEXT PRIMARY KEY,
    device_id      TEXT NOT NULL,
    final_seq      BIGINT,
    last_batch_at  TEXT NOT NULL,
    processed_at   TEXT,
    bumps          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX trips_pending ON trips (processed_at);

CREATE TABLE batches (
    trip_id      TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    device_id    TEXT   NOT NULL,
    body         BYTEA  NOT NULL,
    digest       TEXT   NOT NULL,
    received_at  TEXT   NOT NULL,
    processed_at TEXT,
    PRIMARY KEY (trip_id, seq)
);
CREATE INDEX batches_pending ON batches (processed_at);

CREATE TABLE bumps (
    bump_id   TEXT PRIMARY KEY,
    trip_id   TEXT NOT NULL,
    t         DOUBLE PRECISION NOT NULL,
    obs       TEXT NOT NULL,
    trace     TEXT
);
CREATE INDEX bumps_trip ON bumps (trip_id);

CREATE TABLE coverage (
    trip_id TEXT NOT NULL,
    cell    TEXT NOT NULL,
    t       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (trip_id, cell)
);

CREATE TABLE clusters (
    cluster_id TEXT PRIMARY KEY,
    body       TEXT NOT NULL
);

CREATE TABLE known_obstacles (
    asset_id TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    lat      DOUBLE PRECISION NOT NULL,
    lon      DOUBLE PRECISION NOT NULL,
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL
);
