-- Fresh planner statistics for raw.records before the staging models read it. A window load that grows
-- a table by 10 % or more analyzes it itself (passerelle.load.statistics); the many smaller windows
-- since the last analyze can still add up, long before autovacuum gets to them, and with stale
-- statistics the planner expects a handful of rows per stream and picks nested loops that take minutes.
-- ANALYZE samples a fixed number of rows (seconds even at tens of millions) and does not block loads.
ANALYZE raw.records;
