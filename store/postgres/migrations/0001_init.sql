-- codedrop schema, version 1. See doc.go for what each table holds.

CREATE TABLE customers (
    id             text COLLATE "C" PRIMARY KEY,
    source_id      text COLLATE "C" UNIQUE,          -- NULL when the customer has none
    name           text NOT NULL DEFAULT '',
    email          text NOT NULL DEFAULT '',
    phone          text NOT NULL DEFAULT '',
    description    text NOT NULL DEFAULT '',
    birthdate      date,
    address        jsonb NOT NULL DEFAULT '{}',
    metadata       jsonb NOT NULL DEFAULT '{}',      -- plain JSON: dates "YYYY-MM-DD", datetimes RFC 3339
    metadata_types jsonb NOT NULL DEFAULT '{}',      -- type tags restoring Go types (date, datetime, geopoint)
    consents       jsonb NOT NULL DEFAULT '{}',
    timezone       text NOT NULL DEFAULT '',
    summary        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX customers_metadata_gin ON customers USING gin (metadata jsonb_path_ops);

CREATE TABLE segments (
    id           text COLLATE "C" PRIMARY KEY,
    name         text NOT NULL,
    type         text NOT NULL,
    filter       jsonb,
    expression   text NOT NULL DEFAULT '',
    customer_ids text[] NOT NULL DEFAULT '{}',
    sync_status  text NOT NULL,
    synced_at    timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE segment_members (
    segment_id  text COLLATE "C" NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    customer_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (segment_id, customer_id)
);
CREATE INDEX segment_members_customer ON segment_members (customer_id, segment_id);

CREATE TABLE distributions (
    seq        bigserial UNIQUE,
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    status     text NOT NULL,
    revision   bigint NOT NULL,
    send_at    timestamptz,
    doc        jsonb NOT NULL                       -- the whole distribution.Distribution as JSON
);
CREATE INDEX distributions_status ON distributions (status, seq);

CREATE TABLE consents (
    seq         bigserial UNIQUE,
    id          text COLLATE "C" PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    category    text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE deliveries (
    seq                 bigserial UNIQUE,
    id                  text COLLATE "C" PRIMARY KEY,
    distribution_id     text COLLATE "C" NOT NULL,
    customer_id         text COLLATE "C" NOT NULL,
    trigger_key         text NOT NULL,
    channel             text NOT NULL,
    state               text NOT NULL,
    reason              text NOT NULL DEFAULT '',
    attempts            integer NOT NULL DEFAULT 0,
    code                text NOT NULL DEFAULT '',
    publication_id      text NOT NULL DEFAULT '',
    provider_message_id text NOT NULL DEFAULT '',
    next_attempt_at     timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    sent_at             timestamptz,
    UNIQUE (distribution_id, customer_id, trigger_key, channel)
) WITH (fillfactor = 70);
-- No index covers state, reason, attempts or the timestamps, and pages
-- keep free space, so the updates a send makes are HOT (no index writes).
CREATE INDEX deliveries_distribution ON deliveries (distribution_id, seq);
CREATE INDEX deliveries_customer ON deliveries (customer_id, seq);

CREATE TABLE jobs (
    id           text PRIMARY KEY,
    kind         text NOT NULL,
    target       text NOT NULL,
    run_at       timestamptz NOT NULL,
    version      bigint NOT NULL DEFAULT 1,         -- bumped by every (re)schedule
    locked_by    text,                              -- the Scheduler running it
    locked_until timestamptz,                       -- its lease
    attempts     integer NOT NULL DEFAULT 0
);
CREATE INDEX jobs_due ON jobs (run_at);

CREATE TABLE campaigns (
    seq         bigserial UNIQUE,
    id          text COLLATE "C" PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    type        text NOT NULL,
    code_config jsonb NOT NULL,
    imported    text[] NOT NULL DEFAULT '{}',
    count       integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL
);

CREATE TABLE codes (
    seq            bigserial UNIQUE,
    code           text COLLATE "C" PRIMARY KEY,     -- unique across campaigns
    campaign_id    text COLLATE "C" NOT NULL REFERENCES campaigns (id),
    publication_id text COLLATE "C"                  -- NULL until published
);
CREATE INDEX codes_available ON codes (campaign_id, seq) WHERE publication_id IS NULL;

CREATE TABLE publications (
    seq             bigserial UNIQUE,
    id              text COLLATE "C" PRIMARY KEY,
    key             text NOT NULL UNIQUE,            -- PublishRequest.Key: idempotency
    campaign_id     text COLLATE "C" NOT NULL REFERENCES campaigns (id),
    code            text COLLATE "C" NOT NULL UNIQUE,
    customer_id     text COLLATE "C" NOT NULL,
    distribution_id text NOT NULL DEFAULT '',
    channel         text NOT NULL DEFAULT '',
    metadata        jsonb,
    created_at      timestamptz NOT NULL
);
CREATE INDEX publications_campaign ON publications (campaign_id, seq);
