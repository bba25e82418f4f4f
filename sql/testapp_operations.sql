-- Statements of the range operations for the models of tests/testapp, written by
-- `make sql` (tests/generate_sql.py) from django_segments/ranges/sql/operations.sql.
-- Do not edit: tests/test_ranges_ddl.py checks it.

-- ==== testapp.BigIntSegment ====

-- name: lock
SELECT lower(current_range), upper(current_range), deleted_at FROM "testapp_bigintspan"
WHERE "id" = %(span)s FOR NO KEY UPDATE;

-- name: check
SET CONSTRAINTS "testapp_bigintsegment_no_overlap", "pgtrigger_segments_span_upd_bigintsegment_e6e8b", "pgtrigger_segments_span_ins_bigintsegment_a9b8e" IMMEDIATE; SET CONSTRAINTS "pgtrigger_segments_span_upd_bigintsegment_e6e8b", "pgtrigger_segments_span_ins_bigintsegment_a9b8e" DEFERRED;

-- name: append
WITH old AS (
    SELECT lower(current_range) AS lo, upper(current_range) AS hi FROM "testapp_bigintspan"
    WHERE "id" = %(span)s AND deleted_at IS NULL
), new AS (
    SELECT lo, hi AS start, coalesce((%(to)s)::int8, hi + (%(delta)s)::int8) AS stop FROM old
), grown AS (
    UPDATE "testapp_bigintspan" SET current_range = int8range(new.lo, new.stop, '[)') FROM new
    WHERE "testapp_bigintspan"."id" = %(span)s AND new.stop > new.start
)
INSERT INTO "testapp_bigintsegment" ("span_id", "segment_range", "label")
SELECT %(span)s, int8range(new.start, new.stop, '[)'), %(new_label)s FROM new WHERE new.stop > new.start
RETURNING "id", "deleted_at", "label", "span_id", "segment_range";

-- name: shift_span
UPDATE "testapp_bigintspan"
SET current_range = int8range(lower(current_range) + (%(delta)s)::int8, upper(current_range) + (%(delta)s)::int8, '[)')
WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING lower(current_range), upper(current_range);

-- name: shift_segments
UPDATE "testapp_bigintsegment"
SET "segment_range" = int8range(lower("segment_range") + (%(delta)s)::int8, upper("segment_range") + (%(delta)s)::int8, '[)')
WHERE "span_id" = %(span)s AND deleted_at IS NULL;

-- name: shift_lower
WITH b AS (
    SELECT coalesce((%(to)s)::int8, lower(current_range) + (%(delta)s)::int8) AS new,
        lower(current_range) AS old, upper(current_range) AS hi
    FROM "testapp_bigintspan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, hi FROM b WHERE new < hi
), moved AS (
    UPDATE "testapp_bigintspan" SET current_range = int8range(ok.new, ok.hi, '[)') FROM ok
    WHERE "testapp_bigintspan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    DELETE FROM "testapp_bigintsegment" USING ok WHERE "testapp_bigintsegment"."span_id" = %(span)s AND "testapp_bigintsegment".deleted_at IS NULL
        AND lower("testapp_bigintsegment"."segment_range") < ok.new AND upper("testapp_bigintsegment"."segment_range") <= ok.new
    RETURNING "testapp_bigintsegment"."id", "testapp_bigintsegment"."deleted_at", "testapp_bigintsegment"."label", "testapp_bigintsegment"."span_id", "testapp_bigintsegment"."segment_range"
), straddler AS (
    SELECT s.id FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_bigintsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s WHERE s.hi > ok.new
), clipped AS (
    UPDATE "testapp_bigintsegment" SET "segment_range" = int8range(ok.new, upper("testapp_bigintsegment"."segment_range"), '[)') FROM ok, straddler
    WHERE "testapp_bigintsegment"."id" = straddler.id
), extended AS (
    UPDATE "testapp_bigintsegment" SET "segment_range" = int8range(ok.new, upper("testapp_bigintsegment"."segment_range"), '[)') FROM ok
    WHERE ok.new < ok.old AND "testapp_bigintsegment"."span_id" = %(span)s AND "testapp_bigintsegment".deleted_at IS NULL
        AND lower("testapp_bigintsegment"."segment_range") = ok.old
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: shift_upper
WITH b AS (
    SELECT coalesce((%(to)s)::int8, upper(current_range) + (%(delta)s)::int8) AS new,
        upper(current_range) AS old, lower(current_range) AS lo
    FROM "testapp_bigintspan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, lo FROM b WHERE new > lo
), moved AS (
    UPDATE "testapp_bigintspan" SET current_range = int8range(ok.lo, ok.new, '[)') FROM ok
    WHERE "testapp_bigintspan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    DELETE FROM "testapp_bigintsegment" USING ok WHERE "testapp_bigintsegment"."span_id" = %(span)s AND "testapp_bigintsegment".deleted_at IS NULL
        AND lower("testapp_bigintsegment"."segment_range") >= ok.new
    RETURNING "testapp_bigintsegment"."id", "testapp_bigintsegment"."deleted_at", "testapp_bigintsegment"."label", "testapp_bigintsegment"."span_id", "testapp_bigintsegment"."segment_range"
), last AS (
    SELECT s.id, s.hi FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_bigintsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s
), resized AS (
    UPDATE "testapp_bigintsegment" SET "segment_range" = int8range(lower("testapp_bigintsegment"."segment_range"), ok.new, '[)') FROM ok, last
    WHERE "testapp_bigintsegment"."id" = last.id AND ((ok.new < ok.old AND last.hi > ok.new) OR (ok.new > ok.old AND last.hi = ok.old))
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: insert
WITH ok AS (
    SELECT 1 FROM "testapp_bigintspan" WHERE "id" = %(span)s AND deleted_at IS NULL
        AND current_range @> int8range((%(a)s)::int8, (%(b)s)::int8, '[)')
), removed AS (
    DELETE FROM "testapp_bigintsegment" USING ok WHERE "testapp_bigintsegment"."span_id" = %(span)s AND "testapp_bigintsegment".deleted_at IS NULL
        AND "testapp_bigintsegment"."segment_range" <@ int8range((%(a)s)::int8, (%(b)s)::int8, '[)')
    RETURNING "testapp_bigintsegment"."id", "testapp_bigintsegment"."deleted_at", "testapp_bigintsegment"."label", "testapp_bigintsegment"."span_id", "testapp_bigintsegment"."segment_range"
), cut AS (
    INSERT INTO "testapp_bigintsegment" ("span_id", "segment_range", "label")
    SELECT s."span_id", int8range((%(b)s)::int8, upper(s."segment_range"), '[)'), s."label" FROM "testapp_bigintsegment" AS s, ok
    WHERE s."span_id" = %(span)s AND s.deleted_at IS NULL AND s."segment_range" @> int8range((%(a)s)::int8, (%(b)s)::int8, '[)')
        AND lower(s."segment_range") < (%(a)s)::int8 AND upper(s."segment_range") > (%(b)s)::int8
    RETURNING "id", "deleted_at", "label", "span_id", "segment_range"
), clipped AS (
    UPDATE "testapp_bigintsegment" SET "segment_range" = CASE WHEN lower("testapp_bigintsegment"."segment_range") < (%(a)s)::int8
        THEN int8range(lower("testapp_bigintsegment"."segment_range"), (%(a)s)::int8, '[)') ELSE int8range((%(b)s)::int8, upper("testapp_bigintsegment"."segment_range"), '[)') END
    FROM ok WHERE "testapp_bigintsegment"."span_id" = %(span)s AND "testapp_bigintsegment".deleted_at IS NULL
        AND "testapp_bigintsegment"."segment_range" && int8range((%(a)s)::int8, (%(b)s)::int8, '[)')
        AND NOT "testapp_bigintsegment"."segment_range" <@ int8range((%(a)s)::int8, (%(b)s)::int8, '[)')
), added AS (
    INSERT INTO "testapp_bigintsegment" ("span_id", "segment_range", "label")
    SELECT %(span)s, int8range((%(a)s)::int8, (%(b)s)::int8, '[)'), %(new_label)s FROM ok
    RETURNING "id", "deleted_at", "label", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "label", "span_id", "segment_range" FROM added
UNION ALL SELECT 1, "id", "deleted_at", "label", "span_id", "segment_range" FROM cut
UNION ALL SELECT 2, "id", "deleted_at", "label", "span_id", "segment_range" FROM removed;

-- name: split
WITH old AS (
    SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_bigintsegment"
    WHERE "id" = %(segment)s AND deleted_at IS NULL
        AND lower("segment_range") < (%(value)s)::int8 AND upper("segment_range") > (%(value)s)::int8
), shrunk AS (
    UPDATE "testapp_bigintsegment" SET "segment_range" = int8range(lower("testapp_bigintsegment"."segment_range"), (%(value)s)::int8, '[)') FROM old
    WHERE "testapp_bigintsegment"."id" = old.id
    RETURNING "testapp_bigintsegment"."id", "testapp_bigintsegment"."deleted_at", "testapp_bigintsegment"."label", "testapp_bigintsegment"."span_id", "testapp_bigintsegment"."segment_range"
), added AS (
    INSERT INTO "testapp_bigintsegment" ("span_id", "segment_range", "label")
    SELECT s."span_id", int8range((%(value)s)::int8, old.hi, '[)'), s."label" FROM "testapp_bigintsegment" AS s, old
    WHERE s."id" = old.id
    RETURNING "id", "deleted_at", "label", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "label", "span_id", "segment_range" FROM shrunk UNION ALL SELECT 1, "id", "deleted_at", "label", "span_id", "segment_range" FROM added;

-- name: span_segments
SELECT "id", "deleted_at", "label", "span_id", "segment_range" FROM "testapp_bigintsegment" WHERE "span_id" = %(span)s ORDER BY lower("segment_range"), "id";

-- name: split_refused
SELECT "segment_range"::text, deleted_at IS NOT NULL FROM "testapp_bigintsegment" WHERE "id" = %(segment)s;

-- name: merge_into_lower
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_bigintsegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_bigintsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < lower(me.r)
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS n
), gone AS (
    DELETE FROM "testapp_bigintsegment" USING me, neighbour WHERE "testapp_bigintsegment"."id" = me.id
    RETURNING "testapp_bigintsegment"."id", "testapp_bigintsegment"."deleted_at", "testapp_bigintsegment"."label", "testapp_bigintsegment"."span_id", "testapp_bigintsegment"."segment_range"
), stretched AS (
    UPDATE "testapp_bigintsegment" SET "segment_range" = int8range(lower("testapp_bigintsegment"."segment_range"), upper(me.r), '[)') FROM me, neighbour
    WHERE "testapp_bigintsegment"."id" = neighbour.id
    RETURNING "testapp_bigintsegment"."id", "testapp_bigintsegment"."deleted_at", "testapp_bigintsegment"."label", "testapp_bigintsegment"."span_id", "testapp_bigintsegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "label", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "label", "span_id", "segment_range" FROM gone;

-- name: merge_into_upper
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_bigintsegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_bigintsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > lower(me.r)
        ORDER BY lower("segment_range") ASC LIMIT 1
    ) AS n
), gone AS (
    DELETE FROM "testapp_bigintsegment" USING me, neighbour WHERE "testapp_bigintsegment"."id" = me.id
    RETURNING "testapp_bigintsegment"."id", "testapp_bigintsegment"."deleted_at", "testapp_bigintsegment"."label", "testapp_bigintsegment"."span_id", "testapp_bigintsegment"."segment_range"
), stretched AS (
    UPDATE "testapp_bigintsegment" SET "segment_range" = int8range(lower(me.r), upper("testapp_bigintsegment"."segment_range"), '[)') FROM me, neighbour
    WHERE "testapp_bigintsegment"."id" = neighbour.id
    RETURNING "testapp_bigintsegment"."id", "testapp_bigintsegment"."deleted_at", "testapp_bigintsegment"."label", "testapp_bigintsegment"."span_id", "testapp_bigintsegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "label", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "label", "span_id", "segment_range" FROM gone;

-- name: merge_refused
SELECT me.deleted_at IS NOT NULL,
    EXISTS (SELECT 1 FROM "testapp_bigintsegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") < lower(me."segment_range")),
    EXISTS (SELECT 1 FROM "testapp_bigintsegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") > lower(me."segment_range"))
FROM "testapp_bigintsegment" AS me WHERE me."id" = %(segment)s;

-- name: neighbourhood
WITH me AS (
    SELECT "id" AS id, lower("segment_range") AS lo, upper("segment_range") AS hi FROM "testapp_bigintsegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
)
SELECT 0, id, lo, hi FROM me
UNION ALL SELECT -1, p.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_bigintsegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < me.lo
    ORDER BY lower("segment_range") DESC LIMIT 1
) AS p
UNION ALL SELECT 1, n.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_bigintsegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > me.lo
    ORDER BY lower("segment_range") ASC LIMIT 1
) AS n;

-- name: move
UPDATE "testapp_bigintsegment" SET "segment_range" = int8range(v.lo, v.hi, '[)')
FROM unnest((%(ids)s)::bigint[], (%(lows)s)::int8[], (%(highs)s)::int8[]) AS v (id, lo, hi)
WHERE "testapp_bigintsegment"."id" = v.id;

-- name: soft_delete_segment
UPDATE "testapp_bigintsegment" SET deleted_at = now() WHERE "id" = %(segment)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: soft_delete_segments
UPDATE "testapp_bigintsegment" SET deleted_at = now() WHERE "span_id" = %(span)s AND deleted_at IS NULL
RETURNING "testapp_bigintsegment"."id", "testapp_bigintsegment"."deleted_at", "testapp_bigintsegment"."label", "testapp_bigintsegment"."span_id", "testapp_bigintsegment"."segment_range";

-- name: soft_delete_span
UPDATE "testapp_bigintspan" SET deleted_at = now() WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: conflicting_segment
SELECT "id" FROM "testapp_bigintsegment"
WHERE "span_id"::text = %(span)s AND "segment_range" = (%(range)s)::int8range AND deleted_at IS NULL;

-- ==== testapp.DateSegment ====

-- name: lock
SELECT lower(current_range), upper(current_range), deleted_at FROM "testapp_datespan"
WHERE "id" = %(span)s FOR NO KEY UPDATE;

-- name: check
SET CONSTRAINTS "testapp_datesegment_no_overlap", "pgtrigger_segments_span_upd_datesegment_2f44b", "pgtrigger_segments_span_ins_datesegment_1fe06" IMMEDIATE; SET CONSTRAINTS "pgtrigger_segments_span_upd_datesegment_2f44b", "pgtrigger_segments_span_ins_datesegment_1fe06" DEFERRED;

-- name: append
WITH old AS (
    SELECT lower(current_range) AS lo, upper(current_range) AS hi FROM "testapp_datespan"
    WHERE "id" = %(span)s AND deleted_at IS NULL
), new AS (
    SELECT lo, hi AS start, coalesce((%(to)s)::date, hi + (%(delta)s)::integer) AS stop FROM old
), grown AS (
    UPDATE "testapp_datespan" SET current_range = daterange(new.lo, new.stop, '[)') FROM new
    WHERE "testapp_datespan"."id" = %(span)s AND new.stop > new.start
)
INSERT INTO "testapp_datesegment" ("span_id", "segment_range", "note", "created_at")
SELECT %(span)s, daterange(new.start, new.stop, '[)'), %(new_note)s, %(new_created_at)s FROM new WHERE new.stop > new.start
RETURNING "id", "deleted_at", "note", "created_at", "span_id", "segment_range";

-- name: shift_span
UPDATE "testapp_datespan"
SET current_range = daterange(lower(current_range) + (%(delta)s)::integer, upper(current_range) + (%(delta)s)::integer, '[)')
WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING lower(current_range), upper(current_range);

-- name: shift_segments
UPDATE "testapp_datesegment"
SET "segment_range" = daterange(lower("segment_range") + (%(delta)s)::integer, upper("segment_range") + (%(delta)s)::integer, '[)')
WHERE "span_id" = %(span)s AND deleted_at IS NULL;

-- name: shift_lower
WITH b AS (
    SELECT coalesce((%(to)s)::date, lower(current_range) + (%(delta)s)::integer) AS new,
        lower(current_range) AS old, upper(current_range) AS hi
    FROM "testapp_datespan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, hi FROM b WHERE new < hi
), moved AS (
    UPDATE "testapp_datespan" SET current_range = daterange(ok.new, ok.hi, '[)') FROM ok
    WHERE "testapp_datespan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    DELETE FROM "testapp_datesegment" USING ok WHERE "testapp_datesegment"."span_id" = %(span)s AND "testapp_datesegment".deleted_at IS NULL
        AND lower("testapp_datesegment"."segment_range") < ok.new AND upper("testapp_datesegment"."segment_range") <= ok.new
    RETURNING "testapp_datesegment"."id", "testapp_datesegment"."deleted_at", "testapp_datesegment"."note", "testapp_datesegment"."created_at", "testapp_datesegment"."span_id", "testapp_datesegment"."segment_range"
), straddler AS (
    SELECT s.id FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_datesegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s WHERE s.hi > ok.new
), clipped AS (
    UPDATE "testapp_datesegment" SET "segment_range" = daterange(ok.new, upper("testapp_datesegment"."segment_range"), '[)') FROM ok, straddler
    WHERE "testapp_datesegment"."id" = straddler.id
), extended AS (
    UPDATE "testapp_datesegment" SET "segment_range" = daterange(ok.new, upper("testapp_datesegment"."segment_range"), '[)') FROM ok
    WHERE ok.new < ok.old AND "testapp_datesegment"."span_id" = %(span)s AND "testapp_datesegment".deleted_at IS NULL
        AND lower("testapp_datesegment"."segment_range") = ok.old
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: shift_upper
WITH b AS (
    SELECT coalesce((%(to)s)::date, upper(current_range) + (%(delta)s)::integer) AS new,
        upper(current_range) AS old, lower(current_range) AS lo
    FROM "testapp_datespan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, lo FROM b WHERE new > lo
), moved AS (
    UPDATE "testapp_datespan" SET current_range = daterange(ok.lo, ok.new, '[)') FROM ok
    WHERE "testapp_datespan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    DELETE FROM "testapp_datesegment" USING ok WHERE "testapp_datesegment"."span_id" = %(span)s AND "testapp_datesegment".deleted_at IS NULL
        AND lower("testapp_datesegment"."segment_range") >= ok.new
    RETURNING "testapp_datesegment"."id", "testapp_datesegment"."deleted_at", "testapp_datesegment"."note", "testapp_datesegment"."created_at", "testapp_datesegment"."span_id", "testapp_datesegment"."segment_range"
), last AS (
    SELECT s.id, s.hi FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_datesegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s
), resized AS (
    UPDATE "testapp_datesegment" SET "segment_range" = daterange(lower("testapp_datesegment"."segment_range"), ok.new, '[)') FROM ok, last
    WHERE "testapp_datesegment"."id" = last.id AND ((ok.new < ok.old AND last.hi > ok.new) OR (ok.new > ok.old AND last.hi = ok.old))
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: insert
WITH ok AS (
    SELECT 1 FROM "testapp_datespan" WHERE "id" = %(span)s AND deleted_at IS NULL
        AND current_range @> daterange((%(a)s)::date, (%(b)s)::date, '[)')
), removed AS (
    DELETE FROM "testapp_datesegment" USING ok WHERE "testapp_datesegment"."span_id" = %(span)s AND "testapp_datesegment".deleted_at IS NULL
        AND "testapp_datesegment"."segment_range" <@ daterange((%(a)s)::date, (%(b)s)::date, '[)')
    RETURNING "testapp_datesegment"."id", "testapp_datesegment"."deleted_at", "testapp_datesegment"."note", "testapp_datesegment"."created_at", "testapp_datesegment"."span_id", "testapp_datesegment"."segment_range"
), cut AS (
    INSERT INTO "testapp_datesegment" ("span_id", "segment_range", "note", "created_at")
    SELECT s."span_id", daterange((%(b)s)::date, upper(s."segment_range"), '[)'), s."note", s."created_at" FROM "testapp_datesegment" AS s, ok
    WHERE s."span_id" = %(span)s AND s.deleted_at IS NULL AND s."segment_range" @> daterange((%(a)s)::date, (%(b)s)::date, '[)')
        AND lower(s."segment_range") < (%(a)s)::date AND upper(s."segment_range") > (%(b)s)::date
    RETURNING "id", "deleted_at", "note", "created_at", "span_id", "segment_range"
), clipped AS (
    UPDATE "testapp_datesegment" SET "segment_range" = CASE WHEN lower("testapp_datesegment"."segment_range") < (%(a)s)::date
        THEN daterange(lower("testapp_datesegment"."segment_range"), (%(a)s)::date, '[)') ELSE daterange((%(b)s)::date, upper("testapp_datesegment"."segment_range"), '[)') END
    FROM ok WHERE "testapp_datesegment"."span_id" = %(span)s AND "testapp_datesegment".deleted_at IS NULL
        AND "testapp_datesegment"."segment_range" && daterange((%(a)s)::date, (%(b)s)::date, '[)')
        AND NOT "testapp_datesegment"."segment_range" <@ daterange((%(a)s)::date, (%(b)s)::date, '[)')
), added AS (
    INSERT INTO "testapp_datesegment" ("span_id", "segment_range", "note", "created_at")
    SELECT %(span)s, daterange((%(a)s)::date, (%(b)s)::date, '[)'), %(new_note)s, %(new_created_at)s FROM ok
    RETURNING "id", "deleted_at", "note", "created_at", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM added
UNION ALL SELECT 1, "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM cut
UNION ALL SELECT 2, "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM removed;

-- name: split
WITH old AS (
    SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_datesegment"
    WHERE "id" = %(segment)s AND deleted_at IS NULL
        AND lower("segment_range") < (%(value)s)::date AND upper("segment_range") > (%(value)s)::date
), shrunk AS (
    UPDATE "testapp_datesegment" SET "segment_range" = daterange(lower("testapp_datesegment"."segment_range"), (%(value)s)::date, '[)') FROM old
    WHERE "testapp_datesegment"."id" = old.id
    RETURNING "testapp_datesegment"."id", "testapp_datesegment"."deleted_at", "testapp_datesegment"."note", "testapp_datesegment"."created_at", "testapp_datesegment"."span_id", "testapp_datesegment"."segment_range"
), added AS (
    INSERT INTO "testapp_datesegment" ("span_id", "segment_range", "note", "created_at")
    SELECT s."span_id", daterange((%(value)s)::date, old.hi, '[)'), s."note", s."created_at" FROM "testapp_datesegment" AS s, old
    WHERE s."id" = old.id
    RETURNING "id", "deleted_at", "note", "created_at", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM shrunk UNION ALL SELECT 1, "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM added;

-- name: span_segments
SELECT "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM "testapp_datesegment" WHERE "span_id" = %(span)s ORDER BY lower("segment_range"), "id";

-- name: split_refused
SELECT "segment_range"::text, deleted_at IS NOT NULL FROM "testapp_datesegment" WHERE "id" = %(segment)s;

-- name: merge_into_lower
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_datesegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_datesegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < lower(me.r)
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS n
), gone AS (
    DELETE FROM "testapp_datesegment" USING me, neighbour WHERE "testapp_datesegment"."id" = me.id
    RETURNING "testapp_datesegment"."id", "testapp_datesegment"."deleted_at", "testapp_datesegment"."note", "testapp_datesegment"."created_at", "testapp_datesegment"."span_id", "testapp_datesegment"."segment_range"
), stretched AS (
    UPDATE "testapp_datesegment" SET "segment_range" = daterange(lower("testapp_datesegment"."segment_range"), upper(me.r), '[)') FROM me, neighbour
    WHERE "testapp_datesegment"."id" = neighbour.id
    RETURNING "testapp_datesegment"."id", "testapp_datesegment"."deleted_at", "testapp_datesegment"."note", "testapp_datesegment"."created_at", "testapp_datesegment"."span_id", "testapp_datesegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM gone;

-- name: merge_into_upper
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_datesegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_datesegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > lower(me.r)
        ORDER BY lower("segment_range") ASC LIMIT 1
    ) AS n
), gone AS (
    DELETE FROM "testapp_datesegment" USING me, neighbour WHERE "testapp_datesegment"."id" = me.id
    RETURNING "testapp_datesegment"."id", "testapp_datesegment"."deleted_at", "testapp_datesegment"."note", "testapp_datesegment"."created_at", "testapp_datesegment"."span_id", "testapp_datesegment"."segment_range"
), stretched AS (
    UPDATE "testapp_datesegment" SET "segment_range" = daterange(lower(me.r), upper("testapp_datesegment"."segment_range"), '[)') FROM me, neighbour
    WHERE "testapp_datesegment"."id" = neighbour.id
    RETURNING "testapp_datesegment"."id", "testapp_datesegment"."deleted_at", "testapp_datesegment"."note", "testapp_datesegment"."created_at", "testapp_datesegment"."span_id", "testapp_datesegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "note", "created_at", "span_id", "segment_range" FROM gone;

-- name: merge_refused
SELECT me.deleted_at IS NOT NULL,
    EXISTS (SELECT 1 FROM "testapp_datesegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") < lower(me."segment_range")),
    EXISTS (SELECT 1 FROM "testapp_datesegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") > lower(me."segment_range"))
FROM "testapp_datesegment" AS me WHERE me."id" = %(segment)s;

-- name: neighbourhood
WITH me AS (
    SELECT "id" AS id, lower("segment_range") AS lo, upper("segment_range") AS hi FROM "testapp_datesegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
)
SELECT 0, id, lo, hi FROM me
UNION ALL SELECT -1, p.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_datesegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < me.lo
    ORDER BY lower("segment_range") DESC LIMIT 1
) AS p
UNION ALL SELECT 1, n.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_datesegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > me.lo
    ORDER BY lower("segment_range") ASC LIMIT 1
) AS n;

-- name: move
UPDATE "testapp_datesegment" SET "segment_range" = daterange(v.lo, v.hi, '[)')
FROM unnest((%(ids)s)::bigint[], (%(lows)s)::date[], (%(highs)s)::date[]) AS v (id, lo, hi)
WHERE "testapp_datesegment"."id" = v.id;

-- name: soft_delete_segment
UPDATE "testapp_datesegment" SET deleted_at = now() WHERE "id" = %(segment)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: soft_delete_segments
UPDATE "testapp_datesegment" SET deleted_at = now() WHERE "span_id" = %(span)s AND deleted_at IS NULL
RETURNING "testapp_datesegment"."id", "testapp_datesegment"."deleted_at", "testapp_datesegment"."note", "testapp_datesegment"."created_at", "testapp_datesegment"."span_id", "testapp_datesegment"."segment_range";

-- name: soft_delete_span
UPDATE "testapp_datespan" SET deleted_at = now() WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: conflicting_segment
SELECT "id" FROM "testapp_datesegment"
WHERE "span_id"::text = %(span)s AND "segment_range" = (%(range)s)::daterange AND deleted_at IS NULL;

-- ==== testapp.DateTimeSegment ====

-- name: lock
SELECT lower(current_range), upper(current_range), deleted_at FROM "testapp_datetimespan"
WHERE "id" = %(span)s FOR NO KEY UPDATE;

-- name: check
SET CONSTRAINTS "testapp_datetimesegment_no_overlap", "pgtrigger_segments_span_upd_datetimesegment_431ff", "pgtrigger_segments_span_ins_datetimesegment_afb36" IMMEDIATE; SET CONSTRAINTS "pgtrigger_segments_span_upd_datetimesegment_431ff", "pgtrigger_segments_span_ins_datetimesegment_afb36" DEFERRED;

-- name: append
WITH old AS (
    SELECT lower(current_range) AS lo, upper(current_range) AS hi FROM "testapp_datetimespan"
    WHERE "id" = %(span)s AND deleted_at IS NULL
), new AS (
    SELECT lo, hi AS start, coalesce((%(to)s)::timestamptz, hi + (%(delta)s)::interval) AS stop FROM old
), grown AS (
    UPDATE "testapp_datetimespan" SET current_range = tstzrange(new.lo, new.stop, '[)') FROM new
    WHERE "testapp_datetimespan"."id" = %(span)s AND new.stop > new.start
)
INSERT INTO "testapp_datetimesegment" ("span_id", "segment_range", "source")
SELECT %(span)s, tstzrange(new.start, new.stop, '[)'), %(new_source)s FROM new WHERE new.stop > new.start
RETURNING "id", "deleted_at", "source", "span_id", "segment_range";

-- name: shift_span
UPDATE "testapp_datetimespan"
SET current_range = tstzrange(lower(current_range) + (%(delta)s)::interval, upper(current_range) + (%(delta)s)::interval, '[)')
WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING lower(current_range), upper(current_range);

-- name: shift_segments
UPDATE "testapp_datetimesegment"
SET "segment_range" = tstzrange(lower("segment_range") + (%(delta)s)::interval, upper("segment_range") + (%(delta)s)::interval, '[)')
WHERE "span_id" = %(span)s AND deleted_at IS NULL;

-- name: shift_lower
WITH b AS (
    SELECT coalesce((%(to)s)::timestamptz, lower(current_range) + (%(delta)s)::interval) AS new,
        lower(current_range) AS old, upper(current_range) AS hi
    FROM "testapp_datetimespan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, hi FROM b WHERE new < hi
), moved AS (
    UPDATE "testapp_datetimespan" SET current_range = tstzrange(ok.new, ok.hi, '[)') FROM ok
    WHERE "testapp_datetimespan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    UPDATE "testapp_datetimesegment" SET deleted_at = now() FROM ok WHERE "testapp_datetimesegment"."span_id" = %(span)s AND "testapp_datetimesegment".deleted_at IS NULL
        AND lower("testapp_datetimesegment"."segment_range") < ok.new AND upper("testapp_datetimesegment"."segment_range") <= ok.new
    RETURNING "testapp_datetimesegment"."id", "testapp_datetimesegment"."deleted_at", "testapp_datetimesegment"."source", "testapp_datetimesegment"."span_id", "testapp_datetimesegment"."segment_range"
), straddler AS (
    SELECT s.id FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_datetimesegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s WHERE s.hi > ok.new
), clipped AS (
    UPDATE "testapp_datetimesegment" SET "segment_range" = tstzrange(ok.new, upper("testapp_datetimesegment"."segment_range"), '[)') FROM ok, straddler
    WHERE "testapp_datetimesegment"."id" = straddler.id
), extended AS (
    UPDATE "testapp_datetimesegment" SET "segment_range" = tstzrange(ok.new, upper("testapp_datetimesegment"."segment_range"), '[)') FROM ok
    WHERE ok.new < ok.old AND "testapp_datetimesegment"."span_id" = %(span)s AND "testapp_datetimesegment".deleted_at IS NULL
        AND lower("testapp_datetimesegment"."segment_range") = ok.old
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: shift_upper
WITH b AS (
    SELECT coalesce((%(to)s)::timestamptz, upper(current_range) + (%(delta)s)::interval) AS new,
        upper(current_range) AS old, lower(current_range) AS lo
    FROM "testapp_datetimespan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, lo FROM b WHERE new > lo
), moved AS (
    UPDATE "testapp_datetimespan" SET current_range = tstzrange(ok.lo, ok.new, '[)') FROM ok
    WHERE "testapp_datetimespan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    UPDATE "testapp_datetimesegment" SET deleted_at = now() FROM ok WHERE "testapp_datetimesegment"."span_id" = %(span)s AND "testapp_datetimesegment".deleted_at IS NULL
        AND lower("testapp_datetimesegment"."segment_range") >= ok.new
    RETURNING "testapp_datetimesegment"."id", "testapp_datetimesegment"."deleted_at", "testapp_datetimesegment"."source", "testapp_datetimesegment"."span_id", "testapp_datetimesegment"."segment_range"
), last AS (
    SELECT s.id, s.hi FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_datetimesegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s
), resized AS (
    UPDATE "testapp_datetimesegment" SET "segment_range" = tstzrange(lower("testapp_datetimesegment"."segment_range"), ok.new, '[)') FROM ok, last
    WHERE "testapp_datetimesegment"."id" = last.id AND ((ok.new < ok.old AND last.hi > ok.new) OR (ok.new > ok.old AND last.hi = ok.old))
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: insert
WITH ok AS (
    SELECT 1 FROM "testapp_datetimespan" WHERE "id" = %(span)s AND deleted_at IS NULL
        AND current_range @> tstzrange((%(a)s)::timestamptz, (%(b)s)::timestamptz, '[)')
), removed AS (
    UPDATE "testapp_datetimesegment" SET deleted_at = now() FROM ok WHERE "testapp_datetimesegment"."span_id" = %(span)s AND "testapp_datetimesegment".deleted_at IS NULL
        AND "testapp_datetimesegment"."segment_range" <@ tstzrange((%(a)s)::timestamptz, (%(b)s)::timestamptz, '[)')
    RETURNING "testapp_datetimesegment"."id", "testapp_datetimesegment"."deleted_at", "testapp_datetimesegment"."source", "testapp_datetimesegment"."span_id", "testapp_datetimesegment"."segment_range"
), cut AS (
    INSERT INTO "testapp_datetimesegment" ("span_id", "segment_range", "source")
    SELECT s."span_id", tstzrange((%(b)s)::timestamptz, upper(s."segment_range"), '[)'), s."source" FROM "testapp_datetimesegment" AS s, ok
    WHERE s."span_id" = %(span)s AND s.deleted_at IS NULL AND s."segment_range" @> tstzrange((%(a)s)::timestamptz, (%(b)s)::timestamptz, '[)')
        AND lower(s."segment_range") < (%(a)s)::timestamptz AND upper(s."segment_range") > (%(b)s)::timestamptz
    RETURNING "id", "deleted_at", "source", "span_id", "segment_range"
), clipped AS (
    UPDATE "testapp_datetimesegment" SET "segment_range" = CASE WHEN lower("testapp_datetimesegment"."segment_range") < (%(a)s)::timestamptz
        THEN tstzrange(lower("testapp_datetimesegment"."segment_range"), (%(a)s)::timestamptz, '[)') ELSE tstzrange((%(b)s)::timestamptz, upper("testapp_datetimesegment"."segment_range"), '[)') END
    FROM ok WHERE "testapp_datetimesegment"."span_id" = %(span)s AND "testapp_datetimesegment".deleted_at IS NULL
        AND "testapp_datetimesegment"."segment_range" && tstzrange((%(a)s)::timestamptz, (%(b)s)::timestamptz, '[)')
        AND NOT "testapp_datetimesegment"."segment_range" <@ tstzrange((%(a)s)::timestamptz, (%(b)s)::timestamptz, '[)')
), added AS (
    INSERT INTO "testapp_datetimesegment" ("span_id", "segment_range", "source")
    SELECT %(span)s, tstzrange((%(a)s)::timestamptz, (%(b)s)::timestamptz, '[)'), %(new_source)s FROM ok
    RETURNING "id", "deleted_at", "source", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "source", "span_id", "segment_range" FROM added
UNION ALL SELECT 1, "id", "deleted_at", "source", "span_id", "segment_range" FROM cut
UNION ALL SELECT 2, "id", "deleted_at", "source", "span_id", "segment_range" FROM removed;

-- name: split
WITH old AS (
    SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_datetimesegment"
    WHERE "id" = %(segment)s AND deleted_at IS NULL
        AND lower("segment_range") < (%(value)s)::timestamptz AND upper("segment_range") > (%(value)s)::timestamptz
), shrunk AS (
    UPDATE "testapp_datetimesegment" SET "segment_range" = tstzrange(lower("testapp_datetimesegment"."segment_range"), (%(value)s)::timestamptz, '[)') FROM old
    WHERE "testapp_datetimesegment"."id" = old.id
    RETURNING "testapp_datetimesegment"."id", "testapp_datetimesegment"."deleted_at", "testapp_datetimesegment"."source", "testapp_datetimesegment"."span_id", "testapp_datetimesegment"."segment_range"
), added AS (
    INSERT INTO "testapp_datetimesegment" ("span_id", "segment_range", "source")
    SELECT s."span_id", tstzrange((%(value)s)::timestamptz, old.hi, '[)'), s."source" FROM "testapp_datetimesegment" AS s, old
    WHERE s."id" = old.id
    RETURNING "id", "deleted_at", "source", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "source", "span_id", "segment_range" FROM shrunk UNION ALL SELECT 1, "id", "deleted_at", "source", "span_id", "segment_range" FROM added;

-- name: span_segments
SELECT "id", "deleted_at", "source", "span_id", "segment_range" FROM "testapp_datetimesegment" WHERE "span_id" = %(span)s ORDER BY lower("segment_range"), "id";

-- name: split_refused
SELECT "segment_range"::text, deleted_at IS NOT NULL FROM "testapp_datetimesegment" WHERE "id" = %(segment)s;

-- name: merge_into_lower
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_datetimesegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_datetimesegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < lower(me.r)
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS n
), gone AS (
    UPDATE "testapp_datetimesegment" SET deleted_at = now() FROM me, neighbour WHERE "testapp_datetimesegment"."id" = me.id
    RETURNING "testapp_datetimesegment"."id", "testapp_datetimesegment"."deleted_at", "testapp_datetimesegment"."source", "testapp_datetimesegment"."span_id", "testapp_datetimesegment"."segment_range"
), stretched AS (
    UPDATE "testapp_datetimesegment" SET "segment_range" = tstzrange(lower("testapp_datetimesegment"."segment_range"), upper(me.r), '[)') FROM me, neighbour
    WHERE "testapp_datetimesegment"."id" = neighbour.id
    RETURNING "testapp_datetimesegment"."id", "testapp_datetimesegment"."deleted_at", "testapp_datetimesegment"."source", "testapp_datetimesegment"."span_id", "testapp_datetimesegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "source", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "source", "span_id", "segment_range" FROM gone;

-- name: merge_into_upper
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_datetimesegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_datetimesegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > lower(me.r)
        ORDER BY lower("segment_range") ASC LIMIT 1
    ) AS n
), gone AS (
    UPDATE "testapp_datetimesegment" SET deleted_at = now() FROM me, neighbour WHERE "testapp_datetimesegment"."id" = me.id
    RETURNING "testapp_datetimesegment"."id", "testapp_datetimesegment"."deleted_at", "testapp_datetimesegment"."source", "testapp_datetimesegment"."span_id", "testapp_datetimesegment"."segment_range"
), stretched AS (
    UPDATE "testapp_datetimesegment" SET "segment_range" = tstzrange(lower(me.r), upper("testapp_datetimesegment"."segment_range"), '[)') FROM me, neighbour
    WHERE "testapp_datetimesegment"."id" = neighbour.id
    RETURNING "testapp_datetimesegment"."id", "testapp_datetimesegment"."deleted_at", "testapp_datetimesegment"."source", "testapp_datetimesegment"."span_id", "testapp_datetimesegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "source", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "source", "span_id", "segment_range" FROM gone;

-- name: merge_refused
SELECT me.deleted_at IS NOT NULL,
    EXISTS (SELECT 1 FROM "testapp_datetimesegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") < lower(me."segment_range")),
    EXISTS (SELECT 1 FROM "testapp_datetimesegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") > lower(me."segment_range"))
FROM "testapp_datetimesegment" AS me WHERE me."id" = %(segment)s;

-- name: neighbourhood
WITH me AS (
    SELECT "id" AS id, lower("segment_range") AS lo, upper("segment_range") AS hi FROM "testapp_datetimesegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
)
SELECT 0, id, lo, hi FROM me
UNION ALL SELECT -1, p.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_datetimesegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < me.lo
    ORDER BY lower("segment_range") DESC LIMIT 1
) AS p
UNION ALL SELECT 1, n.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_datetimesegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > me.lo
    ORDER BY lower("segment_range") ASC LIMIT 1
) AS n;

-- name: move
UPDATE "testapp_datetimesegment" SET "segment_range" = tstzrange(v.lo, v.hi, '[)')
FROM unnest((%(ids)s)::bigint[], (%(lows)s)::timestamptz[], (%(highs)s)::timestamptz[]) AS v (id, lo, hi)
WHERE "testapp_datetimesegment"."id" = v.id;

-- name: soft_delete_segment
UPDATE "testapp_datetimesegment" SET deleted_at = now() WHERE "id" = %(segment)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: soft_delete_segments
UPDATE "testapp_datetimesegment" SET deleted_at = now() WHERE "span_id" = %(span)s AND deleted_at IS NULL
RETURNING "testapp_datetimesegment"."id", "testapp_datetimesegment"."deleted_at", "testapp_datetimesegment"."source", "testapp_datetimesegment"."span_id", "testapp_datetimesegment"."segment_range";

-- name: soft_delete_span
UPDATE "testapp_datetimespan" SET deleted_at = now() WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: conflicting_segment
SELECT "id" FROM "testapp_datetimesegment"
WHERE "span_id"::text = %(span)s AND "segment_range" = (%(range)s)::tstzrange AND deleted_at IS NULL;

-- ==== testapp.DecimalSegment ====

-- name: lock
SELECT lower(current_range), upper(current_range), deleted_at FROM "testapp_decimalspan"
WHERE "id" = %(span)s FOR NO KEY UPDATE;

-- name: check
SET CONSTRAINTS "testapp_decimalsegment_no_overlap", "pgtrigger_segments_span_upd_decimalsegment_fa5e2", "pgtrigger_segments_span_ins_decimalsegment_34b2c" IMMEDIATE; SET CONSTRAINTS "pgtrigger_segments_span_upd_decimalsegment_fa5e2", "pgtrigger_segments_span_ins_decimalsegment_34b2c" DEFERRED;

-- name: append
WITH old AS (
    SELECT lower(current_range) AS lo, upper(current_range) AS hi FROM "testapp_decimalspan"
    WHERE "id" = %(span)s AND deleted_at IS NULL
), new AS (
    SELECT lo, hi AS start, coalesce((%(to)s)::numeric, hi + (%(delta)s)::numeric) AS stop FROM old
), grown AS (
    UPDATE "testapp_decimalspan" SET current_range = numrange(new.lo, new.stop, '[)') FROM new
    WHERE "testapp_decimalspan"."id" = %(span)s AND new.stop > new.start
)
INSERT INTO "testapp_decimalsegment" ("span_id", "segment_range")
SELECT %(span)s, numrange(new.start, new.stop, '[)') FROM new WHERE new.stop > new.start
RETURNING "id", "deleted_at", "span_id", "segment_range";

-- name: shift_span
UPDATE "testapp_decimalspan"
SET current_range = numrange(lower(current_range) + (%(delta)s)::numeric, upper(current_range) + (%(delta)s)::numeric, '[)')
WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING lower(current_range), upper(current_range);

-- name: shift_segments
UPDATE "testapp_decimalsegment"
SET "segment_range" = numrange(lower("segment_range") + (%(delta)s)::numeric, upper("segment_range") + (%(delta)s)::numeric, '[)')
WHERE "span_id" = %(span)s AND deleted_at IS NULL;

-- name: shift_lower
WITH b AS (
    SELECT coalesce((%(to)s)::numeric, lower(current_range) + (%(delta)s)::numeric) AS new,
        lower(current_range) AS old, upper(current_range) AS hi
    FROM "testapp_decimalspan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, hi FROM b WHERE new < hi
), moved AS (
    UPDATE "testapp_decimalspan" SET current_range = numrange(ok.new, ok.hi, '[)') FROM ok
    WHERE "testapp_decimalspan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    UPDATE "testapp_decimalsegment" SET deleted_at = now() FROM ok WHERE "testapp_decimalsegment"."span_id" = %(span)s AND "testapp_decimalsegment".deleted_at IS NULL
        AND lower("testapp_decimalsegment"."segment_range") < ok.new AND upper("testapp_decimalsegment"."segment_range") <= ok.new
    RETURNING "testapp_decimalsegment"."id", "testapp_decimalsegment"."deleted_at", "testapp_decimalsegment"."span_id", "testapp_decimalsegment"."segment_range"
), straddler AS (
    SELECT s.id FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_decimalsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s WHERE s.hi > ok.new
), clipped AS (
    UPDATE "testapp_decimalsegment" SET "segment_range" = numrange(ok.new, upper("testapp_decimalsegment"."segment_range"), '[)') FROM ok, straddler
    WHERE "testapp_decimalsegment"."id" = straddler.id
), extended AS (
    UPDATE "testapp_decimalsegment" SET "segment_range" = numrange(ok.new, upper("testapp_decimalsegment"."segment_range"), '[)') FROM ok
    WHERE ok.new < ok.old AND "testapp_decimalsegment"."span_id" = %(span)s AND "testapp_decimalsegment".deleted_at IS NULL
        AND lower("testapp_decimalsegment"."segment_range") = ok.old
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: shift_upper
WITH b AS (
    SELECT coalesce((%(to)s)::numeric, upper(current_range) + (%(delta)s)::numeric) AS new,
        upper(current_range) AS old, lower(current_range) AS lo
    FROM "testapp_decimalspan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, lo FROM b WHERE new > lo
), moved AS (
    UPDATE "testapp_decimalspan" SET current_range = numrange(ok.lo, ok.new, '[)') FROM ok
    WHERE "testapp_decimalspan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    UPDATE "testapp_decimalsegment" SET deleted_at = now() FROM ok WHERE "testapp_decimalsegment"."span_id" = %(span)s AND "testapp_decimalsegment".deleted_at IS NULL
        AND lower("testapp_decimalsegment"."segment_range") >= ok.new
    RETURNING "testapp_decimalsegment"."id", "testapp_decimalsegment"."deleted_at", "testapp_decimalsegment"."span_id", "testapp_decimalsegment"."segment_range"
), last AS (
    SELECT s.id, s.hi FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_decimalsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s
), resized AS (
    UPDATE "testapp_decimalsegment" SET "segment_range" = numrange(lower("testapp_decimalsegment"."segment_range"), ok.new, '[)') FROM ok, last
    WHERE "testapp_decimalsegment"."id" = last.id AND ((ok.new < ok.old AND last.hi > ok.new) OR (ok.new > ok.old AND last.hi = ok.old))
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: insert
WITH ok AS (
    SELECT 1 FROM "testapp_decimalspan" WHERE "id" = %(span)s AND deleted_at IS NULL
        AND current_range @> numrange((%(a)s)::numeric, (%(b)s)::numeric, '[)')
), removed AS (
    UPDATE "testapp_decimalsegment" SET deleted_at = now() FROM ok WHERE "testapp_decimalsegment"."span_id" = %(span)s AND "testapp_decimalsegment".deleted_at IS NULL
        AND "testapp_decimalsegment"."segment_range" <@ numrange((%(a)s)::numeric, (%(b)s)::numeric, '[)')
    RETURNING "testapp_decimalsegment"."id", "testapp_decimalsegment"."deleted_at", "testapp_decimalsegment"."span_id", "testapp_decimalsegment"."segment_range"
), cut AS (
    INSERT INTO "testapp_decimalsegment" ("span_id", "segment_range")
    SELECT s."span_id", numrange((%(b)s)::numeric, upper(s."segment_range"), '[)') FROM "testapp_decimalsegment" AS s, ok
    WHERE s."span_id" = %(span)s AND s.deleted_at IS NULL AND s."segment_range" @> numrange((%(a)s)::numeric, (%(b)s)::numeric, '[)')
        AND lower(s."segment_range") < (%(a)s)::numeric AND upper(s."segment_range") > (%(b)s)::numeric
    RETURNING "id", "deleted_at", "span_id", "segment_range"
), clipped AS (
    UPDATE "testapp_decimalsegment" SET "segment_range" = CASE WHEN lower("testapp_decimalsegment"."segment_range") < (%(a)s)::numeric
        THEN numrange(lower("testapp_decimalsegment"."segment_range"), (%(a)s)::numeric, '[)') ELSE numrange((%(b)s)::numeric, upper("testapp_decimalsegment"."segment_range"), '[)') END
    FROM ok WHERE "testapp_decimalsegment"."span_id" = %(span)s AND "testapp_decimalsegment".deleted_at IS NULL
        AND "testapp_decimalsegment"."segment_range" && numrange((%(a)s)::numeric, (%(b)s)::numeric, '[)')
        AND NOT "testapp_decimalsegment"."segment_range" <@ numrange((%(a)s)::numeric, (%(b)s)::numeric, '[)')
), added AS (
    INSERT INTO "testapp_decimalsegment" ("span_id", "segment_range")
    SELECT %(span)s, numrange((%(a)s)::numeric, (%(b)s)::numeric, '[)') FROM ok
    RETURNING "id", "deleted_at", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "span_id", "segment_range" FROM added
UNION ALL SELECT 1, "id", "deleted_at", "span_id", "segment_range" FROM cut
UNION ALL SELECT 2, "id", "deleted_at", "span_id", "segment_range" FROM removed;

-- name: split
WITH old AS (
    SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_decimalsegment"
    WHERE "id" = %(segment)s AND deleted_at IS NULL
        AND lower("segment_range") < (%(value)s)::numeric AND upper("segment_range") > (%(value)s)::numeric
), shrunk AS (
    UPDATE "testapp_decimalsegment" SET "segment_range" = numrange(lower("testapp_decimalsegment"."segment_range"), (%(value)s)::numeric, '[)') FROM old
    WHERE "testapp_decimalsegment"."id" = old.id
    RETURNING "testapp_decimalsegment"."id", "testapp_decimalsegment"."deleted_at", "testapp_decimalsegment"."span_id", "testapp_decimalsegment"."segment_range"
), added AS (
    INSERT INTO "testapp_decimalsegment" ("span_id", "segment_range")
    SELECT s."span_id", numrange((%(value)s)::numeric, old.hi, '[)') FROM "testapp_decimalsegment" AS s, old
    WHERE s."id" = old.id
    RETURNING "id", "deleted_at", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "span_id", "segment_range" FROM shrunk UNION ALL SELECT 1, "id", "deleted_at", "span_id", "segment_range" FROM added;

-- name: span_segments
SELECT "id", "deleted_at", "span_id", "segment_range" FROM "testapp_decimalsegment" WHERE "span_id" = %(span)s ORDER BY lower("segment_range"), "id";

-- name: split_refused
SELECT "segment_range"::text, deleted_at IS NOT NULL FROM "testapp_decimalsegment" WHERE "id" = %(segment)s;

-- name: merge_into_lower
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_decimalsegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_decimalsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < lower(me.r)
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS n
), gone AS (
    UPDATE "testapp_decimalsegment" SET deleted_at = now() FROM me, neighbour WHERE "testapp_decimalsegment"."id" = me.id
    RETURNING "testapp_decimalsegment"."id", "testapp_decimalsegment"."deleted_at", "testapp_decimalsegment"."span_id", "testapp_decimalsegment"."segment_range"
), stretched AS (
    UPDATE "testapp_decimalsegment" SET "segment_range" = numrange(lower("testapp_decimalsegment"."segment_range"), upper(me.r), '[)') FROM me, neighbour
    WHERE "testapp_decimalsegment"."id" = neighbour.id
    RETURNING "testapp_decimalsegment"."id", "testapp_decimalsegment"."deleted_at", "testapp_decimalsegment"."span_id", "testapp_decimalsegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "span_id", "segment_range" FROM gone;

-- name: merge_into_upper
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_decimalsegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_decimalsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > lower(me.r)
        ORDER BY lower("segment_range") ASC LIMIT 1
    ) AS n
), gone AS (
    UPDATE "testapp_decimalsegment" SET deleted_at = now() FROM me, neighbour WHERE "testapp_decimalsegment"."id" = me.id
    RETURNING "testapp_decimalsegment"."id", "testapp_decimalsegment"."deleted_at", "testapp_decimalsegment"."span_id", "testapp_decimalsegment"."segment_range"
), stretched AS (
    UPDATE "testapp_decimalsegment" SET "segment_range" = numrange(lower(me.r), upper("testapp_decimalsegment"."segment_range"), '[)') FROM me, neighbour
    WHERE "testapp_decimalsegment"."id" = neighbour.id
    RETURNING "testapp_decimalsegment"."id", "testapp_decimalsegment"."deleted_at", "testapp_decimalsegment"."span_id", "testapp_decimalsegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "span_id", "segment_range" FROM gone;

-- name: merge_refused
SELECT me.deleted_at IS NOT NULL,
    EXISTS (SELECT 1 FROM "testapp_decimalsegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") < lower(me."segment_range")),
    EXISTS (SELECT 1 FROM "testapp_decimalsegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") > lower(me."segment_range"))
FROM "testapp_decimalsegment" AS me WHERE me."id" = %(segment)s;

-- name: neighbourhood
WITH me AS (
    SELECT "id" AS id, lower("segment_range") AS lo, upper("segment_range") AS hi FROM "testapp_decimalsegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
)
SELECT 0, id, lo, hi FROM me
UNION ALL SELECT -1, p.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_decimalsegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < me.lo
    ORDER BY lower("segment_range") DESC LIMIT 1
) AS p
UNION ALL SELECT 1, n.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_decimalsegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > me.lo
    ORDER BY lower("segment_range") ASC LIMIT 1
) AS n;

-- name: move
UPDATE "testapp_decimalsegment" SET "segment_range" = numrange(v.lo, v.hi, '[)')
FROM unnest((%(ids)s)::bigint[], (%(lows)s)::numeric[], (%(highs)s)::numeric[]) AS v (id, lo, hi)
WHERE "testapp_decimalsegment"."id" = v.id;

-- name: soft_delete_segment
UPDATE "testapp_decimalsegment" SET deleted_at = now() WHERE "id" = %(segment)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: soft_delete_segments
UPDATE "testapp_decimalsegment" SET deleted_at = now() WHERE "span_id" = %(span)s AND deleted_at IS NULL
RETURNING "testapp_decimalsegment"."id", "testapp_decimalsegment"."deleted_at", "testapp_decimalsegment"."span_id", "testapp_decimalsegment"."segment_range";

-- name: soft_delete_span
UPDATE "testapp_decimalspan" SET deleted_at = now() WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: conflicting_segment
SELECT "id" FROM "testapp_decimalsegment"
WHERE "span_id"::text = %(span)s AND "segment_range" = (%(range)s)::numrange AND deleted_at IS NULL;

-- ==== testapp.IntSegment ====

-- name: lock
SELECT lower(current_range), upper(current_range), deleted_at FROM "testapp_intspan"
WHERE "id" = %(span)s FOR NO KEY UPDATE;

-- name: check
SET CONSTRAINTS "testapp_intsegment_no_overlap", "pgtrigger_segments_span_upd_intsegment_a8cc2", "pgtrigger_segments_span_ins_intsegment_97d81" IMMEDIATE; SET CONSTRAINTS "pgtrigger_segments_span_upd_intsegment_a8cc2", "pgtrigger_segments_span_ins_intsegment_97d81" DEFERRED;

-- name: append
WITH old AS (
    SELECT lower(current_range) AS lo, upper(current_range) AS hi FROM "testapp_intspan"
    WHERE "id" = %(span)s AND deleted_at IS NULL
), new AS (
    SELECT lo, hi AS start, coalesce((%(to)s)::int4, hi + (%(delta)s)::int4) AS stop FROM old
), grown AS (
    UPDATE "testapp_intspan" SET current_range = int4range(new.lo, new.stop, '[)') FROM new
    WHERE "testapp_intspan"."id" = %(span)s AND new.stop > new.start
)
INSERT INTO "testapp_intsegment" ("span_id", "segment_range", "label", "weight")
SELECT %(span)s, int4range(new.start, new.stop, '[)'), %(new_label)s, %(new_weight)s FROM new WHERE new.stop > new.start
RETURNING "id", "deleted_at", "label", "weight", "span_id", "segment_range";

-- name: shift_span
UPDATE "testapp_intspan"
SET current_range = int4range(lower(current_range) + (%(delta)s)::int4, upper(current_range) + (%(delta)s)::int4, '[)')
WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING lower(current_range), upper(current_range);

-- name: shift_segments
UPDATE "testapp_intsegment"
SET "segment_range" = int4range(lower("segment_range") + (%(delta)s)::int4, upper("segment_range") + (%(delta)s)::int4, '[)')
WHERE "span_id" = %(span)s AND deleted_at IS NULL;

-- name: shift_lower
WITH b AS (
    SELECT coalesce((%(to)s)::int4, lower(current_range) + (%(delta)s)::int4) AS new,
        lower(current_range) AS old, upper(current_range) AS hi
    FROM "testapp_intspan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, hi FROM b WHERE new < hi
), moved AS (
    UPDATE "testapp_intspan" SET current_range = int4range(ok.new, ok.hi, '[)') FROM ok
    WHERE "testapp_intspan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    UPDATE "testapp_intsegment" SET deleted_at = now() FROM ok WHERE "testapp_intsegment"."span_id" = %(span)s AND "testapp_intsegment".deleted_at IS NULL
        AND lower("testapp_intsegment"."segment_range") < ok.new AND upper("testapp_intsegment"."segment_range") <= ok.new
    RETURNING "testapp_intsegment"."id", "testapp_intsegment"."deleted_at", "testapp_intsegment"."label", "testapp_intsegment"."weight", "testapp_intsegment"."span_id", "testapp_intsegment"."segment_range"
), straddler AS (
    SELECT s.id FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_intsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s WHERE s.hi > ok.new
), clipped AS (
    UPDATE "testapp_intsegment" SET "segment_range" = int4range(ok.new, upper("testapp_intsegment"."segment_range"), '[)') FROM ok, straddler
    WHERE "testapp_intsegment"."id" = straddler.id
), extended AS (
    UPDATE "testapp_intsegment" SET "segment_range" = int4range(ok.new, upper("testapp_intsegment"."segment_range"), '[)') FROM ok
    WHERE ok.new < ok.old AND "testapp_intsegment"."span_id" = %(span)s AND "testapp_intsegment".deleted_at IS NULL
        AND lower("testapp_intsegment"."segment_range") = ok.old
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: shift_upper
WITH b AS (
    SELECT coalesce((%(to)s)::int4, upper(current_range) + (%(delta)s)::int4) AS new,
        upper(current_range) AS old, lower(current_range) AS lo
    FROM "testapp_intspan" WHERE "id" = %(span)s AND deleted_at IS NULL
), ok AS (
    SELECT new, old, lo FROM b WHERE new > lo
), moved AS (
    UPDATE "testapp_intspan" SET current_range = int4range(ok.lo, ok.new, '[)') FROM ok
    WHERE "testapp_intspan"."id" = %(span)s
    RETURNING lower(current_range) AS span_lower, upper(current_range) AS span_upper
), removed AS (
    UPDATE "testapp_intsegment" SET deleted_at = now() FROM ok WHERE "testapp_intsegment"."span_id" = %(span)s AND "testapp_intsegment".deleted_at IS NULL
        AND lower("testapp_intsegment"."segment_range") >= ok.new
    RETURNING "testapp_intsegment"."id", "testapp_intsegment"."deleted_at", "testapp_intsegment"."label", "testapp_intsegment"."weight", "testapp_intsegment"."span_id", "testapp_intsegment"."segment_range"
), last AS (
    SELECT s.id, s.hi FROM ok, LATERAL (
        SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_intsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < ok.new
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS s
), resized AS (
    UPDATE "testapp_intsegment" SET "segment_range" = int4range(lower("testapp_intsegment"."segment_range"), ok.new, '[)') FROM ok, last
    WHERE "testapp_intsegment"."id" = last.id AND ((ok.new < ok.old AND last.hi > ok.new) OR (ok.new > ok.old AND last.hi = ok.old))
)
SELECT moved.span_lower, moved.span_upper, removed.* FROM moved LEFT JOIN removed ON true;

-- name: insert
WITH ok AS (
    SELECT 1 FROM "testapp_intspan" WHERE "id" = %(span)s AND deleted_at IS NULL
        AND current_range @> int4range((%(a)s)::int4, (%(b)s)::int4, '[)')
), removed AS (
    UPDATE "testapp_intsegment" SET deleted_at = now() FROM ok WHERE "testapp_intsegment"."span_id" = %(span)s AND "testapp_intsegment".deleted_at IS NULL
        AND "testapp_intsegment"."segment_range" <@ int4range((%(a)s)::int4, (%(b)s)::int4, '[)')
    RETURNING "testapp_intsegment"."id", "testapp_intsegment"."deleted_at", "testapp_intsegment"."label", "testapp_intsegment"."weight", "testapp_intsegment"."span_id", "testapp_intsegment"."segment_range"
), cut AS (
    INSERT INTO "testapp_intsegment" ("span_id", "segment_range", "label", "weight")
    SELECT s."span_id", int4range((%(b)s)::int4, upper(s."segment_range"), '[)'), s."label", s."weight" FROM "testapp_intsegment" AS s, ok
    WHERE s."span_id" = %(span)s AND s.deleted_at IS NULL AND s."segment_range" @> int4range((%(a)s)::int4, (%(b)s)::int4, '[)')
        AND lower(s."segment_range") < (%(a)s)::int4 AND upper(s."segment_range") > (%(b)s)::int4
    RETURNING "id", "deleted_at", "label", "weight", "span_id", "segment_range"
), clipped AS (
    UPDATE "testapp_intsegment" SET "segment_range" = CASE WHEN lower("testapp_intsegment"."segment_range") < (%(a)s)::int4
        THEN int4range(lower("testapp_intsegment"."segment_range"), (%(a)s)::int4, '[)') ELSE int4range((%(b)s)::int4, upper("testapp_intsegment"."segment_range"), '[)') END
    FROM ok WHERE "testapp_intsegment"."span_id" = %(span)s AND "testapp_intsegment".deleted_at IS NULL
        AND "testapp_intsegment"."segment_range" && int4range((%(a)s)::int4, (%(b)s)::int4, '[)')
        AND NOT "testapp_intsegment"."segment_range" <@ int4range((%(a)s)::int4, (%(b)s)::int4, '[)')
), added AS (
    INSERT INTO "testapp_intsegment" ("span_id", "segment_range", "label", "weight")
    SELECT %(span)s, int4range((%(a)s)::int4, (%(b)s)::int4, '[)'), %(new_label)s, %(new_weight)s FROM ok
    RETURNING "id", "deleted_at", "label", "weight", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM added
UNION ALL SELECT 1, "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM cut
UNION ALL SELECT 2, "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM removed;

-- name: split
WITH old AS (
    SELECT "id" AS id, upper("segment_range") AS hi FROM "testapp_intsegment"
    WHERE "id" = %(segment)s AND deleted_at IS NULL
        AND lower("segment_range") < (%(value)s)::int4 AND upper("segment_range") > (%(value)s)::int4
), shrunk AS (
    UPDATE "testapp_intsegment" SET "segment_range" = int4range(lower("testapp_intsegment"."segment_range"), (%(value)s)::int4, '[)') FROM old
    WHERE "testapp_intsegment"."id" = old.id
    RETURNING "testapp_intsegment"."id", "testapp_intsegment"."deleted_at", "testapp_intsegment"."label", "testapp_intsegment"."weight", "testapp_intsegment"."span_id", "testapp_intsegment"."segment_range"
), added AS (
    INSERT INTO "testapp_intsegment" ("span_id", "segment_range", "label", "weight")
    SELECT s."span_id", int4range((%(value)s)::int4, old.hi, '[)'), s."label", s."weight" FROM "testapp_intsegment" AS s, old
    WHERE s."id" = old.id
    RETURNING "id", "deleted_at", "label", "weight", "span_id", "segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM shrunk UNION ALL SELECT 1, "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM added;

-- name: span_segments
SELECT "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM "testapp_intsegment" WHERE "span_id" = %(span)s ORDER BY lower("segment_range"), "id";

-- name: split_refused
SELECT "segment_range"::text, deleted_at IS NOT NULL FROM "testapp_intsegment" WHERE "id" = %(segment)s;

-- name: merge_into_lower
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_intsegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_intsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < lower(me.r)
        ORDER BY lower("segment_range") DESC LIMIT 1
    ) AS n
), gone AS (
    UPDATE "testapp_intsegment" SET deleted_at = now() FROM me, neighbour WHERE "testapp_intsegment"."id" = me.id
    RETURNING "testapp_intsegment"."id", "testapp_intsegment"."deleted_at", "testapp_intsegment"."label", "testapp_intsegment"."weight", "testapp_intsegment"."span_id", "testapp_intsegment"."segment_range"
), stretched AS (
    UPDATE "testapp_intsegment" SET "segment_range" = int4range(lower("testapp_intsegment"."segment_range"), upper(me.r), '[)') FROM me, neighbour
    WHERE "testapp_intsegment"."id" = neighbour.id
    RETURNING "testapp_intsegment"."id", "testapp_intsegment"."deleted_at", "testapp_intsegment"."label", "testapp_intsegment"."weight", "testapp_intsegment"."span_id", "testapp_intsegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM gone;

-- name: merge_into_upper
WITH me AS (
    SELECT "id" AS id, "segment_range" AS r FROM "testapp_intsegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
), neighbour AS (
    SELECT n.id FROM me, LATERAL (
        SELECT "id" AS id FROM "testapp_intsegment"
        WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > lower(me.r)
        ORDER BY lower("segment_range") ASC LIMIT 1
    ) AS n
), gone AS (
    UPDATE "testapp_intsegment" SET deleted_at = now() FROM me, neighbour WHERE "testapp_intsegment"."id" = me.id
    RETURNING "testapp_intsegment"."id", "testapp_intsegment"."deleted_at", "testapp_intsegment"."label", "testapp_intsegment"."weight", "testapp_intsegment"."span_id", "testapp_intsegment"."segment_range"
), stretched AS (
    UPDATE "testapp_intsegment" SET "segment_range" = int4range(lower(me.r), upper("testapp_intsegment"."segment_range"), '[)') FROM me, neighbour
    WHERE "testapp_intsegment"."id" = neighbour.id
    RETURNING "testapp_intsegment"."id", "testapp_intsegment"."deleted_at", "testapp_intsegment"."label", "testapp_intsegment"."weight", "testapp_intsegment"."span_id", "testapp_intsegment"."segment_range"
)
SELECT 0 AS part, "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM stretched UNION ALL SELECT 1, "id", "deleted_at", "label", "weight", "span_id", "segment_range" FROM gone;

-- name: merge_refused
SELECT me.deleted_at IS NOT NULL,
    EXISTS (SELECT 1 FROM "testapp_intsegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") < lower(me."segment_range")),
    EXISTS (SELECT 1 FROM "testapp_intsegment" AS s WHERE s."span_id" = me."span_id" AND s.deleted_at IS NULL
        AND lower(s."segment_range") > lower(me."segment_range"))
FROM "testapp_intsegment" AS me WHERE me."id" = %(segment)s;

-- name: neighbourhood
WITH me AS (
    SELECT "id" AS id, lower("segment_range") AS lo, upper("segment_range") AS hi FROM "testapp_intsegment"
    WHERE "id" = %(segment)s AND "span_id" = %(span)s AND deleted_at IS NULL
)
SELECT 0, id, lo, hi FROM me
UNION ALL SELECT -1, p.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_intsegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") < me.lo
    ORDER BY lower("segment_range") DESC LIMIT 1
) AS p
UNION ALL SELECT 1, n.* FROM me, LATERAL (
    SELECT "id", lower("segment_range"), upper("segment_range") FROM "testapp_intsegment"
    WHERE "span_id" = %(span)s AND deleted_at IS NULL AND lower("segment_range") > me.lo
    ORDER BY lower("segment_range") ASC LIMIT 1
) AS n;

-- name: move
UPDATE "testapp_intsegment" SET "segment_range" = int4range(v.lo, v.hi, '[)')
FROM unnest((%(ids)s)::bigint[], (%(lows)s)::int4[], (%(highs)s)::int4[]) AS v (id, lo, hi)
WHERE "testapp_intsegment"."id" = v.id;

-- name: soft_delete_segment
UPDATE "testapp_intsegment" SET deleted_at = now() WHERE "id" = %(segment)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: soft_delete_segments
UPDATE "testapp_intsegment" SET deleted_at = now() WHERE "span_id" = %(span)s AND deleted_at IS NULL
RETURNING "testapp_intsegment"."id", "testapp_intsegment"."deleted_at", "testapp_intsegment"."label", "testapp_intsegment"."weight", "testapp_intsegment"."span_id", "testapp_intsegment"."segment_range";

-- name: soft_delete_span
UPDATE "testapp_intspan" SET deleted_at = now() WHERE "id" = %(span)s AND deleted_at IS NULL
RETURNING deleted_at;

-- name: conflicting_segment
SELECT "id" FROM "testapp_intsegment"
WHERE "span_id"::text = %(span)s AND "segment_range" = (%(range)s)::int4range AND deleted_at IS NULL;
