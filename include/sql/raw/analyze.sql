-- Fresh planner statistics for raw.records before the staging models read it. A window load can
-- add a large share of the table at once, long before autovacuum gets to it; with stale statistics
-- the planner expects a handful of rows per stream and picks nested loops that take minutes.
-- ANALYZE samples a fixed number of rows (seconds even at tens of millions) and does not block loads.
ANALYZE raw.records;
