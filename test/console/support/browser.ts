/**
 * Debian's Chromium driven by playwright-core, one browser per test file (contexts are cheap,
 * browsers are not). Every page a test opens is checked the same way: no console errors (CSP
 * violations included) and no serious or critical axe-core violations; and it can be saved as a
 * screenshot (tests: var/console-test-screenshots/, ignored; `npm run screenshots`: docs/console/).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { CHROMIUM_PATH } from '../../support/services-setup.ts';
import { STAFF_PASSWORD, type WorldStaff } from './console-world.ts';

export const TEST_SCREENSHOTS = join(process.cwd(), 'var', 'console-test-screenshots');

export async function launchBrowser(): Promise<Browser> {
  // As root (containers, CI) Chromium needs --no-sandbox.
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', '--disable-dev-shm-usage', '--font-render-hinting=none'] });
}

export interface ConsolePage {
  context: BrowserContext;
  page: Page;
  /** Console errors and failed requests seen so far on this page. */
  errors: string[];
}

export async function openPage(browser: Browser, baseUrl: string, options: { mobile?: boolean; locale?: string } = {}): Promise<ConsolePage> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: options.mobile ? { width: 390, height: 844 } : { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    locale: options.locale ?? 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    acceptDownloads: true,
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    // A page answered 4xx on purpose (a refused form) makes Chromium log "Failed to load
    // resource" for the document itself; loads are judged below from the responses instead.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A download (the CSV exports) ends its navigation as ERR_ABORTED: not a failure.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  page.on('response', (response) => {
    // Documents may answer 4xx (tests provoke refusals on purpose and check them); every
    // stylesheet, script and image must load.
    if (response.request().resourceType() !== 'document' && response.status() >= 400) errors.push(`${response.status()}: ${response.url()}`);
  });
  return { context, page, errors };
}

/** axe-core on the page as it is now: the serious and critical violations (empty: none). */
export async function seriousViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export async function screenshot(page: Page, name: string, dir = TEST_SCREENSHOTS): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export async function signInStaff(page: Page, staff: WorldStaff, password = STAFF_PASSWORD): Promise<void> {
  await page.goto('/console/sign-in');
  await page.getByLabel('用户名').fill(staff.username);
  await page.getByLabel('密码').fill(password);
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: '登录' }).click()]);
}

/** The page is accessible (axe) and has logged no console error since the last check; saved for the record. */
export async function checkPage(p: ConsolePage, name: string): Promise<void> {
  expect(await seriousViolations(p.page), `axe on ${name}`).toEqual([]);
  expect(p.errors, `console errors on ${name}`).toEqual([]);
  await screenshot(p.page, name);
  p.errors.length = 0;
}
