-- Coverage in blocks: one row per trip and H3 resolution-9 parent cell,
-- its resolution-13 cells packed in `cells` (16 bytes each: the cell as
-- a little-endian u64, the first time there as a little-endian f64). The
-- rows of the old row-per-cell table are moved by the program in the same
-- transaction, which then drops it.
CREATE TABLE coverage_blocks (
    trip_id TEXT  NOT NULL,
    block   TEXT  NOT NULL,              -- H3 resolution 9
    region  TEXT  NOT NULL,              -- H3 resolution 7, its parent
    cells   BYTEA NOT NULL,
    PRIMARY KEY (trip_id, region, block)
);
CREATE INDEX coverage_blocks_block ON coverage_blocks (block);
CREATE INDEX coverage_blocks_region ON coverage_blocks (region);
