-- What `streetbump serve` keeps: devices and reviewers, sessions, raw
-- batches until processed (and a retention period after), trips, the
-- evidence (bumps, coverage), the clusters computed from it, and obstacles
-- reviewers added to the city's inventory.
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
    final_seq      INTEGER,           -- seq of the batch flagged final
    last_batch_at  TEXT NOT NULL,     -- arrival of the latest batch
    processed_at   TEXT,              -- NULL: to be (re)processed
    bumps          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX trips_pending ON trips (processed_at);

CREATE TABLE batches (
    trip_id      TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    device_id    TEXT    NOT NULL,
    body         BLOB    NOT NULL,    -- the batch as received (JSON)
    digest       TEXT    NOT NULL,    -- SHA-256 of body, hex
    received_at  TEXT    NOT NULL,
    processed_at TEXT,
    PRIMARY KEY (trip_id, seq)
);
CREATE INDEX batches_pending ON batches (processed_at);

CREATE TABLE bumps (
    bump_id   TEXT PRIMARY KEY,
    trip_id   TEXT NOT NULL,
    t         REAL NOT NULL,
    obs       TEXT NOT NULL,          -- JSON: what clustering needs
    trace     TEXT                    -- JSON: vertical acceleration around it
);
CREATE INDEX bumps_trip ON bumps (trip_id);

CREATE TABLE coverage (
    trip_id TEXT NOT NULL,
    cell    TEXT NOT NULL,            -- H3 resolution 13
    t       REAL NOT NULL,
    PRIMARY KEY (trip_id, cell)
);

-- The latest clusters, replaced whole after each change of the evidence.
CREATE TABLE clusters (
    cluster_id TEXT PRIMARY KEY,
    body       TEXT NOT NULL          -- JSON
);

CREATE TABLE known_obstacles (
    asset_id TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    lat      REAL NOT NULL,
    lon      REAL NOT NULL,
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL
);
