-- Hand-written baselines of the range operations, the span builder and the undo steps.
--
-- Each operation section is the minimal SQL a careful engineer would write by hand to make
-- the same change as one library operation, on the same tables: the same exclusion
-- constraint and constraint triggers fire. The bench sends a section as one string in
-- autocommit, as the library's operations run when users call them outside a transaction:
-- the string is its own transaction, and its commit runs the deferred checks.
--
-- `undo.<operation>` puts the fixture back as it was after either side made the change
-- (not timed), so that every repetition starts from the same state.
--
-- Placeholders filled by bench/ranges.py: {span} {seg} (quoted tables), {range} (range
-- constructor, e.g. int4range), {span_cols}/{span_vals} and {cols}/{vals} (the model's
-- own extra columns and the values the bench data uses). Values travel as parameters;
-- every section takes the fixture's parameters (`Fixture.params`).

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
VALUES ({range}(%(created)s, %(created)s + 100), {range}(%(created)s, %(created)s + 100){span_vals})
RETURNING id;

-- name: create_span.tiling
-- A span that forbids gaps is created with one segment covering it.
WITH s AS (
    INSERT INTO {span} (initial_range, current_range{span_cols})
    VALUES ({range}(%(created)s, %(created)s + 100), {range}(%(created)s, %(created)s + 100){span_vals})
    RETURNING id
)
INSERT INTO {seg} (span_id, segment_range{cols})
SELECT s.id, {range}(%(created)s, %(created)s + 100){vals} FROM s
RETURNING span_id;

-- name: undo.create_span
-- The key sequences go back too: the strings sent again create the same rows.
DELETE FROM {seg} WHERE span_id IN (SELECT id FROM {span} WHERE lower(initial_range) = %(created)s);
DELETE FROM {span} WHERE lower(initial_range) = %(created)s;
SELECT setval(pg_get_serial_sequence('{span}', 'id'), (SELECT max(id) FROM {span}));
SELECT setval(pg_get_serial_sequence('{seg}', 'id'), (SELECT max(id) FROM {seg}));

-- name: append
UPDATE {span} SET current_range = {range}(lower(current_range), %(new_upper)s)
WHERE id = %(span_id)s;
INSERT INTO {seg} (span_id, segment_range{cols})
VALUES (%(span_id)s, {range}(%(upper)s, %(new_upper)s){vals});

-- name: undo.append
DELETE FROM {seg} WHERE span_id = %(span_id)s AND lower(segment_range) >= %(upper)s;
UPDATE {span} SET current_range = {range}(0, %(upper)s) WHERE id = %(span_id)s;

-- name: insert
-- Insert [a, b) strictly inside segment m = [lo, hi): cut m around it.
UPDATE {seg} SET segment_range = {range}(lower(segment_range), %(a)s) WHERE id = %(seg_id)s;
INSERT INTO {seg} (span_id, segment_range{cols})
VALUES (%(span_id)s, {range}(%(a)s, %(b)s){vals}),
       (%(span_id)s, {range}(%(b)s, %(hi)s){vals});

-- name: undo.insert
DELETE FROM {seg} WHERE span_id = %(span_id)s AND lower(segment_range) IN (%(a)s, %(b)s);
UPDATE {seg} SET segment_range = {range}(%(lo)s, %(hi)s) WHERE id = %(seg_id)s;

-- name: split
UPDATE {seg} SET segment_range = {range}(lower(segment_range), %(at)s) WHERE id = %(seg_id)s;
INSERT INTO {seg} (span_id, segment_range{cols})
VALUES (%(span_id)s, {range}(%(at)s, %(hi)s){vals});

-- name: undo.split
DELETE FROM {seg} WHERE span_id = %(span_id)s AND lower(segment_range) = %(at)s;
UPDATE {seg} SET segment_range = {range}(%(lo)s, %(hi)s) WHERE id = %(seg_id)s;

-- name: merge.soft
UPDATE {seg} SET deleted_at = now() WHERE id = %(seg_id)s;
UPDATE {seg} SET segment_range = {range}(lower(segment_range), %(hi)s) WHERE id = %(lower_id)s;

-- name: merge.hard
DELETE FROM {seg} WHERE id = %(seg_id)s;
UPDATE {seg} SET segment_range = {range}(lower(segment_range), %(hi)s) WHERE id = %(lower_id)s;

-- name: undo.merge.soft
UPDATE {seg} SET segment_range = {range}(%(lower_lo)s, %(lo)s) WHERE id = %(lower_id)s;
UPDATE {seg} SET deleted_at = NULL WHERE id = %(seg_id)s;

-- name: undo.merge.hard
UPDATE {seg} SET segment_range = {range}(%(lower_lo)s, %(lo)s) WHERE id = %(lower_id)s;
INSERT INTO {seg} (id, span_id, segment_range{cols})
VALUES (%(seg_id)s, %(span_id)s, {range}(%(lo)s, %(hi)s){vals});

-- name: shift_segment
-- Move the middle segment's upper bound up by 3: the following segment gives way.
UPDATE {seg} SET segment_range = CASE WHEN id = %(seg_id)s
    THEN {range}(lower(segment_range), %(hi)s + 3) ELSE {range}(%(hi)s + 3, upper(segment_range)) END
WHERE id IN (%(seg_id)s, %(next_id)s);

-- name: undo.shift_segment
UPDATE {seg} SET segment_range = CASE WHEN id = %(seg_id)s
    THEN {range}(%(lo)s, %(hi)s) ELSE {range}(%(hi)s, %(hi)s + 10) END
WHERE id IN (%(seg_id)s, %(next_id)s);

-- name: shift_by_value
UPDATE {span}
SET current_range = {range}(lower(current_range) + %(delta)s, upper(current_range) + %(delta)s)
WHERE id = %(span_id)s;
UPDATE {seg}
SET segment_range = {range}(lower(segment_range) + %(delta)s, upper(segment_range) + %(delta)s)
WHERE span_id = %(span_id)s AND deleted_at IS NULL;

-- name: undo.shift_by_value
UPDATE {span}
SET current_range = {range}(lower(current_range) - %(delta)s, upper(current_range) - %(delta)s)
WHERE id = %(span_id)s;
UPDATE {seg}
SET segment_range = {range}(lower(segment_range) - %(delta)s, upper(segment_range) - %(delta)s)
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

-- name: undo.shift_lower_to_value.soft
UPDATE {span} SET current_range = {range}(0, upper(current_range)) WHERE id = %(span_id)s;
UPDATE {seg} SET segment_range = {range}(10, 20) WHERE id = %(second_id)s;
UPDATE {seg} SET deleted_at = NULL WHERE id = %(first_id)s;

-- name: undo.shift_lower_to_value.hard
UPDATE {span} SET current_range = {range}(0, upper(current_range)) WHERE id = %(span_id)s;
UPDATE {seg} SET segment_range = {range}(10, 20) WHERE id = %(second_id)s;
INSERT INTO {seg} (id, span_id, segment_range{cols}) VALUES (%(first_id)s, %(span_id)s, {range}(0, 10){vals});

-- name: delete.soft
UPDATE {seg} SET deleted_at = now() WHERE span_id = %(span_id)s AND deleted_at IS NULL;
UPDATE {span} SET deleted_at = now() WHERE id = %(span_id)s;

-- name: delete.hard
DELETE FROM {seg} WHERE span_id = %(span_id)s;
DELETE FROM {span} WHERE id = %(span_id)s;

-- name: undo.delete.soft
UPDATE {span} SET deleted_at = NULL WHERE id = %(span_id)s;
UPDATE {seg} SET deleted_at = NULL WHERE span_id = %(span_id)s;

-- name: undo.delete.hard
INSERT INTO {span} (id, initial_range, current_range{span_cols})
VALUES (%(span_id)s, {range}(0, %(upper)s), {range}(0, %(upper)s){span_vals});
INSERT INTO {seg} (id, span_id, segment_range{cols})
SELECT %(first_id)s + i, %(span_id)s, {range}(10 * i, 10 * i + 10){vals}
FROM generate_series(0, %(count)s - 1) AS i;

-- name: delete_segment.hard
DELETE FROM {seg} WHERE id = %(seg_id)s;

-- name: undo.delete_segment.hard
INSERT INTO {seg} (id, span_id, segment_range{cols})
VALUES (%(seg_id)s, %(span_id)s, {range}(%(lo)s, %(hi)s){vals});
