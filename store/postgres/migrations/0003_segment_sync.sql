-- codedrop schema, version 3: segments are editable (segment.Store.UpdateSegment)
-- and show a sync's progress. See doc.go.

-- A sync's progress: sync_checked of sync_total customers checked.
ALTER TABLE segments
    ADD COLUMN sync_checked integer NOT NULL DEFAULT 0,
    ADD COLUMN sync_total   integer NOT NULL DEFAULT 0;

-- The Voucherify filter comes back as written: json keeps the key order
-- (the order of the conditions), which jsonb does not.
ALTER TABLE segments ALTER COLUMN filter TYPE json USING filter::json;
