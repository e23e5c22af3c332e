-- connect: rendered by test/unit/sql-statements.test.ts; do not edit.
SELECT * FROM trainer_chat_connect($1::text, $2::text, $3::text,
          $4::text, $5::text, $6::timestamptz,
          $7::int, $8::int, $9::int);
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "sub-1"
--   $3 = "user1@example.com"
--   $4 = "User One"
--   $5 = "user"
--   $6 = "2026-12-01T11:00:00.000Z"
--   $7 = 10
--   $8 = 7200
--   $9 = 5
