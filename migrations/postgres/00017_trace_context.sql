-- W3C trace context on the webhook outbox: an event keeps the traceparent
-- and tracestate of the request whose change it announces, and every
-- delivery of it sends them on ('' when the request carried none).

-- +goose Up
ALTER TABLE webhook_events ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_events ADD COLUMN trace_state TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhook_events DROP COLUMN trace_state;
ALTER TABLE webhook_events DROP COLUMN trace_parent;
