-- Job priority (postgres; lockstep with the other engine's 0009_job_priority.sql).
-- A claim takes every ready job of a lower level before any of a higher one
-- (0 deadline: auction closes and listing expiries; 1 normal; 2 background:
-- minting and bounty matching), oldest run_at first within a level. The
-- claim reads one index range per level, so the ready-jobs index leads with
-- the level; scheduled jobs of level 0 do not sit in front of ready ones of
-- level 1.
ALTER TABLE jobs ADD COLUMN priority SMALLINT NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2);
UPDATE jobs SET priority = 0 WHERE kind IN ('close_auction', 'expire_listing');
UPDATE jobs SET priority = 2 WHERE kind IN ('mint_nft', 'match_bounties');
DROP INDEX jobs_queued;
CREATE INDEX jobs_queued ON jobs (priority, run_at, id) WHERE status = 'queued';
