import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Page } from 'playwright-core'
import { ADMIN, auditRows } from '../helpers/admin.ts'
import { startTestStack, type TestClient, type TestStack } from '../helpers/stack.ts'
import { accessibilityViolations, screenshot, startTogether, type TestBrowser } from './browser.ts'

/**
 * The console's Reports page in a real browser: the open queue with each reported message in
 * context, resolved by clicking an action, its effect checked where it lands (the member's live
 * WebSocket, the API, the audit log), each page screenshotted and checked with axe-core.
 */

let stack: TestStack
let browser: TestBrowser
let page: Page
let pageErrors: string[]
let member: TestClient
let conversationId: string

async function expectAccessible(name: string): Promise<void> {
  await screenshot(page, name)
  assert.deepEqual(await accessibilityViolations(page), [], `serious or critical accessibility violations on ${name}`)
}

before(async () => {
  // The stack and Chromium start at once: neither needs the other until the first page loads.
  ;({ stack, browser } = await startTogether(startTestStack()))
  ;({ page, errors: pageErrors } = await browser.newPage())
  page.setDefaultTimeout(15_000)
  conversationId = (await stack.api('/conversations', { email: 'user1@example.com' })).body.conversations[0].id
  member = await stack.connect('user1@example.com')
  const trainer = await stack.connect('trainer1@example.com')
  const polite = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'r-1', body: 'Morning coach!' })
  const spam = await member.request({ action: 'sendMessage', conversationId, clientMessageId: 'r-2', body: 'Buy cheap pills at spam.example' })
  trainer.close()
  for (const [messageId, reason, note] of [
    [polite.message.id, 'other', 'probably fine'],
    [spam.message.id, 'spam', 'a link to a pill shop'],
  ] as const) {
    const filed = await stack.api(`/messages/${messageId}/report`, { method: 'POST', email: 'trainer1@example.com', body: { reason, note } })
    assert.equal(filed.status, 201)
  }
})
after(async () => {
  await browser?.close()
  await stack?.close()
})

describe('the Reports page', () => {
  test('the dashboard counts the open reports', async () => {
    await page.goto(`${stack.httpUrl}/console/`)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(/\/local-issuer\/oauth2\/authorize\?/)
    await page.getByRole('button', { name: ADMIN }).click()
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor()
    assert.equal(await page.locator('[data-stat="reports"]').textContent(), '2')
  })

  test('lists the open reports newest first, each with its reporter, reason, note and the message in context', async () => {
    await page.getByRole('menuitem', { name: 'Reports' }).click()
    const rows = page.locator('tbody tr')
    await rows.nth(1).waitFor()
    assert.equal(await rows.count(), 2)
    const first = (await rows.first().textContent()) ?? ''
    assert.match(first, /trainer1@example\.com.*spam.*a link to a pill shop.*Uma User.*#2.*Buy cheap pills at spam\.example/)
    assert.match((await rows.nth(1).textContent()) ?? '', /other.*probably fine.*Morning coach!/)
    await expectAccessible('reports')

    await rows.first().getByRole('link', { name: /In its conversation/ }).click()
    await page.getByText('Morning coach!').waitFor()
    assert.match(page.url(), new RegExp(`/conversations/${conversationId}/show$`))
    await page.goBack()
    await rows.nth(1).waitFor()
  })

  test('resolving with "Hide message": the member hears messageRemoved and the report leaves the open queue', async () => {
    const row = page.locator('tbody tr').filter({ hasText: 'Buy cheap pills' })
    await row.getByRole('button', { name: 'Hide message' }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByLabel(/^Reason/).fill('Spam link')
    await screenshot(page, 'report-resolve')
    await dialog.getByRole('button', { name: 'Hide message', exact: true }).click()
    await dialog.waitFor({ state: 'detached' })

    const removed = await member.nextOfType('messageRemoved')
    assert.equal(removed.conversationId, conversationId)
    await page.locator('tbody tr').filter({ hasText: 'Buy cheap pills' }).waitFor({ state: 'detached' })
    assert.equal(await page.locator('tbody tr').count(), 1)
    const actions = (await auditRows(stack)).map((row) => row.action).sort()
    assert.deepEqual(actions, ['message.hidden', 'report.resolved'])
  })

  test('dismissing the other one empties the queue; the resolved list says who resolved each and how', async () => {
    const row = page.locator('tbody tr').filter({ hasText: 'Morning coach!' })
    await row.getByRole('button', { name: 'Dismiss' }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByLabel(/^Reason/).fill('Nothing wrong here')
    await dialog.getByRole('button', { name: 'Dismiss', exact: true }).click()
    await dialog.waitFor({ state: 'detached' })
    await page.locator('tbody tr').filter({ hasText: 'Morning coach!' }).waitFor({ state: 'detached' })

    await page.getByRole('combobox', { name: 'Status' }).click()
    await page.getByRole('option', { name: 'resolved' }).click()
    const rows = page.locator('tbody tr')
    await rows.nth(1).waitFor()
    assert.match((await rows.first().textContent()) ?? '', /hide_message by admin@example\.com on .*: Spam link/)
    assert.match((await rows.nth(1).textContent()) ?? '', /dismiss by admin@example\.com on .*: Nothing wrong here/)
    await expectAccessible('reports-resolved')
  })

  test('the audit log shows the resolutions, linking to their conversation', async () => {
    await page.getByRole('menuitem', { name: 'Audit log' }).click()
    await page.locator('tbody tr').first().waitFor()
    await page.getByRole('combobox', { name: 'Action' }).click()
    await page.getByRole('option', { name: 'report.resolved' }).click()
    await page.locator('tbody tr').nth(2).waitFor({ state: 'detached' })
    assert.equal(await page.locator('tbody tr').count(), 2)
    await page.getByRole('link', { name: /^report / }).first().click()
    assert.match(page.url(), new RegExp(`/conversations/${conversationId}/show$`))
    assert.deepEqual(pageErrors, [])
  })
})
