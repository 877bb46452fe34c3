-- Tracing (PostgreSQL; lockstep with sqlite/0007_trace.sql):
-- GET /v1/admin/trace/{correlation_id} starts from the leads of a
-- correlation id; everything else hangs off the lead id.
CREATE INDEX leads_correlation ON leads (correlation_id);
