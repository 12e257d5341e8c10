-- Batch bodies in their own table. Marking a trip's batches processed
-- rewrote each row whole, its 40 kB body included, while every upload
-- waited for the writer; the rows of `batches` are now a few dozen bytes.
CREATE TABLE batch_bodies (
    trip_id TEXT  NOT NULL,
    seq     BIGINT NOT NULL,
    body    BYTEA NOT NULL,              -- the batch as received (JSON)
    PRIMARY KEY (trip_id, seq),
    FOREIGN KEY (trip_id, seq) REFERENCES batches (trip_id, seq) ON DELETE CASCADE
);
INSERT INTO batch_bodies (trip_id, seq, body) SELECT trip_id, seq, body FROM batches;
ALTER TABLE batches DROP COLUMN body;
