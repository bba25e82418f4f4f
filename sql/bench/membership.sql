-- Membership benchmark: members, the same query as a materialized view, many segments.

-- name: members
-- Members 1..count, all active; a segment's definition selects the active ones.
TRUNCATE memberapp_intmember RESTART IDENTITY CASCADE;
INSERT INTO memberapp_intmember (email, level, active)
SELECT 'member' || i || '@example.org', i %% 10, true FROM generate_series(1, %(count)s) AS i;

-- name: definition
SELECT id FROM memberapp_intmember WHERE active

-- name: matviews
-- Two views of the segment's query: one for REFRESH, one for REFRESH ... CONCURRENTLY
-- (which needs a unique index), so each sees the same change.
DROP MATERIALIZED VIEW IF EXISTS bench_segment_mv, bench_segment_mv_concurrent;
CREATE MATERIALIZED VIEW bench_segment_mv AS SELECT id FROM memberapp_intmember WHERE active;
CREATE UNIQUE INDEX bench_segment_mv_id ON bench_segment_mv (id);
CREATE MATERIALIZED VIEW bench_segment_mv_concurrent AS SELECT id FROM memberapp_intmember WHERE active;
CREATE UNIQUE INDEX bench_segment_mv_concurrent_id ON bench_segment_mv_concurrent (id);

-- name: change
-- Flip every `every`-th member: 1 / every of the segment changes (leaves, or comes back).
UPDATE memberapp_intmember SET active = NOT active WHERE id %% %(every)s = 0;

-- name: refresh_matview
REFRESH MATERIALIZED VIEW bench_segment_mv;

-- name: refresh_matview_concurrently
REFRESH MATERIALIZED VIEW CONCURRENTLY bench_segment_mv_concurrent;

-- name: many_segments
-- `count` refreshed segments (state ok), as if each had been refreshed a day ago.
INSERT INTO django_segments_usersegment (
    name, slug, priority, sql, static_ids, method, conditions, state, last_attempt,
    last_success, last_duration, member_count, last_error, last_warnings, created_at, updated_at
)
SELECT 'bench segment ' || i, 'bench-many-' || i, i %% 7, '', '1', '', NULL, 'ok',
       now() - interval '1 day', now() - interval '1 day', interval '1 second', 0, '', '',
       now() - interval '2 days', now() - interval '2 days'
FROM generate_series(1, %(count)s) AS i
RETURNING id;

-- name: many_memberships
-- Member m is in segment number n when (m + n) is a multiple of `every`.
INSERT INTO django_segments_membership (segment_id, member_id, period)
SELECT s.id, m, tstzrange(now() - interval '1 day', NULL, '[)')
FROM unnest(%(segment_ids)s::bigint[]) WITH ORDINALITY AS s(id, n),
     generate_series(1, %(members)s) AS m
WHERE (m + s.n) %% %(every)s = 0;

-- name: peer_cte
-- (a) The diff a careful engineer writes by hand: the definition inlined on the writer,
-- leavers' open periods closed, enterers' periods opened, in one statement.
WITH desired AS MATERIALIZED (
    SELECT id AS member_id FROM memberapp_intmember WHERE active
), current AS MATERIALIZED (
    SELECT id, member_id FROM django_segments_membership
    WHERE segment_id = %(segment)s AND upper_inf(period)
), closed AS (
    UPDATE django_segments_membership AS m SET period = tstzrange(lower(m.period), now(), '[)')
    FROM current c
    WHERE m.id = c.id AND NOT EXISTS (SELECT FROM desired d WHERE d.member_id = c.member_id)
    RETURNING 1
), opened AS (
    INSERT INTO django_segments_membership (segment_id, member_id, period)
    SELECT %(segment)s, d.member_id, tstzrange(now(), NULL, '[)') FROM desired d
    WHERE NOT EXISTS (SELECT FROM current c WHERE c.member_id = d.member_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM opened), (SELECT count(*) FROM closed);

-- name: peer_merge
-- (a) as one MERGE (PostgreSQL 17+: WHEN NOT MATCHED BY SOURCE). The target is the
-- whole table, so the rows of other segments are matched away by the conditions.
MERGE INTO django_segments_membership AS m
USING (SELECT id AS member_id FROM memberapp_intmember WHERE active) AS d
ON m.segment_id = %(segment)s AND upper_inf(m.period) AND m.member_id = d.member_id
WHEN NOT MATCHED BY TARGET THEN
    INSERT (segment_id, member_id, period) VALUES (%(segment)s, d.member_id, tstzrange(now(), NULL, '[)'))
WHEN NOT MATCHED BY SOURCE AND m.segment_id = %(segment)s AND upper_inf(m.period) THEN
    UPDATE SET period = tstzrange(lower(m.period), now(), '[)');

-- name: peer_current_ids
-- (b) The naive Python diff: the current members ...
SELECT member_id FROM django_segments_membership WHERE segment_id = %(segment)s AND upper_inf(period);

-- name: peer_close
-- ... the leavers' periods closed (an array parameter) ...
UPDATE django_segments_membership SET period = tstzrange(lower(period), now(), '[)')
WHERE segment_id = %(segment)s AND upper_inf(period) AND member_id = ANY(%(ids)s::bigint[]);

-- name: peer_open
-- ... and the enterers' opened.
INSERT INTO django_segments_membership (segment_id, member_id, period)
SELECT %(segment)s, id, tstzrange(now(), NULL, '[)') FROM unnest(%(ids)s::bigint[]) AS id;

-- name: peer_first_insert
-- The first refresh's peer: the same ids inserted with INSERT ... SELECT.
INSERT INTO django_segments_membership (segment_id, member_id, period)
SELECT %(segment)s, id, tstzrange(now(), NULL, '[)') FROM memberapp_intmember WHERE active;

-- name: peer_forget
-- Undo a first refresh (not timed): its rows and its runs.
DELETE FROM django_segments_membership WHERE segment_id = %(segment)s;
DELETE FROM django_segments_refreshrun WHERE segment_id = %(segment)s;

-- name: peer_segment
-- A segment row for a peer to write under (never refreshed by the library).
INSERT INTO django_segments_usersegment (
    name, slug, priority, sql, static_ids, method, conditions, state, last_attempt,
    last_success, last_duration, member_count, last_error, last_warnings, created_at, updated_at
)
VALUES (%(slug)s, %(slug)s, 0, '', '', '', NULL, 'ok', now(), now(), interval '1 second', 0,
        '', '', now(), now())
RETURNING id;

-- name: peer_histories
-- Rows and open rows per segment: every side must have written the same history.
SELECT segment_id, count(*), count(*) FILTER (WHERE upper_inf(period))
FROM django_segments_membership WHERE segment_id = ANY(%(segments)s) GROUP BY segment_id;

-- name: hand_has_member
SELECT EXISTS (
    SELECT 1 FROM django_segments_membership
    WHERE segment_id = %(segment)s AND member_id = %(member)s AND upper_inf(period)
);

-- name: hand_member_segments
SELECT s.* FROM django_segments_usersegment s
WHERE s.id IN (
    SELECT segment_id FROM django_segments_membership WHERE member_id = %(member)s AND upper_inf(period)
)
ORDER BY s.priority, s.name, s.id;

-- name: hand_segment_members
SELECT m.* FROM memberapp_intmember m
WHERE m.id IN (
    SELECT member_id FROM django_segments_membership WHERE segment_id = %(segment)s AND upper_inf(period)
)
LIMIT 100;
