import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Page } from 'playwright-core'
import { ADMIN, userId } from '../helpers/admin.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'
import { accessibilityViolations, screenshot, startTogether, type TestBrowser } from './browser.ts'

/**
 * The moderation console in a real browser (Debian's Chromium): signed in through the local
 * hosted UI, every admin action done by clicking, and its effect checked where it lands (a
 * member's live WebSocket, the API, the audit log). Each page is screenshotted and checked with
 * axe-core. The tests run in order on one stack and one signed-in page, like an operator's session.
 */

let stack: TestStack
let browser: TestBrowser
let page: Page
let pageErrors: string[]
let member: TestClient
let conversationId: string
/** Every answer of the hosted UI's token endpoint to the admin's page: grant type and tokens. */
const tokenAnswers: Array<{ grant: string | null; status: number; body: Record<string, unknown> }> = []
/** Short-lived tokens, so the session must renew them with the refresh token while the tests run. */
const TOKEN_LIFETIME_SECONDS = 75
/** The bodies being read into tokenAnswers: a response event comes before its body is read. */
const readingAnswers: Array<Promise<void>> = []

async function expectAccessible(name: string): Promise<void> {
  await screenshot(page, name)
  assert.deepEqual(await accessibilityViolations(page), [], `serious or critical accessibility violations on ${name}`)
}

async function signIn(target: Page, email: string): Promise<void> {
  await target.goto(`${stack.httpUrl}/console/`)
  await target.getByRole('button', { name: 'Sign in' }).click()
  await target.waitForURL(/\/local-issuer\/oauth2\/authorize\?/)
  await target.getByRole('button', { name: email }).click()
}

async function openUser(email: string): Promise<void> {
  await page.getByRole('menuitem', { name: 'Users' }).click()
  await page.locator('td.column-email').getByText(email, { exact: true }).click()
  await page.getByText(`User id`).waitFor()
}

/** Opens an action's dialog, types the reason, confirms, and waits for the dialog to go. */
async function act(button: string, confirm: string, reason?: string): Promise<void> {
  await page.getByRole('button', { name: button }).click()
  const dialog = page.getByRole('dialog')
  if (reason !== undefined) await dialog.getByLabel(/^Reason/).fill(reason)
  await dialog.getByRole('button', { name: confirm, exact: true }).click()
  await dialog.waitFor({ state: 'detached' })
}

before(async () => {
  // The stack and Chromium start at once: neither needs the other until the first page loads.
  ;({ stack, browser } = await startTogether(startTestStack({ consoleTokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS })))
  ;({ page, errors: pageErrors } = await browser.newPage())
  page.setDefaultTimeout(15_000)
  page.on('response', (response) => {
    if (!response.url().endsWith('/oauth2/token')) return
    const grant = new URLSearchParams(response.request().postData() ?? '').get('grant_type')
    readingAnswers.push(
      response.json().then((body: Record<string, unknown>) => {
        tokenAnswers.push({ grant, status: response.status(), body })
      }),
    )
  })
  await userId(stack, 'user1@example.com')
  conversationId = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  member = await stack.connect('user1@example.com')
  const trainer = await stack.connect('trainer1@example.com')
  await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'c-1', body: 'Hi coach, how many sets today?' })
  await trainer.request({ action: 'sendMessage', conversationId, clientMessageId: 'c-2', body: 'Three sets of ten, then stretch.' })
  await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'c-3', body: 'Buy cheap pills at spam.example' })
  trainer.close()
})
after(async () => {
  await browser?.close()
  await stack?.close()
})

describe('the moderation console', () => {
  test('an admin signs in on the hosted-UI page and lands on the dashboard with its counts', async () => {
    await page.goto(`${stack.httpUrl}/console/`)
    await page.getByRole('button', { name: 'Sign in' }).waitFor()
    await expectAccessible('login')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(/\/local-issuer\/oauth2\/authorize\?/)
    const authorize = new URL(page.url())
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256')
    assert.equal(authorize.searchParams.get('response_type'), 'code')
    await expectAccessible('hosted-ui')

    await page.getByRole('button', { name: ADMIN }).click()
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor()
    const open = page.getByRole('region', { name: 'Open conversations' })
    assert.equal(await open.locator('[data-stat="open"]').textContent(), '2')
    assert.equal(await page.locator('[data-stat="messages24h"]').textContent(), '3')
    assert.equal(await page.locator('[data-stat="unassigned"]').textContent(), '0')
    await expectAccessible('dashboard')
  })

  test('the conversations page lists conversations by last activity, and a conversation shows its history', async () => {
    await page.getByRole('menuitem', { name: 'Conversations' }).click()
    const rows = page.locator('tbody tr')
    await rows.first().waitFor()
    assert.equal(await rows.count(), 2)
    assert.match((await rows.first().textContent()) ?? '', /Uma User.*Tara Trainer.*open/)
    await expectAccessible('conversations')

    await rows.first().click()
    await page.getByText('Three sets of ten, then stretch.').waitFor()
    assert.match(page.url(), new RegExp(`/console/conversations/${conversationId}/show$`))
    await expectAccessible('conversation')
  })

  test('closing and reopening a conversation: the member hears conversationClosed with the reason', async () => {
    await act('Close conversation', 'Close', 'Off-topic spam from the member')
    const closed = await member.nextOfType('conversationClosed')
    assert.deepEqual(closed, { type: 'conversationClosed', conversationId, reason: 'Off-topic spam from the member' })
    await page.getByRole('button', { name: 'Reopen conversation' }).waitFor()
    await screenshot(page, 'conversation-closed')

    await act('Reopen conversation', 'Reopen')
    await page.getByRole('button', { name: 'Close conversation' }).waitFor()
    const listed = await stack.api(`/admin/conversations?userId=${await userId(stack, 'user1@example.com')}`, { email: ADMIN })
    assert.equal(listed.body.conversations[0].status, 'open')
  })

  test('hiding a message: the member hears messageRemoved, the admin still sees it with who and why', async () => {
    await act('Hide message 3', 'Hide', 'Spam link')
    const removed = await member.nextOfType('messageRemoved')
    assert.equal(removed.conversationId, conversationId)
    await page.getByText(/Hidden by Ada Admin on .*: Spam link/).waitFor()
    assert.ok(await page.getByText('Buy cheap pills at spam.example').isVisible(), 'admins keep seeing the original body')
    await expectAccessible('conversation-hidden-message')
  })

  test("reassigning a member to another trainer closes the old conversation and shows the new trainer", async () => {
    await openUser('user1@example.com')
    await page.getByRole('heading', { name: 'Conversations' }).waitFor()
    await page.getByRole('button', { name: 'Change trainer' }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByRole('combobox', { name: 'Trainer' }).click()
    await page.getByRole('option', { name: /Theo Trainer/ }).click()
    await dialog.getByLabel(/^Reason/).fill('Tara is on leave')
    await screenshot(page, 'user-assign-trainer')
    await dialog.getByRole('button', { name: 'Assign', exact: true }).click()
    await dialog.waitFor({ state: 'detached' })

    const closed = await member.nextOfType('conversationClosed')
    assert.deepEqual(closed, { type: 'conversationClosed', conversationId, reason: 'trainer_reassigned' })
    await page.getByText('Theo Trainer <trainer2@example.com>').waitFor()
    await expectAccessible('user')
  })

  test("changing a role: the API's refusal is shown in its words, an allowed change applies", async () => {
    await openUser('trainer2@example.com')
    await page.getByRole('button', { name: 'Change role' }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByRole('combobox', { name: 'New role' }).click()
    await page.getByRole('option', { name: 'member (user)' }).click()
    await dialog.getByRole('button', { name: 'Change role', exact: true }).click()
    const refusal = dialog.getByRole('alert')
    await refusal.waitFor()
    assert.match((await refusal.textContent()) ?? '', /^409 conflict: /)
    await screenshot(page, 'user-role-refused')
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    await dialog.waitFor({ state: 'detached' })

    // trainer1 has no members left since the reassignment: they may become a member.
    await openUser('trainer1@example.com')
    await page.getByRole('button', { name: 'Change role' }).click()
    await dialog.getByRole('combobox', { name: 'New role' }).click()
    await page.getByRole('option', { name: 'member (user)' }).click()
    await dialog.getByLabel(/^Reason/).fill('Left the coaching team')
    await dialog.getByRole('button', { name: 'Change role', exact: true }).click()
    await dialog.waitFor({ state: 'detached' })
    await page.getByText('user', { exact: true }).first().waitFor()
    const users = await stack.api('/admin/users?role=user', { email: ADMIN })
    assert.ok(users.body.users.some((u: { email: string }) => u.email === 'trainer1@example.com'))
  })

  test('disabling a user cuts their live connection', async () => {
    await openUser('user1@example.com')
    await act('Disable account', 'Disable', 'Abusive messages')
    await page.getByText(/^disabled since /).waitFor()
    await member.next(() => false, 5000).catch(() => undefined)
    assert.notEqual(member.closeCode, undefined, "the member's WebSocket was closed")
  })

  test('every action is in the audit log, filterable by action, linking to its target', async () => {
    await page.getByRole('menuitem', { name: 'Audit log' }).click()
    await page.locator('tbody tr').first().waitFor()
    const text = (await page.locator('tbody').textContent()) ?? ''
    for (const action of ['conversation.closed', 'conversation.reopened', 'message.hidden', 'user.trainer_assigned', 'user.role_changed', 'user.disabled']) {
      assert.ok(text.includes(action), `audit log shows ${action}`)
    }
    await expectAccessible('audit')

    await page.getByRole('combobox', { name: 'Action' }).click()
    await page.getByRole('option', { name: 'message.hidden' }).click()
    await page.locator('tbody tr').nth(1).waitFor({ state: 'detached' })
    assert.equal(await page.locator('tbody tr').count(), 1)
    assert.match((await page.locator('tbody').textContent()) ?? '', /message\.hidden.*Spam link/)
    await page.getByRole('link', { name: /^message / }).click()
    await page.getByText(/Hidden by Ada Admin/).waitFor()
    assert.match(page.url(), new RegExp(`/conversations/${conversationId}/show$`))
    assert.deepEqual(pageErrors, [])
  })

  test('tokens are renewed with the refresh token before they expire, and the session carries on', async () => {
    const [first] = tokenAnswers
    assert.equal(first?.grant, 'authorization_code')
    assert.equal(first?.body.expires_in, TOKEN_LIFETIME_SECONDS)
    // oidc-client-ts renews 60 s before expiry, 15 s after sign-in here: by now it has (or will; wait, no fixed sleep).
    await Promise.all(readingAnswers)
    if (!tokenAnswers.some((answer) => answer.grant === 'refresh_token')) {
      await page.waitForResponse((response) => response.url().endsWith('/oauth2/token'), { timeout: TOKEN_LIFETIME_SECONDS * 1000 })
      // The response has arrived; its body is read into tokenAnswers by the listener, asynchronously.
      await Promise.all(readingAnswers)
    }
    const renewals = tokenAnswers.filter((answer) => answer.grant === 'refresh_token')
    assert.ok(renewals.length > 0 && renewals.every((answer) => answer.status === 200), 'renewed with the refresh token')
    assert.ok(renewals.every((answer) => answer.body.refresh_token === undefined), 'like Cognito, a refresh brings no new refresh token')

    const apiCall = page.waitForRequest((request) => new URL(request.url()).pathname.startsWith('/admin/'))
    await page.getByRole('button', { name: 'Refresh' }).click()
    const bearer = (await apiCall).headers().authorization?.replace(/^Bearer /, '')
    assert.ok(renewals.some((answer) => answer.body.id_token === bearer), 'the API is called with a renewed ID token')
    assert.notEqual(bearer, first?.body.id_token)
  })

  test('signing out revokes the refresh token and ends the hosted-UI session', async () => {
    const refreshToken = tokenAnswers.find((answer) => answer.grant === 'authorization_code')?.body.refresh_token
    assert.equal(typeof refreshToken, 'string')
    const hostedLogout = page.waitForRequest((request) => new URL(request.url()).pathname === '/local-issuer/logout')
    await page.getByRole('button', { name: 'Ada Admin' }).click()
    await page.getByRole('menuitem', { name: 'Logout' }).click()
    assert.equal(new URL((await hostedLogout).url()).searchParams.get('logout_uri'), `${stack.httpUrl}/console/`)
    await page.getByRole('button', { name: 'Sign in' }).waitFor()

    const reuse = await fetch(`${stack.issuer.issuer}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken as string, client_id: 'trainer-chat-local' }),
    })
    assert.equal(reuse.status, 400)
    assert.deepEqual(await reuse.json(), { error: 'invalid_grant' })
  })

  test('a member who signs in gets the "admins only" page and nothing else', async () => {
    const other = await browser.newPage()
    await signIn(other.page, 'user2@example.com')
    await other.page.getByRole('heading', { name: 'Admins only' }).waitFor()
    assert.equal(await other.page.getByRole('menuitem', { name: 'Conversations' }).count(), 0)
    await screenshot(other.page, 'admins-only')
    assert.deepEqual(await accessibilityViolations(other.page), [])
    // The API is the authority: the same token is refused by every admin route.
    assert.equal((await stack.api('/admin/conversations', { email: 'user2@example.com' })).status, 403)
    await other.page.close()
  })
})
