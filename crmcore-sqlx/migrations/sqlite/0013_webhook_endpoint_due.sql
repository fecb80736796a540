-- Webhook claims go endpoint by endpoint: pending deliveries are indexed by (endpoint, due time),
-- so a claim takes each endpoint's earliest due without stepping over the deliveries queued for
-- an endpoint that is at its in-flight cap. The global due index it replaces is not kept: the
-- planner would walk it in due order past those same deliveries.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at, id)
    WHERE status = 'pending';
