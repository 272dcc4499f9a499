-- codedrop schema, version 2: what automatic distributions and the
-- send-time policies persist (distribution.AutomationStore). See doc.go.

CREATE TABLE events (
    seq                     bigserial UNIQUE,                 -- insertion order
    id                      text COLLATE "C" PRIMARY KEY,
    type                    text NOT NULL,
    doc                     jsonb NOT NULL,                   -- the whole distribution.Event as JSON (without the two columns below)
    customer_metadata       jsonb,                            -- Event.Customer.Metadata, plain JSON as customers.metadata
    customer_metadata_types jsonb,                            -- its type tags, as customers.metadata_types
    processed_at            timestamptz                       -- NULL while unprocessed
);
CREATE INDEX events_unprocessed ON events (seq) WHERE processed_at IS NULL;

CREATE TABLE orders (
    customer_id text COLLATE "C" NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    id          text COLLATE "C" NOT NULL,
    status      text NOT NULL,
    amount      double precision NOT NULL,
    created_at  timestamptz,
    updated_at  timestamptz,
    PRIMARY KEY (customer_id, id)
);

CREATE TABLE redemptions (
    customer_id text COLLATE "C" NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    id          text COLLATE "C" NOT NULL,
    result      text NOT NULL,
    at          timestamptz,
    PRIMARY KEY (customer_id, id, result)
);

CREATE TABLE usage_counters (
    meter  text NOT NULL,
    period timestamptz NOT NULL,
    n      bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (meter, period)
);

CREATE TABLE send_log (
    delivery_id text COLLATE "C" PRIMARY KEY,
    customer_id text COLLATE "C" NOT NULL,
    channel     text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX send_log_customer ON send_log (customer_id, at);
