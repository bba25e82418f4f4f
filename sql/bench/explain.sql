-- Plans of the read paths, hand-written equivalents of the ORM's queries.

-- name: is_member
-- segment.has_member(member) / member.is_member(segment)
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF)
SELECT 1 FROM django_segments_current_membership
WHERE segment_id = %(segment_id)s AND member_id = %(member_id)s
LIMIT 1;

-- name: member_segments
-- member.segments: every current segment of one member, in display order
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF)
SELECT s.id, s.name, s.slug, s.priority
FROM django_segments_usersegment AS s
WHERE s.id IN (
    SELECT c.segment_id FROM django_segments_current_membership AS c
    WHERE c.member_id = %(member_id)s
)
ORDER BY s.priority, s.name, s.id;
