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
