-- join-conversation-after-seq: rendered by test/unit/sql-statements.test.ts; do not edit.
SELECT * FROM trainer_chat_join_conversation($1::text, $2::uuid, $3::int, $4::int,
          $5::float8, $6::float8,
          $7::int, $8::int, $9::int);
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "11111111-1111-4111-8111-111111111111"
--   $3 = 50
--   $4 = 7
--   $5 = 60
--   $6 = 2
--   $7 = 98304
--   $8 = 4096
--   $9 = 8
