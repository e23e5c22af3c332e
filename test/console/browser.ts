import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

/**
 * Debian's Chromium driven by playwright-core (no browser download): headless, no sandbox (CI
 * runs as root), and every background service off, since this machine has no network beyond
 * loopback and Chromium would otherwise keep retrying refused connections.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Screenshots land here (TEST_OUTPUT_DIR overrides): `.tmp/test-output/console/<name>.png`. */
export const OUTPUT_DIR = resolve(process.env.TEST_OUTPUT_DIR ?? '.tmp/test-output', 'console')

const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js')
let axe: Promise<string> | undefined
const axeSource = () => (axe ??= readFile(AXE_PATH, 'utf8'))

export interface TestBrowser {
  context: BrowserContext
  /** A new tab: tokens live in the page's memory, so each tab is its own session. */
  newPage(): Promise<{ page: Page; errors: string[] }>
  close(): Promise<void>
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`)
  }
  const userDataDir = await mkdtemp(join(tmpdir(), 'trainer-chat-chromium-'))
  await mkdir(OUTPUT_DIR, { recursive: true })
  // A persistent context is how Playwright takes a user-data-dir: a fresh one per run.
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
    timezoneId: 'UTC',
  })
  return {
    context,
    async newPage() {
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', (error) => errors.push(String(error)))
      return { page, errors }
    },
    async close() {
      await context.close()
      await rm(userDataDir, { recursive: true, force: true })
    },
  }
}

/**
 * Starts the stack and the browser at once and hands back both, or closes whichever started and
 * throws the failure: with Promise.all, a browser that failed to launch left the stack starting
 * unseen, after() found nothing to close, and the test process never exited.
 */
export async function startTogether<S extends { close(): Promise<void> }>(stack: Promise<S>): Promise<{ stack: S; browser: TestBrowser }> {
  const [started, launched] = await Promise.allSettled([stack, launchBrowser()])
  if (started.status === 'fulfilled' && launched.status === 'fulfilled') return { stack: started.value, browser: launched.value }
  if (started.status === 'fulfilled') await started.value.close()
  if (launched.status === 'fulfilled') await launched.value.close()
  throw started.status === 'rejected' ? started.reason : (launched as PromiseRejectedResult).reason
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const path = join(OUTPUT_DIR, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: Array<{ target: string[] }>
}

/** axe-core's serious and critical violations on the page as it is now (none is the bar). */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  // Evaluated over the DevTools protocol, which the page's CSP does not govern (addScriptTag's
  // inline <script> would be refused by script-src 'self', as it should be).
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(await axeSource())
  const violations = await page.evaluate(async () => {
    // Runs in the page; the test's own tsconfig has no DOM types, hence the shape spelled out.
    const page = globalThis as unknown as { axe: { run(context: unknown): Promise<{ violations: AxeViolation[] }> }; document: unknown }
    return (await page.axe.run(page.document)).violations
  })
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`)
}
