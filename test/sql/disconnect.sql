-- disconnect: rendered by test/unit/sql-statements.test.ts; do not edit.
WITH gone AS (
      DELETE FROM connections WHERE connection_id = ANY ($1::text[])
      RETURNING user_id, joined_conversation_ids
    ),
    remaining AS (
      SELECT k.user_id, k.joined_conversation_ids FROM connections k
      WHERE k.user_id IN (SELECT user_id FROM gone) AND NOT (k.connection_id = ANY ($2::text[])) AND ("k".expires_at > now() AND "k".connected_at > now() - $3::int * interval '1 second')
    ),
    went_offline AS (
      INSERT INTO user_presence (user_id, last_seen_at)
      SELECT DISTINCT g.user_id, now() FROM gone g WHERE g.user_id NOT IN (SELECT user_id FROM remaining)
      ON CONFLICT (user_id) DO UPDATE SET last_seen_at = excluded.last_seen_at
      RETURNING user_id, last_seen_at
    ),
    left_conversations AS (
      SELECT DISTINCT g.user_id, j.conversation_id
      FROM gone g CROSS JOIN LATERAL unnest(g.joined_conversation_ids) AS j (conversation_id)
      WHERE NOT EXISTS (
        SELECT 1 FROM remaining r WHERE r.user_id = g.user_id AND j.conversation_id = ANY (r.joined_conversation_ids))
    )
    SELECT
      (SELECT coalesce(json_agg(json_build_object(
          'userId', u.id, 'lastSeenAt', o.last_seen_at, 'audiences', (
    SELECT coalesce(json_agg(json_build_object('conversationId', cv.id, 'connectionIds', other.ids)), '[]'::json)
    FROM conversations cv
    CROSS JOIN LATERAL (
      SELECT array_agg(k.connection_id ORDER BY k.connection_id) AS ids FROM connections k
      WHERE k.user_id = CASE WHEN cv.member_id = "u".id THEN cv.trainer_id ELSE cv.member_id END
        AND ("k".expires_at > now() AND "k".connected_at > now() - $4::int * interval '1 second') AND NOT (k.connection_id = ANY ($5::text[]))
    ) other
    WHERE other.ids IS NOT NULL AND (
      ("u".role = 'user' AND cv.member_id = "u".id AND cv.trainer_id = "u".trainer_id)
      OR ("u".role = 'trainer' AND cv.trainer_id = "u".id
          AND EXISTS (SELECT 1 FROM users member WHERE member.id = cv.member_id AND member.trainer_id = "u".id))
    )
  ))), '[]'::json)
        FROM went_offline o JOIN users u ON u.id = o.user_id WHERE u.presence_visible) AS offline,
      (SELECT coalesce(json_agg(json_build_object(
          'userId', l.user_id, 'conversationId', l.conversation_id, 'connectionIds', (
            SELECT coalesce(json_agg(k.connection_id ORDER BY k.connection_id), '[]'::json) FROM connections k
            WHERE k.user_id = CASE WHEN cv.member_id = l.user_id THEN cv.trainer_id ELSE cv.member_id END
              AND l.conversation_id = ANY (k.joined_conversation_ids) AND ("k".expires_at > now() AND "k".connected_at > now() - $6::int * interval '1 second')
              AND NOT (k.connection_id = ANY ($7::text[]))))), '[]'::json)
        FROM left_conversations l JOIN conversations cv ON cv.id = l.conversation_id) AS left;
-- parameters:
--   $1 = ["conn-AbC123="]
--   $2 = ["conn-AbC123="]
--   $3 = 7200
--   $4 = 7200
--   $5 = ["conn-AbC123="]
--   $6 = 7200
--   $7 = ["conn-AbC123="]
