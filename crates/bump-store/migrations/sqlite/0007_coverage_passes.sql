-- Whether a trip's coverage counts as passes of clusters. A phone that
-- samples too slowly to feel a short impact (cluster.min_pass_rate_hz)
-- still shows where it drove, but its silence is no evidence that a
-- defect is gone, so clustering reads only the rows with passes = 1.
ALTER TABLE coverage_blocks ADD COLUMN passes INTEGER NOT NULL DEFAULT 1;
