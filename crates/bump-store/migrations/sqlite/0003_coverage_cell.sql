-- The review page reads the coverage of a cluster's cells.
CREATE INDEX coverage_cell ON coverage (cell);
