-- Hand-written baselines of the range operations, and the span builder.
--
-- Each section is the minimal SQL a careful engineer would write by hand to make the
-- same change as one library operation, in one transaction, on the same tables: the
-- same exclusion constraint and constraint triggers fire. The bench runs them, then
-- `SET CONSTRAINTS ALL IMMEDIATE` (standing in for COMMIT: the deferred checks run),
-- inside a transaction it rolls back.
--
-- Placeholders filled by bench/ranges.py: {span} {seg} (quoted tables), {range} (range
-- constructor, e.g. int4range), {span_cols}/{span_vals} and {cols}/{vals} (the model's
-- own extra columns and the values the bench data uses). Values travel as parameters.

-- name: build_span
INSERT INTO {span} (initial_range, current_range{span_cols})
VALUES ({range}(0, %(upper)s), {range}(0, %(upper)s){span_vals})
RETURNING id;

-- name: build_segments
-- Segment i covers [10 i, 10 i + 10): the span is tiled without gaps.
INSERT INTO {seg} (span_id, segment_range{cols})
SELECT %(span_id)s, {range}(10 * i, 10 * i + 10){vals}
FROM generate_series(0, %(count)s - 1) AS i;

-- name: create_span.free
INSERT INTO {span} (initial_range, current_range{span_cols})
VALUES ({range}(%(lower)s, %(upper)s), {range}(%(lower)s, %(upper)s){span_vals})
RETURNING id;

-- name: create_span.tiling
-- A span that forbids gaps is created with one segment covering it.
WITH s AS (
    INSERT INTO {span} (initial_range, current_range{span_cols})
    VALUES ({range}(%(lower)s, %(upper)s), {range}(%(lower)s, %(upper)s){span_vals})
    RETURNING id
)
INSERT INTO {seg} (span_id, segment_range{cols})
SELECT s.id, {range}(%(lower)s, %(upper)s){vals} FROM s
RETURNING span_id;

-- name: append
UPDATE {span} SET current_range = {range}(lower(current_range), %(new_upper)s)
WHERE id = %(span_id)s;
INSERT INTO {seg} (span_id, segment_range{cols})
VALUES (%(span_id)s, {range}(%(upper)s, %(new_upper)s){vals});

-- name: insert
-- Insert [a, b) strictly inside segment m = [lo, hi): cut m around it.
UPDATE {seg} SET segment_range = {range}(lower(segment_range), %(a)s) WHERE id = %(seg_id)s;
INSERT INTO {seg} (span_id, segment_range{cols})
VALUES (%(span_id)s, {range}(%(a)s, %(b)s){vals}),
       (%(span_id)s, {range}(%(b)s, %(hi)s){vals});

-- name: split
UPDATE {seg} SET segment_range = {range}(lower(segment_range), %(at)s) WHERE id = %(seg_id)s;
INSERT INTO {seg} (span_id, segment_range{cols})
VALUES (%(span_id)s, {range}(%(at)s, %(hi)s){vals});

-- name: merge.soft
UPDATE {seg} SET deleted_at = now() WHERE id = %(seg_id)s;
UPDATE {seg} SET segment_range = {range}(lower(segment_range), %(hi)s) WHERE id = %(lower_id)s;

-- name: merge.hard
DELETE FROM {seg} WHERE id = %(seg_id)s;
UPDATE {seg} SET segment_range = {range}(lower(segment_range), %(hi)s) WHERE id = %(lower_id)s;

-- name: shift_by_value
UPDATE {span}
SET current_range = {range}(lower(current_range) + %(delta)s, upper(current_range) + %(delta)s)
WHERE id = %(span_id)s;
UPDATE {seg}
SET segment_range = {range}(lower(segment_range) + %(delta)s, upper(segment_range) + %(delta)s)
WHERE span_id = %(span_id)s AND deleted_at IS NULL;

-- name: shift_lower_to_value.soft
-- Move the lower bound into the second segment: the first goes, the second is clipped.
UPDATE {span} SET current_range = {range}(%(to)s, upper(current_range)) WHERE id = %(span_id)s;
UPDATE {seg} SET deleted_at = now() WHERE id = %(first_id)s;
UPDATE {seg} SET segment_range = {range}(%(to)s, upper(segment_range)) WHERE id = %(second_id)s;

-- name: shift_lower_to_value.hard
UPDATE {span} SET current_range = {range}(%(to)s, upper(current_range)) WHERE id = %(span_id)s;
DELETE FROM {seg} WHERE id = %(first_id)s;
UPDATE {seg} SET segment_range = {range}(%(to)s, upper(segment_range)) WHERE id = %(second_id)s;

-- name: delete.soft
UPDATE {seg} SET deleted_at = now() WHERE span_id = %(span_id)s AND deleted_at IS NULL;
UPDATE {span} SET deleted_at = now() WHERE id = %(span_id)s;

-- name: delete.hard
DELETE FROM {seg} WHERE span_id = %(span_id)s;
DELETE FROM {span} WHERE id = %(span_id)s;

-- name: delete_segment.hard
DELETE FROM {seg} WHERE id = %(seg_id)s;
