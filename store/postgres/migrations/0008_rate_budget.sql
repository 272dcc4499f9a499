-- codedrop schema, version 8: the Intercom rate budget that replicas share
-- (distribution issue 14). rate_budgets holds one row per budget (an
-- Intercom app): its current window, how many calls of it were given out
-- (or seen used by Intercom, the higher), the limit, the windows' phase
-- learned from X-RateLimit-Reset, and a pause after a 429. A replica takes
-- calls in small blocks under the row's lock. rate_budget_use keeps, per
-- window, what each replica took (granted, on the row with an empty label)
-- and the calls it made by label (a distribution id), for a host's logs and
-- dashboard; rows older than the budget's retention go as windows roll.

CREATE TABLE rate_budgets (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    used         integer NOT NULL DEFAULT 0,
    lim          integer NOT NULL,
    phase_ms     bigint,
    paused_until timestamptz
);

CREATE TABLE rate_budget_use (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    replica      text NOT NULL,
    label        text NOT NULL,
    granted      integer NOT NULL DEFAULT 0,
    calls        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_start, replica, label)
);
