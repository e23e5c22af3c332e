import { sql, type Kysely, type RawBuilder } from 'kysely'
import * as z from 'zod/mini'
import type { Identity } from '../core/model.ts'
import type { Verdict } from '../core/ports.ts'
import type { Highlight, HitKey, SearchHit, SearchStore, SeqKey } from '../core/search.ts'
import type { Database } from './database-schema.ts'
import { paginate, participantAccess, single, toIso } from './sql-fragments.ts'
import { callerFromIdentity } from './users-upsert.ts'

/**
 * Message search on PostgreSQL's full text search (also in PGlite): `messages.search` is a
 * tsvector generated from the body, indexed by a GIN index that leaves out hidden and deleted
 * messages (migration 0009); the query is `websearch_to_tsquery` (quoted phrases, `or`, `-word`),
 * so any text a person types is a valid query. Each page is one statement that checks the
 * caller's access, finds the page (newest first, one extra row to know whether more follow) and
 * builds the snippets of that page only. How it finds the page so that its cost does not grow
 * with the table: candidateHits and everywhere below.
 */

const CONFIG = sql`'english'::regconfig`

// ts_headline marks matches with characters no body keeps (they are translated to spaces first),
// and '<' travels as a third one: PostgreSQL's parser would take `<b>` in a body for markup and
// drop it from the snippet. The adapter turns the marks into highlight ranges.
const START = '\uE000'
const STOP = '\uE001'
const LT = '\uE002'
const MARKS = `StartSel=${START}, StopSel=${STOP}`
/** A chat message this short is its own snippet; a longer one is cut to the words around a match. */
const WHOLE_BODY_CHARS = 280

function tsquery(q: string): RawBuilder<unknown> {
  return sql`websearch_to_tsquery(${CONFIG}, ${q})`
}

/** The hit JSON of a page row `p`, with its snippet. */
function hitJson(q: string): RawBuilder<unknown> {
  return sql`json_build_object(
    'conversationId', p.conversation_id, 'messageId', p.id, 'seq', p.seq, 'senderId', p.sender_id,
    'createdAt', p.created_at, 'sortAt', to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'headline', ts_headline(${CONFIG}, translate(p.body, ${`${START}${STOP}${LT}<`}, ${`   ${LT}`}), ${tsquery(q)},
      CASE WHEN length(p.body) <= ${WHOLE_BODY_CHARS} THEN ${`${MARKS}, HighlightAll=true`}
        ELSE ${`${MARKS}, MaxWords=35, MinWords=15, ShortWord=2`} END))`
}

/** What participants may find: the partial index's predicate, repeated so the planner uses it. */
const findable = sql`m.hidden_at IS NULL AND m.deleted_at IS NULL`

/** A page's hits as hitJson builds them (json_agg; timestamps in Postgres's JSON format). */
const HitsJson = z.array(
  z.object({
    conversationId: z.string(),
    messageId: z.string(),
    seq: z.number(),
    senderId: z.string(),
    createdAt: z.string(),
    sortAt: z.string(),
    headline: z.string(),
  }),
)
type HitJson = z.infer<typeof HitsJson>[number]

/** How many of a conversation's newest messages are read before turning to the GIN index. */
const RECENT_WINDOW = 500

/**
 * CTEs `recent`, `older` and `found` (the candidate hits) for the conversations in CTE
 * `scope (id)`, after `cursor` (a condition on `m`). A word found in many messages is found
 * among the newest ones: the last RECENT_WINDOW messages of each conversation are read through
 * the (conversation_id, seq) index and filtered. Only when that yields no full page, the GIN
 * index finds the rest (`older`: materialized and with no condition on the conversation, so the
 * planner has only the GIN index to choose, whatever it guesses a rare word's frequency or a
 * conversation's size to be), kept when of the scope. A page then costs what its answer needs
 * (the window, or the word's matches), not what the table holds. The one costly case left: a
 * word rare in the conversation but frequent in the whole table costs its matches everywhere.
 */
function candidateHits(q: string, limit: number, cursor: RawBuilder<unknown>): RawBuilder<unknown> {
  const columns = sql`m.id, m.conversation_id, m.seq, m.sender_id, m.created_at, m.body`
  return sql`
    recent AS MATERIALIZED (
      SELECT x.* FROM scope cv CROSS JOIN LATERAL (
        SELECT ${columns}, m.search, m.hidden_at, m.deleted_at FROM messages m
        WHERE m.conversation_id = cv.id ${cursor}
        ORDER BY m.seq DESC LIMIT ${RECENT_WINDOW}
      ) x
    ),
    recent_hits AS (SELECT ${columns} FROM recent m WHERE m.search @@ ${tsquery(q)} AND ${findable}),
    older AS MATERIALIZED (
      SELECT ${columns} FROM messages m
      WHERE (SELECT count(*) FROM recent_hits) <= ${limit}
        AND m.search @@ ${tsquery(q)} AND ${findable} ${cursor}
    ),
    found AS (SELECT * FROM recent_hits UNION SELECT * FROM older m WHERE m.conversation_id IN (SELECT id FROM scope))`
}

export function createSearchStore(db: Kysely<Database>): SearchStore {
  return {
    async inConversation(identity, conversationId, page) {
      const before = page.before ? sql`AND m.seq < ${page.before.seq}` : sql``
      const { rows } = await sql<{ verdict: Verdict; hits: unknown }>`
        WITH ${callerFromIdentity(identity)}, ${participantAccess(conversationId)},
        scope AS (SELECT a.conversation_id AS id FROM access a WHERE a.verdict IN ('ok', 'closed')),
        ${candidateHits(page.q, page.limit, before)}
        SELECT a.verdict,
          (SELECT coalesce(json_agg(${hitJson(page.q)} ORDER BY p.seq DESC), '[]'::json)
           FROM (SELECT * FROM found ORDER BY seq DESC LIMIT ${page.limit + 1}) p) AS hits
        FROM access a`.execute(db)
      const row = single(rows)
      const { items: hits, nextKey } = paginate(HitsJson.parse(row.hits), page.limit, toHit, (hit): SeqKey => ({ seq: hit.seq }))
      return { verdict: row.verdict, hits, nextKey }
    },

    async everywhere(identity, page) {
      const after = page.after ? sql`AND (m.created_at, m.id) < (${page.after.at}::timestamptz, ${page.after.id}::uuid)` : sql``
      const order = sql`ORDER BY m.created_at DESC, m.id DESC LIMIT ${page.limit + 1}`
      // The participant rule of history (sql-fragments.ts participantAccess), in the plan that fits
      // each role; the branch for the caller's other role reads nothing (its input is empty).
      // A member has one conversation with their trainer (and closed ones with them): candidateHits
      // reads those alone. A trainer may have thousands of members: the GIN index finds the
      // matches (materialized, so it is not replaced by a walk over every conversation) and each
      // is checked against the rule by primary key, a scalar subquery the planner keeps per row.
      const { rows } = await sql<{ disabled: boolean; hits: unknown }>`
        WITH ${callerFromIdentity(identity)},
        scope AS (
          SELECT cv.id FROM caller c
          JOIN conversations cv ON c.role = 'user' AND c.disabled_at IS NULL AND cv.member_id = c.user_id AND cv.trainer_id = c.trainer_id
        ),
        ${candidateHits(page.q, page.limit, after)},
        matches AS MATERIALIZED (
          SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.created_at, m.body FROM messages m
          WHERE (SELECT c.role = 'trainer' AND c.disabled_at IS NULL FROM caller c)
            AND m.search @@ ${tsquery(page.q)} AND ${findable} ${after}
        ),
        readable AS (
          SELECT m.* FROM found m
          UNION ALL
          SELECT m.* FROM matches m, caller c
          WHERE (SELECT cv.trainer_id = c.user_id AND member.trainer_id = c.user_id
                 FROM conversations cv JOIN users member ON member.id = cv.member_id WHERE cv.id = m.conversation_id)
        )
        SELECT c.disabled_at IS NOT NULL AS disabled,
          (SELECT coalesce(json_agg(${hitJson(page.q)} ORDER BY p.created_at DESC, p.id DESC), '[]'::json)
           FROM (SELECT m.* FROM readable m ${order}) p) AS hits
        FROM caller c`.execute(db)
      const row = single(rows)
      const { items: hits, nextKey } = paginate(HitsJson.parse(row.hits), page.limit, toHit, (hit): HitKey => ({ at: hit.sortAt, id: hit.messageId }))
      return { disabled: row.disabled, hits, nextKey }
    },
  }
}

/** A hit as the page's JSON has it, less the sort key, its time in the API's format and its headline parsed. */
function toHit({ sortAt, headline, ...hit }: HitJson): SearchHit {
  return { ...hit, createdAt: toIso(hit.createdAt), ...parseHeadline(headline) }
}

/** ts_headline's output with our marks → the plain snippet and its highlighted ranges. */
function parseHeadline(headline: string): { snippet: string; highlights: Highlight[] } {
  let snippet = ''
  let start: number | undefined
  const highlights: Highlight[] = []
  for (const char of headline) {
    if (char === START) start = snippet.length
    else if (char === STOP) {
      if (start !== undefined && snippet.length > start) highlights.push({ start, end: snippet.length })
      start = undefined
    } else snippet += char === LT ? '<' : char
  }
  return { snippet, highlights }
}
