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
