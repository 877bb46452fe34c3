-- A counter bumped in the transaction of every auto-bid rule change, so
-- evaluators can cache the active rules per vertical and revalidate the
-- cache with one single-row read (ADR 7 addendum).
CREATE TABLE rule_set_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO rule_set_version (id, version) VALUES (1, 0);
