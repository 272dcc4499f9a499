-- codedrop schema, version 4: Intercom webhook state shared by replicas
-- (intercom.WebhookStore). See doc.go.

-- Notification ids: in flight (a claim with a lease) or handled.
CREATE TABLE webhook_notifications (
    id            text COLLATE "C" PRIMARY KEY,
    claimed_until timestamptz,                  -- the lease of an in-flight claim; NULL once handled
    handled_at    timestamptz                   -- NULL while in flight
);
CREATE INDEX webhook_notifications_prune ON webhook_notifications (coalesce(handled_at, claimed_until));

-- Per Intercom contact: the newest version applied, the customer it was
-- written as, and when it was deleted. Its row lock orders the
-- notifications about one contact.
CREATE TABLE intercom_contacts (
    contact_id text COLLATE "C" PRIMARY KEY,
    updated_at timestamptz,
    source_id  text NOT NULL DEFAULT '',
    deleted_at timestamptz
);
CREATE INDEX intercom_contacts_deleted ON intercom_contacts (deleted_at) WHERE deleted_at IS NOT NULL;
