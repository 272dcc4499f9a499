-- codedrop schema, version 6: a delivery's reason is a stable code hosts
-- count by (Report.SkipReasons); its details (the consent id, the cap)
-- live in their own column.

ALTER TABLE deliveries ADD COLUMN reason_detail text NOT NULL DEFAULT '';
