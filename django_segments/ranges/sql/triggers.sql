-- The bodies of the triggers that enforce span invariants, one `-- name:` section each,
-- rendered per concrete segment model by `ranges/compiler.py` (see `ranges/ddl.py` for
-- how they work together). django-pgtrigger wraps each body into its function.

-- name: changed_insert
SELECT {fk}, {rng} FROM new_rows

-- name: changed_delete
SELECT {fk}, {rng} FROM old_rows

-- name: changed_update
-- Only rows whose span, range or deletion changed (a transition table cannot be combined
-- with UPDATE OF columns): both versions, so the region holds where a row was and is.
SELECT {fk}, {rng} FROM (
    SELECT {seg_pk}, {fk}, {rng}, deleted_at FROM old_rows
    EXCEPT ALL SELECT {seg_pk}, {fk}, {rng}, deleted_at FROM new_rows
) AS o
UNION ALL SELECT {fk}, {rng} FROM (
    SELECT {seg_pk}, {fk}, {rng}, deleted_at FROM new_rows
    EXCEPT ALL SELECT {seg_pk}, {fk}, {rng}, deleted_at FROM old_rows
) AS n

-- name: touch
UPDATE {span} SET {revision} = {revision} + 1 WHERE {span_pk} IN (SELECT {fk} FROM ({changed}) AS c);
RETURN NULL;

-- name: touch_with_region
-- The touch also records the ranges the statement wrote, merged, on the span row: the
-- span's deferred check looks for gaps around them only.
UPDATE {span} SET {revision} = {revision} + 1, {region} = ARRAY(SELECT unnest(c.region))
FROM (SELECT {fk} AS id, range_agg({rng}) AS region FROM ({changed}) AS w GROUP BY {fk}) AS c
WHERE {span}.{span_pk} = c.id;
RETURN NULL;

-- name: seed_region
-- A new span's region: the ranges of its segments written earlier in the transaction
-- (its foreign key is deferred), when no span row was there for their touch. Computed
-- here, whatever the INSERT gave the column.
NEW.{region} := ARRAY(SELECT unnest(range_agg({rng})) FROM {seg} WHERE {fk} = NEW.{span_pk} AND deleted_at IS NULL);
RETURN NEW;

-- name: check_span
_sid := NEW.{span_pk};
-- NOTE - no lock here: every check is queued by this transaction's own write of the span
-- row (a touch, an update or the insert), which holds the row until commit. A concurrent
-- writer of the span waits at its touch, and one whose snapshot is older (REPEATABLE READ,
-- SERIALIZABLE) fails there to serialize.
SELECT current_range, deleted_at, {revision} INTO _span_range, _span_deleted, _revision
FROM {span} WHERE {span_pk} = _sid;
-- No row: the span was deleted later in this transaction (with its segments, or the
-- deferred foreign key refuses the commit).
IF NOT FOUND THEN RETURN NULL; END IF;
{gaps}
-- Containment and the span's ends hold or not for the span as it is now: a later change of
-- its range, deletion or segments queued an event of its own, which runs in this firing too
-- (or ran in an earlier one, with nothing written since) and checks them: one check per
-- span. They are checked before a gap is reported too (a segment outside the span is
-- reported as such, not as the gap it leaves).
IF _gap IS NOT NULL OR (_span_range, _span_deleted, _revision) IS NOT DISTINCT FROM (NEW.current_range, NEW.deleted_at, NEW.{revision}) THEN
    SELECT {rng} INTO _first FROM {seg} WHERE {fk} = _sid AND deleted_at IS NULL ORDER BY lower({rng}) ASC LIMIT 1;
    SELECT {rng} INTO _last FROM {seg} WHERE {fk} = _sid AND deleted_at IS NULL ORDER BY lower({rng}) DESC LIMIT 1;
    {containment}
    {tiling}
END IF;
{gap_raise}
RETURN NULL;

-- name: containment
IF _span_deleted IS NOT NULL AND _first IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '23514', CONSTRAINT = '{containment_name}',
        MESSAGE = format('span %s is deleted but still has active segments', _sid);
END IF;
IF _first IS NOT NULL AND NOT (_first <@ _span_range AND _last <@ _span_range) THEN
    SELECT {seg_pk}::text, {rng} INTO _bad_id, _bad_range FROM {seg}
    WHERE {fk} = _sid AND deleted_at IS NULL AND NOT {rng} <@ _span_range ORDER BY lower({rng}) LIMIT 1;
    RAISE EXCEPTION USING ERRCODE = '23514', CONSTRAINT = '{containment_name}',
        MESSAGE = format('segment %s of span %s has range %s outside the span range %s', _bad_id, _sid, _bad_range, _span_range);
END IF;

-- name: tiling
IF _span_deleted IS NULL AND (_first IS NULL OR lower(_first) <> lower(_span_range) OR upper(_last) <> upper(_span_range)) THEN
    RAISE EXCEPTION USING ERRCODE = '23514', CONSTRAINT = '{tiling_name}',
        MESSAGE = format('segments of span %s must cover its whole range %s (span gaps are not allowed); they run from %s to %s',
            _sid, _span_range, coalesce(lower(_first)::text, 'nothing'), coalesce(upper(_last)::text, 'nothing'));
END IF;

-- name: gaps
-- Gaps can only open where segments were written: each event looks at the ranges its
-- statement wrote (the region its touch recorded; a new span's, the ranges of segments
-- written before it), with the active segment before and the one after each part of it,
-- through the navigation index.
IF TG_OP = 'INSERT' OR OLD.{revision} IS DISTINCT FROM NEW.{revision} THEN
    FOREACH _changed IN ARRAY coalesce(NEW.{region}, ARRAY[]::{range}[]) LOOP
        SELECT {range}(w.prev_upper, w.lo, '[)') INTO _gap FROM (
            SELECT lower({rng}) AS lo, lag(upper({rng})) OVER (ORDER BY lower({rng})) AS prev_upper
            FROM {seg} WHERE {fk} = _sid AND deleted_at IS NULL
                AND lower({rng}) >= coalesce((SELECT lower({rng}) FROM {seg} WHERE {fk} = _sid AND deleted_at IS NULL
                    AND lower({rng}) < lower(_changed) ORDER BY lower({rng}) DESC LIMIT 1), lower(_changed))
                AND lower({rng}) <= coalesce((SELECT lower({rng}) FROM {seg} WHERE {fk} = _sid AND deleted_at IS NULL
                    AND lower({rng}) >= upper(_changed) ORDER BY lower({rng}) ASC LIMIT 1), upper(_changed))
        ) AS w WHERE w.prev_upper < w.lo ORDER BY w.lo LIMIT 1;
        EXIT WHEN _gap IS NOT NULL;
    END LOOP;
END IF;

-- name: gap_raise
IF _gap IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '23514', CONSTRAINT = '{gaps_name}',
        MESSAGE = format('segments of span %s leave the gap %s (segment gaps are not allowed)', _sid, _gap);
END IF;

-- name: truncate_guard
SELECT {span_pk}::text INTO _left FROM {span} WHERE deleted_at IS NULL ORDER BY {span_pk} LIMIT 1;
IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '23514', CONSTRAINT = '{tiling_name}',
        MESSAGE = format('TRUNCATE of %s would leave active span %s without segments (span gaps are not allowed); truncate the span table too, or delete the spans first', TG_TABLE_NAME, _left);
END IF;
RETURN NULL;
