"""funnel counts: a journey's funnel kept as rows move, per day the runs entered

Revision ID: 0016
Revises: 0015

Counting a funnel from the raw rows reads every step, run and engagement event of the journey at
each call (seconds at a million runs). These tables hold the same counts per (journey, version,
UTC day the run entered, ...), moved by triggers in the statement that writes the raw row, so
they equal the raw rows' counts whatever writes them (the run path, `align_steps`, a
conversion's replacement, an erasure's cascades, a retry):

- funnel_step_counts: steps per node, way out (outcome), reason (a skip's only) and whether
  still open (`here`); an update moves a step from its old key to its new one.
- funnel_run_counts: runs per status and exit reason.
- funnel_conversion_counts: conversions and revenue per attributed send node (NULL: none).
- funnel_engagement_counts: people's engagement (not link scanners', not test sends') per send
  node and kind: `total` rows, `uniques` messages. funnel_engaged marks the first of each
  (message, kind), so a unique is counted once however concurrent the copies (the marker's
  insert decides), and holds the day its message's run entered (NULL: no run recorded), so a
  message's deletion takes back what it counted after its run is gone.

The backfill counts the existing raw rows, so an upgraded database answers as before.
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# A day is the UTC date of when the run entered the journey.
_DAY = "(({}) AT TIME ZONE 'UTC')::date"

_TABLES = """
CREATE TABLE funnel_step_counts (
    journey_id varchar(64) NOT NULL, version integer NOT NULL, day date NOT NULL, node_id varchar(64) NOT NULL,
    outcome varchar(32), reason text, here boolean NOT NULL, n bigint NOT NULL, shard smallint NOT NULL DEFAULT 0,
    CONSTRAINT ux_funnel_step_counts
    UNIQUE NULLS NOT DISTINCT (journey_id, day, version, node_id, outcome, reason, here, shard));

CREATE TABLE funnel_run_counts (
    journey_id varchar(64) NOT NULL, version integer NOT NULL, day date NOT NULL, status varchar(16) NOT NULL,
    exit_reason text, n bigint NOT NULL, shard smallint NOT NULL DEFAULT 0,
    CONSTRAINT ux_funnel_run_counts UNIQUE NULLS NOT DISTINCT (journey_id, day, version, status, exit_reason, shard));

CREATE TABLE funnel_conversion_counts (
    journey_id varchar(64) NOT NULL, version integer NOT NULL, day date NOT NULL, node_id varchar(64),
    n bigint NOT NULL, revenue numeric NOT NULL, shard smallint NOT NULL DEFAULT 0,
    CONSTRAINT ux_funnel_conversion_counts UNIQUE NULLS NOT DISTINCT (journey_id, day, version, node_id, shard));

CREATE TABLE funnel_engagement_counts (
    journey_id varchar(64) NOT NULL, version integer NOT NULL, day date, node_id varchar(64) NOT NULL,
    kind varchar(16) NOT NULL, uniques bigint NOT NULL, total bigint NOT NULL, shard smallint NOT NULL DEFAULT 0,
    CONSTRAINT ux_funnel_engagement_counts UNIQUE NULLS NOT DISTINCT (journey_id, day, version, node_id, kind, shard));

CREATE TABLE funnel_engaged (
    message_id uuid NOT NULL, kind varchar(16) NOT NULL, journey_id varchar(64) NOT NULL, version integer NOT NULL,
    node_id varchar(64) NOT NULL, day date,
    PRIMARY KEY (message_id, kind));
"""

_STEP_KEY = f"{{0}}.journey_id, {{0}}.version, {_DAY.format('{0}.run_started_at')}, {{0}}.node_id, {{0}}.outcome, " \
            "CASE WHEN {0}.outcome = 'skipped' THEN {0}.reason END, {0}.left_at IS NULL"
_RUN_KEY = f"{{0}}.journey_id, {{0}}.version, {_DAY.format('{0}.enrolled_at')}, {{0}}.status, {{0}}.exit_reason"
_CONVERSION_KEY = f"{{0}}.journey_id, {{0}}.version, {_DAY.format('{0}.run_started_at')}, {{0}}.node_id"

# A row's old key gives back what it counted, its new key takes it; in the writer's shard: each
# connection moves its own rows of a key, so concurrent writers of one journey's day do not queue
# on one row (measured: they did, bench/step_counts.py). Counts are sums, so a step counted in one
# shard and moved on in another sums right; the funnel sums the shards; the backfill fills shard 0.
_SHARD = "pg_backend_pid() % 8"
_TRIGGERS = f"""
-- A step's move (the run path's most frequent write: a step closed) is one statement of two rows.
CREATE FUNCTION funnel_count_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO funnel_step_counts AS c VALUES ({_STEP_KEY.format('OLD')}, -1, {_SHARD}),
                                                  ({_STEP_KEY.format('NEW')}, 1, {_SHARD})
        ON CONFLICT ON CONSTRAINT ux_funnel_step_counts DO UPDATE SET n = c.n + excluded.n;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO funnel_step_counts AS c VALUES ({_STEP_KEY.format('NEW')}, 1, {_SHARD})
        ON CONFLICT ON CONSTRAINT ux_funnel_step_counts DO UPDATE SET n = c.n + 1;
    ELSE
        INSERT INTO funnel_step_counts AS c VALUES ({_STEP_KEY.format('OLD')}, -1, {_SHARD})
        ON CONFLICT ON CONSTRAINT ux_funnel_step_counts DO UPDATE SET n = c.n - 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER funnel_count_step AFTER INSERT OR DELETE ON journey_steps
    FOR EACH ROW EXECUTE FUNCTION funnel_count_step();

CREATE TRIGGER funnel_count_step_moved AFTER UPDATE ON journey_steps FOR EACH ROW
    WHEN (({_STEP_KEY.format('OLD')}) IS DISTINCT FROM ({_STEP_KEY.format('NEW')}))
    EXECUTE FUNCTION funnel_count_step();

CREATE FUNCTION funnel_count_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO funnel_run_counts AS c VALUES ({_RUN_KEY.format('OLD')}, -1, {_SHARD})
        ON CONFLICT ON CONSTRAINT ux_funnel_run_counts DO UPDATE SET n = c.n - 1;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO funnel_run_counts AS c VALUES ({_RUN_KEY.format('NEW')}, 1, {_SHARD})
        ON CONFLICT ON CONSTRAINT ux_funnel_run_counts DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER funnel_count_run AFTER INSERT OR DELETE ON journey_runs
    FOR EACH ROW EXECUTE FUNCTION funnel_count_run();

CREATE TRIGGER funnel_count_run_moved AFTER UPDATE ON journey_runs FOR EACH ROW
    WHEN (({_RUN_KEY.format('OLD')}) IS DISTINCT FROM ({_RUN_KEY.format('NEW')}))
    EXECUTE FUNCTION funnel_count_run();

CREATE FUNCTION funnel_count_conversion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO funnel_conversion_counts AS c VALUES ({_CONVERSION_KEY.format('OLD')}, -1, -coalesce(OLD.value, 0), {_SHARD})
        ON CONFLICT ON CONSTRAINT ux_funnel_conversion_counts
        DO UPDATE SET n = c.n - 1, revenue = c.revenue - coalesce(OLD.value, 0);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO funnel_conversion_counts AS c VALUES ({_CONVERSION_KEY.format('NEW')}, 1, coalesce(NEW.value, 0), {_SHARD})
        ON CONFLICT ON CONSTRAINT ux_funnel_conversion_counts
        DO UPDATE SET n = c.n + 1, revenue = c.revenue + coalesce(NEW.value, 0);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER funnel_count_conversion AFTER INSERT OR DELETE ON conversions
    FOR EACH ROW EXECUTE FUNCTION funnel_count_conversion();

CREATE TRIGGER funnel_count_conversion_moved AFTER UPDATE ON conversions FOR EACH ROW
    WHEN (({_CONVERSION_KEY.format('OLD')}, OLD.value) IS DISTINCT FROM ({_CONVERSION_KEY.format('NEW')}, NEW.value))
    EXECUTE FUNCTION funnel_count_conversion();

-- The day a message's run entered the journey: its run is the one whose scope begins its key.
CREATE FUNCTION funnel_message_day(workflow text, idempotency_key text) RETURNS date LANGUAGE sql STABLE AS $$
    SELECT {_DAY.format('r.enrolled_at')} FROM journey_runs r
    WHERE r.workflow_id = workflow AND starts_with(idempotency_key, r.workflow_id || '/' || coalesce(r.batch, r.run_id) || '/')
    LIMIT 1
$$;

CREATE FUNCTION funnel_count_engagement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m record;
    is_first integer;
    engaged record;
BEGIN
    SELECT journey_id, journey_version, node_id, workflow_id, idempotency_key, test INTO m
    FROM messages WHERE id = NEW.message_id;
    IF NOT FOUND OR m.test THEN
        RETURN NULL;
    END IF;
    INSERT INTO funnel_engaged VALUES (NEW.message_id, NEW.type, m.journey_id, m.journey_version, m.node_id,
                                       funnel_message_day(m.workflow_id, m.idempotency_key))
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS is_first = ROW_COUNT;
    SELECT * INTO engaged FROM funnel_engaged WHERE message_id = NEW.message_id AND kind = NEW.type;
    INSERT INTO funnel_engagement_counts AS c
    VALUES (engaged.journey_id, engaged.version, engaged.day, engaged.node_id, engaged.kind, is_first, 1, {_SHARD})
    ON CONFLICT ON CONSTRAINT ux_funnel_engagement_counts DO UPDATE SET uniques = c.uniques + is_first, total = c.total + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER funnel_count_engagement AFTER INSERT ON engagement_events FOR EACH ROW
    WHEN (NOT NEW.automated) EXECUTE FUNCTION funnel_count_engagement();

-- Before the cascade takes its events: what the message counted, by the day its markers hold.
CREATE FUNCTION funnel_uncount_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO funnel_engagement_counts AS c
    SELECT f.journey_id, f.version, f.day, f.node_id, f.kind, -1,
           -(SELECT count(*) FROM engagement_events e WHERE e.message_id = f.message_id AND e.type = f.kind
             AND NOT e.automated), {_SHARD}
    FROM funnel_engaged f WHERE f.message_id = OLD.id
    ON CONFLICT ON CONSTRAINT ux_funnel_engagement_counts
    DO UPDATE SET uniques = c.uniques + excluded.uniques, total = c.total + excluded.total;
    DELETE FROM funnel_engaged WHERE message_id = OLD.id;
    RETURN OLD;
END $$;

CREATE TRIGGER funnel_uncount_message BEFORE DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION funnel_uncount_message();
"""

_BACKFILL = f"""
INSERT INTO funnel_step_counts SELECT {_STEP_KEY.format('s')}, count(*) FROM journey_steps s GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO funnel_run_counts SELECT {_RUN_KEY.format('r')}, count(*) FROM journey_runs r GROUP BY 1, 2, 3, 4, 5;

INSERT INTO funnel_conversion_counts SELECT {_CONVERSION_KEY.format('v')}, count(*), coalesce(sum(v.value), 0)
    FROM conversions v GROUP BY 1, 2, 3, 4;

CREATE TEMPORARY TABLE funnel_engaged_backfill ON COMMIT DROP AS
    SELECT e.message_id, e.type AS kind, count(*) AS n FROM engagement_events e WHERE NOT e.automated GROUP BY 1, 2;

INSERT INTO funnel_engaged
    SELECT g.message_id, g.kind, m.journey_id, m.journey_version, m.node_id, d.day
    FROM funnel_engaged_backfill g JOIN messages m ON m.id = g.message_id AND NOT m.test
    LEFT JOIN (SELECT DISTINCT ON (m.id) m.id, {_DAY.format('r.enrolled_at')} AS day
               FROM messages m JOIN journey_runs r ON r.workflow_id = m.workflow_id
                AND starts_with(m.idempotency_key, r.workflow_id || '/' || coalesce(r.batch, r.run_id) || '/')
               WHERE NOT m.test) d ON d.id = g.message_id;

INSERT INTO funnel_engagement_counts
    SELECT f.journey_id, f.version, f.day, f.node_id, f.kind, count(*), sum(g.n)
    FROM funnel_engaged f JOIN funnel_engaged_backfill g USING (message_id, kind) GROUP BY 1, 2, 3, 4, 5;
"""


def _statements(script: str) -> list[str]:
    """A script's statements, one per paragraph: asyncpg runs one statement per call."""
    return [part.strip() for part in script.split("\n\n") if part.strip()]


def upgrade() -> None:
    for statement in _statements(_TABLES) + _statements(_TRIGGERS) + _statements(_BACKFILL):
        op.execute(statement)


def downgrade() -> None:
    op.execute("""DROP TRIGGER funnel_uncount_message ON messages;
        DROP TRIGGER funnel_count_engagement ON engagement_events;
        DROP TRIGGER funnel_count_conversion_moved ON conversions;
        DROP TRIGGER funnel_count_conversion ON conversions;
        DROP TRIGGER funnel_count_run_moved ON journey_runs;
        DROP TRIGGER funnel_count_run ON journey_runs;
        DROP TRIGGER funnel_count_step_moved ON journey_steps;
        DROP TRIGGER funnel_count_step ON journey_steps;
        DROP FUNCTION funnel_uncount_message, funnel_count_engagement, funnel_message_day, funnel_count_conversion,
                      funnel_count_run, funnel_count_step;
        DROP TABLE funnel_engaged, funnel_engagement_counts, funnel_conversion_counts, funnel_run_counts,
                   funnel_step_counts;
    """)
