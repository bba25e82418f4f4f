-- Conditions benchmark: users for the condition classes of tests/conditions_defs.py.

-- name: users
-- Users 1..count: three e-mail domains, 2% staff, usernames of 5 to 10 characters,
-- joined on one of 2,000 days from 2019-01-01.
TRUNCATE auth_user RESTART IDENTITY CASCADE;
INSERT INTO auth_user (
    password, last_login, is_superuser, username, first_name, last_name, email,
    is_staff, is_active, date_joined
)
SELECT '', NULL, false, 'user' || i, '', '', 'user' || i || '@'
       || (ARRAY['gmail.com', 'example.org', 'mail.net'])[1 + i %% 3],
       i %% 50 = 0, true, timestamptz '2019-01-01 00:00+00' + (i %% 2000) * interval '1 day'
FROM generate_series(1, %(count)s) AS i;

-- name: profiles
-- Users 1..count, 9 in 10 with a profile (the others are missing related rows); scores
-- 0.00 to 999.99 (numeric, 1 in 20 NULL) and a last-seen instant within 2024 (1 in 20
-- NULL); both columns have a b-tree index (tests/condapp's migrations).
TRUNCATE auth_user RESTART IDENTITY CASCADE;
INSERT INTO auth_user (
    password, last_login, is_superuser, username, first_name, last_name, email,
    is_staff, is_active, date_joined
)
SELECT '', NULL, false, 'user' || i, '', '', 'user' || i || '@example.org',
       false, true, timestamptz '2019-01-01 00:00+00'
FROM generate_series(1, %(count)s) AS i;
INSERT INTO condapp_profile (user_id, score, ratio, nick, seen_at)
SELECT i,
       CASE WHEN i %% 20 = 7 THEN NULL ELSE ((i::bigint * 7919) %% 100000) / 100.0 END,
       NULL, NULL,
       CASE WHEN i %% 20 = 11 THEN NULL
            ELSE timestamptz '2024-01-01 00:00+00' + ((i::bigint * 104729) %% 525600) * interval '1 minute' END
FROM generate_series(1, %(count)s) AS i
WHERE i %% 10 <> 3;

-- name: hand_not_score
-- NOT PSCORE < 990, written by hand (the ids; the bench counts them).
SELECT u.id FROM auth_user u JOIN condapp_profile p ON p.user_id = u.id
WHERE p.score >= %(score)s;

-- name: hand_not_any
-- {"NOT": {"any": ["PSCORE < 990", "PSEEN <= <seen>"]}}, written by hand.
SELECT u.id FROM auth_user u JOIN condapp_profile p ON p.user_id = u.id
WHERE p.score >= %(score)s AND p.seen_at > %(seen)s;

-- name: hand_any
-- {"any": ["PSCORE >= 999", "NOT PSEEN <= <late>"]}, written by hand.
SELECT u.id FROM auth_user u JOIN condapp_profile p ON p.user_id = u.id
WHERE p.score >= %(high)s OR p.seen_at > %(late)s;

-- name: hand_not_equal
-- PSCORE != 500, written by hand.
SELECT u.id FROM auth_user u JOIN condapp_profile p ON p.user_id = u.id
WHERE p.score <> %(middle)s;
