-- Scale-out (the Kafka runtime): the Kafka partition a trip's batches
-- came on (its detector), the H3 resolution-7 regions its evidence
-- touched, evidence by region, the clusters of each region as reviewers
-- see them, and regions whose clusters must be computed again.
ALTER TABLE trips ADD COLUMN part BIGINT;
ALTER TABLE trips ADD COLUMN regions TEXT;          -- JSON array of cells
ALTER TABLE bumps ADD COLUMN region TEXT;
ALTER TABLE coverage ADD COLUMN region TEXT;
CREATE INDEX trips_part ON trips (part, processed_at);
CREATE INDEX bumps_region ON bumps (region);
CREATE INDEX coverage_region ON coverage (region);

CREATE TABLE region_clusters (
    region     TEXT NOT NULL,
    cluster_id TEXT NOT NULL,
    view       TEXT NOT NULL,                       -- JSON
    PRIMARY KEY (region, cluster_id)
);

CREATE TABLE dirty_regions (
    region  TEXT PRIMARY KEY,
    version BIGINT NOT NULL                         -- raised by every change
);
