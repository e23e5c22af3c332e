-- send-message: rendered by test/unit/sql-statements.test.ts; do not edit.
-- The body: migrations/0016_send_message_in_steps.ts
    SELECT * FROM trainer_chat_send_message($1::text, $2::uuid, $3::text, $4::text,
      $5::uuid, $6::text, $7::int, $8::int,
      $9::uuid,
      $10::float8, $11::float8);
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "11111111-1111-4111-8111-111111111111"
--   $3 = "client-1"
--   $4 = "hello"
--   $5 = null
--   $6 = null
--   $7 = null
--   $8 = 86400
--   $9 = null
--   $10 = 20
--   $11 = 1
