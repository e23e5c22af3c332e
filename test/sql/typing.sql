-- typing: rendered by test/unit/sql-statements.test.ts; do not edit.
SELECT * FROM trainer_chat_typing($1::text, $2::uuid, $3::float8, $4::float8);
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "11111111-1111-4111-8111-111111111111"
--   $3 = 5
--   $4 = 2
