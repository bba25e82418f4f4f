-- The statements of the range operations, one `-- name:` section each.
--
-- `ranges/compiler.py` renders them once per concrete segment model: `{names}` are quoted
-- identifiers and SQL types of that model (see `compiler.Names`); values are parameters,
-- `%(name)s`. `{cols}` / `{vals}` are the columns and values of a new row (a field left to
-- its database default is left out), filled per combination of such fields.
--
-- A parameter with a cast is written `(%(name)s)::type`: with client-side binding the value
-- is sent as a literal, and `-9223372036854775808::int8` would cast the positive number
-- first (`::` binds tighter than the unary minus), which is out of range.
--
-- An operation sends `lock` first and its writing statement after it, in one string: the
-- writing statement then runs with a snapshot taken after the lock was granted, so it reads
-- the span and its segments as the last writer of the span committed them. Every writing
-- statement writes nothing when the operation does not apply (a missing or deleted span,
-- a bound that does not move the right way, no neighbour): the caller tells why from the
-- lock's row. The predicates are ones the navigation index `(span_id, lower(range))` or
-- the exclusion constraint's GiST index answers, so no statement reads the whole span
-- (but those that change all of it).

-- name: lock
SELECT lower(current_range), upper(current_range), deleted_at FROM {span}
WHERE {span_pk} = %(span)s FOR NO KEY UPDATE

-- name: check
SET CONSTRAINTS {immediate} IMMEDIATE; SET CONSTRAINTS {deferred} DEFERRED

-- name: append
-- The new upper bound is computed from the span row: `to`, or the upper bound plus `delta`.
WITH old AS (
    SELECT lower(current_range) AS lo, upper(current_range) AS hi FROM {span}
    WHERE {span_pk} = %(span)s AND deleted_at IS NULL
), new AS (
    SELECT lo, hi AS start, coalesce((%(to)s)::{elem}, hi + (%(delta)s)::{delta}) AS stop FROM old
), grown AS (
    UPDATE {span} SET current_range = {range}(new.lo, new.stop, '[)') FROM new
    WHERE {span}.{span_pk} = %(span)s AND new.stop > new.start
)
INSERT INTO {seg} ({fk}, {rng}{cols})
SELECT %(span)s, {range}(new.start, new.stop, '[)'){vals} FROM new WHERE new.stop > new.start
RETURNING {columns}

-- name: shift_span
UPDATE {span}
SET current_range = {range}(lower(current_range) + (%(delta)s)::{delta}, upper(current_range) + (%(delta)s)::{delta}, '[)')
WHERE {span_pk} = %(span)s AND deleted_at IS NULL
RETURNING lower(current_range), upper(current_range)

-- name: shift_segments
UPDATE {seg}
SET {rng} = {range}(lower({rng}) + (%(delta)s)::{delta}, upper({rng}) + (%(delta)s)::{delta}, '[)')
WHERE {fk} = %(span)s AND deleted_at IS NULL

-- name: shift_lower
-- Move the lower bound to `to` (or by `delta`): segments that end at or below it go, the
-- one that straddles it is clipped; moving it down extends the segment that started at
-- the old bound. Returns the span's new bounds with each removed segment (one row without
-- segment columns when none was removed); nothing when the span would become empty.
WITH b AS (
    SELECT coalesce((%(to)s)::{elem}, lower(current_range) + (%(delta)s)::{delta}) AS new,
        lower(current_range) AS old, upper(current_range) AS hi
    FROM {span} WHERE {span_pk} = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, hi FROM b WHERE new < hi
), moved AS (
    UPDATE {span} SET current_range = {range}(ok.new, ok.hi, '[)') FROM ok
    WHERE {span}.{span_pk} = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    {remove} ok WHERE {seg}.{fk} = %(span)s AND {seg}.deleted_at IS NULL
        AND lower({seg}.{rng}) < ok.new AND upper({seg}.{rng}) <= ok.new
    RETURNING {returning}
), straddler AS (
    SELECT s.id FROM ok, LATERAL (
        SELECT {seg_pk} AS id, upper({rng}) AS hi FROM {seg}
        WHERE {fk} = %(span)s AND deleted_at IS NULL AND lower({rng}) < ok.new
        ORDER BY lower({rng}) DESC LIMIT 1
    ) AS s WHERE s.hi > ok.new
), clipped AS (
    UPDATE {seg} SET {rng} = {range}(ok.new, upper({seg}.{rng}), '[)') FROM ok, straddler
    WHERE {seg}.{seg_pk} = straddler.id
), extended AS (
    UPDATE {seg} SET {rng} = {range}(ok.new, upper({seg}.{rng}), '[)') FROM ok
    WHERE ok.new < ok.old AND {seg}.{fk} = %(span)s AND {seg}.deleted_at IS NULL
        AND lower({seg}.{rng}) = ok.old
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true

-- name: shift_upper
-- The mirror image of shift_lower.
WITH b AS (
    SELECT coalesce((%(to)s)::{elem}, upper(current_range) + (%(delta)s)::{delta}) AS new,
        upper(current_range) AS old, lower(current_range) AS lo
    FROM {span} WHERE {span_pk} = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, lo FROM b WHERE new > lo
), moved AS (
    UPDATE {span} SET current_range = {range}(ok.lo, ok.new, '[)') FROM ok
    WHERE {span}.{span_pk} = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    {remove} ok WHERE {seg}.{fk} = %(span)s AND {seg}.deleted_at IS NULL
        AND lower({seg}.{rng}) >= ok.new
    RETURNING {returning}
), last AS (
    SELECT s.id, s.hi FROM ok, LATERAL (
        SELECT {seg_pk} AS id, upper({rng}) AS hi FROM {seg}
        WHERE {fk} = %(span)s AND deleted_at IS NULL AND lower({rng}) < ok.new
        ORDER BY lower({rng}) DESC LIMIT 1
    ) AS s
), resized AS (
    UPDATE {seg} SET {rng} = {range}(lower({seg}.{rng}), ok.new, '[)') FROM ok, last
    WHERE {seg}.{seg_pk} = last.id AND ((ok.new < ok.old AND last.hi > ok.new) OR (ok.new > ok.old AND last.hi = ok.old))
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true

-- name: insert
-- Insert [a, b): remove the segments it covers, cut one that strictly contains it in two
-- (the upper piece is a copy), clip those it partly covers. Returns the new segment (part
-- 0), the upper piece of a cut (1) and the removed segments (2); nothing when the span is
-- missing, deleted or does not contain [a, b). The parts write disjoint rows; the
-- exclusion constraint (deferrable) is checked once the statement wrote all of them.
WITH ok AS (
    SELECT 1 FROM {span} WHERE {span_pk} = %(span)s AND deleted_at IS NULL
        AND current_range @> {range}((%(a)s)::{elem}, (%(b)s)::{elem}, '[)')
), removed AS (
    {remove} ok WHERE {seg}.{fk} = %(span)s AND {seg}.deleted_at IS NULL
        AND {seg}.{rng} <@ {range}((%(a)s)::{elem}, (%(b)s)::{elem}, '[)')
    RETURNING {returning}
), cut AS (
    INSERT INTO {seg} ({fk}, {rng}{copy_cols})
    SELECT s.{fk}, {range}((%(b)s)::{elem}, upper(s.{rng}), '[)'){copy_vals} FROM {seg} AS s, ok
    WHERE s.{fk} = %(span)s AND s.deleted_at IS NULL AND s.{rng} @> {range}((%(a)s)::{elem}, (%(b)s)::{elem}, '[)')
        AND lower(s.{rng}) < (%(a)s)::{elem} AND upper(s.{rng}) > (%(b)s)::{elem}
    RETURNING {columns}
), clipped AS (
    UPDATE {seg} SET {rng} = CASE WHEN lower({seg}.{rng}) < (%(a)s)::{elem}
        THEN {range}(lower({seg}.{rng}), (%(a)s)::{elem}, '[)') ELSE {range}((%(b)s)::{elem}, upper({seg}.{rng}), '[)') END
    FROM ok WHERE {seg}.{fk} = %(span)s AND {seg}.deleted_at IS NULL
        AND {seg}.{rng} && {range}((%(a)s)::{elem}, (%(b)s)::{elem}, '[)')
        AND NOT {seg}.{rng} <@ {range}((%(a)s)::{elem}, (%(b)s)::{elem}, '[)')
), added AS (
    INSERT INTO {seg} ({fk}, {rng}{cols})
    SELECT %(span)s, {range}((%(a)s)::{elem}, (%(b)s)::{elem}, '[)'){vals} FROM ok
    RETURNING {columns}
)
SELECT 0 AS part, {columns} FROM added
UNION ALL SELECT 1, {columns} FROM cut
UNION ALL SELECT 2, {columns} FROM removed

-- name: split
-- Shrink the segment to [lower, value) and insert [value, upper) as a new segment.
-- Returns the segment (part 0) and the new one (1); nothing unless value lies strictly
-- inside an active segment.
WITH old AS (
    SELECT {seg_pk} AS id, upper({rng}) AS hi FROM {seg}
    WHERE {seg_pk} = %(segment)s AND deleted_at IS NULL
        AND lower({rng}) < (%(value)s)::{elem} AND upper({rng}) > (%(value)s)::{elem}
), shrunk AS (
    UPDATE {seg} SET {rng} = {range}(lower({seg}.{rng}), (%(value)s)::{elem}, '[)') FROM old
    WHERE {seg}.{seg_pk} = old.id
    RETURNING {returning}
), added AS (
    INSERT INTO {seg} ({fk}, {rng}{cols})
    SELECT s.{fk}, {range}((%(value)s)::{elem}, old.hi, '[)'){vals} FROM {seg} AS s, old
    WHERE s.{seg_pk} = old.id
    RETURNING {columns}
)
SELECT 0 AS part, {columns} FROM shrunk UNION ALL SELECT 1, {columns} FROM added

-- name: span_segments
-- Every segment of a span (active and soft-deleted): those a hard delete of the span
-- removes through the foreign key's CASCADE, for their signals. Sent after `lock`.
SELECT {columns} FROM {seg} WHERE {fk} = %(span)s ORDER BY lower({rng}), {seg_pk}

-- name: split_refused
SELECT {rng}::text, deleted_at IS NOT NULL FROM {seg} WHERE {seg_pk} = %(segment)s

-- name: merge_into_lower
-- Remove the segment and stretch the one before it over its range. Returns the stretched
-- neighbour (part 0) and the removed segment (1); nothing without a neighbour.
WITH me AS (
    SELECT {seg_pk} AS id, {rng} AS r FROM {seg}
    WHERE {seg_pk} = %(segment)s AND {fk} = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT {seg_pk} AS id FROM {seg}
        WHERE {fk} = %(span)s AND deleted_at IS NULL AND lower({rng}) < lower(me.r)
        ORDER BY lower({rng}) DESC LIMIT 1
    ) AS n
), gone AS (
    {remove} me, neighbour WHERE {seg}.{seg_pk} = me.id
    RETURNING {returning}
), stretched AS (
    UPDATE {seg} SET {rng} = {range}(lower({seg}.{rng}), upper(me.r), '[)') FROM me, neighbour
    WHERE {seg}.{seg_pk} = neighbour.id
    RETURNING {returning}
)
SELECT 0 AS part, {columns} FROM stretched UNION ALL SELECT 1, {columns} FROM gone

-- name: merge_into_upper
-- The mirror image of merge_into_lower.
WITH me AS (
    SELECT {seg_pk} AS id, {rng} AS r FROM {seg}
    WHERE {seg_pk} = %(segment)s AND {fk} = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT {seg_pk} AS id FROM {seg}
        WHERE {fk} = %(span)s AND deleted_at IS NULL AND lower({rng}) > lower(me.r)
        ORDER BY lower({rng}) ASC LIMIT 1
    ) AS n
), gone AS (
    {remove} me, neighbour WHERE {seg}.{seg_pk} = me.id
    RETURNING {returning}
), stretched AS (
    UPDATE {seg} SET {rng} = {range}(lower(me.r), upper({seg}.{rng}), '[)') FROM me, neighbour
    WHERE {seg}.{seg_pk} = neighbour.id
    RETURNING {returning}
)
SELECT 0 AS part, {columns} FROM stretched UNION ALL SELECT 1, {columns} FROM gone

-- name: merge_refused
-- Whether the segment is missing or deleted, and whether it has a neighbour below / above.
SELECT me.deleted_at IS NOT NULL,
    EXISTS (SELECT 1 FROM {seg} AS s WHERE s.{fk} = me.{fk} AND s.deleted_at IS NULL
        AND lower(s.{rng}) < lower(me.{rng})),
    EXISTS (SELECT 1 FROM {seg} AS s WHERE s.{fk} = me.{fk} AND s.deleted_at IS NULL
        AND lower(s.{rng}) > lower(me.{rng}))
FROM {seg} AS me WHERE me.{seg_pk} = %(segment)s

-- name: neighbourhood
-- The segment and its active neighbours: (position, key, lower, upper), position -1, 0, 1.
WITH me AS (
    SELECT {seg_pk} AS id, lower({rng}) AS lo, upper({rng}) AS hi FROM {seg}
    WHERE {seg_pk} = %(segment)s AND {fk} = %(span)s AND deleted_at IS NULL
)
SELECT 0, id, lo, hi FROM me
UNION ALL SELECT -1, p.* FROM me, LATERAL (
    SELECT {seg_pk}, lower({rng}), upper({rng}) FROM {seg}
    WHERE {fk} = %(span)s AND deleted_at IS NULL AND lower({rng}) < me.lo
    ORDER BY lower({rng}) DESC LIMIT 1
) AS p
UNION ALL SELECT 1, n.* FROM me, LATERAL (
    SELECT {seg_pk}, lower({rng}), upper({rng}) FROM {seg}
    WHERE {fk} = %(span)s AND deleted_at IS NULL AND lower({rng}) > me.lo
    ORDER BY lower({rng}) ASC LIMIT 1
) AS n

-- name: move
-- Set the ranges of the given segments: one UPDATE for the segment and its neighbours.
UPDATE {seg} SET {rng} = {range}(v.lo, v.hi, '[)')
FROM unnest((%(ids)s)::{seg_pk_type}[], (%(lows)s)::{elem}[], (%(highs)s)::{elem}[]) AS v (id, lo, hi)
WHERE {seg}.{seg_pk} = v.id

-- name: soft_delete_segment
UPDATE {seg} SET deleted_at = now() WHERE {seg_pk} = %(segment)s AND deleted_at IS NULL
RETURNING deleted_at

-- name: soft_delete_segments
-- Returns the segments it soft-deleted (for their signals).
UPDATE {seg} SET deleted_at = now() WHERE {fk} = %(span)s AND deleted_at IS NULL
RETURNING {returning}

-- name: soft_delete_span
UPDATE {span} SET deleted_at = now() WHERE {span_pk} = %(span)s AND deleted_at IS NULL
RETURNING deleted_at

-- name: conflicting_segment
-- The active segment an overlap collided with, from the span and range the error names.
SELECT {seg_pk} FROM {seg}
WHERE {fk}::text = %(span)s AND {rng} = (%(range)s)::{range} AND deleted_at IS NULL
