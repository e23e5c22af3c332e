-- delete-message: rendered by test/unit/sql-statements.test.ts; do not edit.
SELECT * FROM trainer_chat_delete_message($1::text, $2::uuid, $3::uuid);
-- parameters:
--   $1 = "conn-AbC123="
--   $2 = "11111111-1111-4111-8111-111111111111"
--   $3 = "22222222-2222-4222-8222-222222222222"
