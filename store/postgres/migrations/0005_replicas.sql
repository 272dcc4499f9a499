-- codedrop schema, version 5: what several replicas share to be correct
-- together (distribution issue 13). The triggers version moves with every
-- write of an automatic distribution, so each replica knows when its
-- cached trigger index is stale; events are claimed by one replica at a
-- time with a lease another replica takes over when it ends; the sweep of
-- deliveries left in sending finds them through a partial index.

CREATE TABLE triggers_version (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    v  bigint NOT NULL
);
INSERT INTO triggers_version (id, v) VALUES (true, 0);

ALTER TABLE events
    ADD COLUMN claimed_by    text,
    ADD COLUMN claimed_until timestamptz;

CREATE INDEX deliveries_sending ON deliveries (updated_at) WHERE state = 'sending';
