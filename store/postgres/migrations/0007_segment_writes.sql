-- codedrop schema, version 7: cheaper segment writes (issue 16).
--
-- The segments version (segment.Versioner) moves with every create,
-- update, sync status change and delete of a segment, in the same
-- transaction, so each replica's compiled segment rules are a cache it
-- checks with one small read before re-checking written customers.
CREATE TABLE segments_version (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    v  bigint NOT NULL
);
INSERT INTO segments_version (id, v) VALUES (true, 0);

-- Memberships of a deleted segment are deleted by DeleteSegment, in the
-- transaction that deletes the segment, instead of by a foreign key: the
-- key's check of every inserted membership made up about a third of the
-- cost of writing a segment sync's members. Writers of memberships lock
-- the segment's row (FOR KEY SHARE) as the key's check did, so none is
-- left behind by a concurrent delete.
ALTER TABLE segment_members DROP CONSTRAINT segment_members_segment_id_fkey;
