/**
 * The console on PostgreSQL (issue 15: "on both stores"), in Chromium: the same sandbox world in
 * an isolated schema. Sessions, CSRF-checked forms and their idempotency claims live in the
 * store, so this is the proof that they hold on PostgreSQL too: a teller tops a card up through
 * the card reader and sees the new balance, a second submit of the same form loads once, and
 * operations sees the books reconcile to 0.00. Skipped with one line when PostgreSQL or Chromium
 * is not reachable.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../support/services.ts';
import { launchBrowser, openPage, signInStaff, checkPage } from './support/browser.ts';
import { type ConsoleWorld, STAFF, startConsoleWorld } from './support/console-world.ts';

const up =
  serviceAvailable('postgres', 'console on PostgreSQL (test/console/postgres.test.ts)') &&
  serviceAvailable('chromium', 'console on PostgreSQL (test/console/postgres.test.ts)');

describe.skipIf(!up)('the console on PostgreSQL in Chromium', () => {
  let world: ConsoleWorld;
  let browser: Browser;

  beforeAll(async () => {
    [world, browser] = await Promise.all([startConsoleWorld({ store: 'postgres', taps: false }), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('a teller tops a card up once though the form is sent twice; operations sees 0.00', async () => {
    const teller = await openPage(browser, world.baseUrl);
    const { page, context } = teller;
    await signInStaff(page, STAFF.teller);
    const card = world.cards[3];
    await page.goto(`/console/counter/cards/${card.cardNo}/topup`);
    await page.getByLabel('金额（元）').fill('40');
    await page.getByRole('button', { name: '下一步：确认' }).click();
    await checkPage(teller, 'pg-topup-review');
    const fields = Object.fromEntries(
      await page
        .locator('form[method="post"]')
        .last()
        .locator('input[type="hidden"]')
        .evaluateAll((inputs) => inputs.map((i) => [(i as unknown as { name: string }).name, (i as unknown as { value: string }).value])),
    ) as Record<string, string>;
    const url = `/console/counter/cards/${card.cardNo}/topup`;
    const [first, second] = await Promise.all([
      context.request.post(url, { form: fields, maxRedirects: 0 }),
      context.request.post(url, { form: fields, maxRedirects: 0 }),
    ]);
    expect([first.status(), second.status()]).toEqual([303, 303]);
    const loads = await world.store.transaction((tx) => tx.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM loads WHERE card_no = ?', [card.cardNo]));
    expect(Number(loads?.n)).toBe(1);
    await page.goto(first.headers().location!);
    expect(await page.getByTestId('receipt-receipt.new-balance').textContent()).toBe('40.00');
    await checkPage(teller, 'pg-topup-receipt');
    await page.goto(`/console/counter/cards/${card.cardNo}`);
    expect(await page.getByTestId('card-balance').textContent()).toContain('40.00');
    expect(await world.reader.balanceFen(card.cardNo)).toBe(4_000);
    await checkPage(teller, 'pg-card');
    await context.close();

    const ops = await openPage(browser, world.baseUrl);
    await signInStaff(ops.page, STAFF.opsAdmin);
    await ops.page.goto('/console/ops/ledger');
    expect(await ops.page.getByTestId('discrepancy').textContent()).toBe('0.00');
    await checkPage(ops, 'pg-ledger');
    await ops.context.close();
  });
});
