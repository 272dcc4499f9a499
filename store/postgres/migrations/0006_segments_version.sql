-- codedrop schema, version 6: the segments version (segment.Versioner). It
-- moves with every create, update, sync status change and delete of a
-- segment, in the same transaction, so each replica's compiled segment
-- rules are a cache it checks with one small read before re-checking
-- written customers.

CREATE TABLE segments_version (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    v  bigint NOT NULL
);
INSERT INTO segments_version (id, v) VALUES (true, 0);
