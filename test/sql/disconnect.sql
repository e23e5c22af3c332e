-- disconnect: rendered by test/unit/sql-statements.test.ts; do not edit.
SELECT * FROM trainer_chat_forget_connections($1::text[], $2::boolean,
      $3::int, $4::int);
-- parameters:
--   $1 = ["conn-AbC123="]
--   $2 = false
--   $3 = 30
--   $4 = 7200
