/**
 * The console's counter pages in a real browser (Debian's Chromium through playwright-core),
 * against a sandbox gateway listening on loopback whose card reader is the sandbox's simulated
 * card: a teller tops a card up and sees the new balance (on the card and in the back office),
 * reports a card lost and sees it blacklisted, requests a broken-card refund and sees it paid
 * after the jobs run, finds a card by the holder's ID number and prints the shift report. A form
 * without its CSRF token, a second submit of the same form and a cross-role request change
 * nothing. Every page: no serious/critical axe violation, no console error.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUND_PAYOUT_MARGIN_MS } from '#gateway/services/refunds';
import { serviceAvailable } from '../support/services.ts';
import { type ConsolePage, launchBrowser, openPage, signInStaff, checkPage } from './support/browser.ts';
import { type ConsoleWorld, STAFF, startConsoleWorld } from './support/console-world.ts';

const up = serviceAvailable('chromium', 'console counter pages (test/console/counter.test.ts)');
const DAY_MS = 24 * 60 * 60 * 1000;

describe.skipIf(!up)('counter pages in Chromium', () => {
  let world: ConsoleWorld;
  let browser: Browser;
  let teller: ConsolePage;

  beforeAll(async () => {
    [world, browser] = await Promise.all([startConsoleWorld(), launchBrowser()]);
    teller = await openPage(browser, world.baseUrl);
    await signInStaff(teller.page, STAFF.teller);
  });
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  const count = async (sql: string, params: string[] = []) =>
    Number((await world.store.transaction((tx) => tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${sql}`, params), { readOnly: true }))?.n);

  it('the teller tops a card up through the card reader and the card page shows the new balance', async () => {
    const { page } = teller;
    const card = world.cards[3]; // the empty one
    await expect.poll(() => page.url()).toContain('/console/counter');
    await checkPage(teller, 'counter-find');
    await page.getByLabel('卡号或证件号码').fill(card.cardNo);
    await page.getByRole('button', { name: '查询' }).click();
    await page.waitForURL(`**/console/counter/cards/${card.cardNo}`);
    expect(await page.getByTestId('card-balance').textContent()).toContain('0.00');
    await checkPage(teller, 'counter-card-before');

    await page.getByRole('link', { name: '充值' }).click();
    await page.getByLabel('金额（元）').fill('50');
    await page.getByRole('button', { name: '下一步：确认' }).click();
    await checkPage(teller, 'counter-topup-review');
    await page.getByTestId('confirm').click();
    await page.waitForURL('**/console/counter/receipts/**');
    expect(await page.getByTestId('receipt-receipt.new-balance').textContent()).toBe('50.00');
    await checkPage(teller, 'counter-topup-receipt');

    await page.getByRole('link', { name: '返回卡片' }).click();
    expect(await page.getByTestId('card-balance').textContent()).toContain('50.00');
    expect(await page.getByTestId('card-reader-balance').textContent()).toContain('50.00');
    expect(await world.reader.balanceFen(card.cardNo)).toBe(5_000);
    // The load carries the person's name in the audit log and the branch of their organisation.
    const audit = await world.store.transaction((tx) =>
      tx.get<{ subject: string; branch_id: string }>("SELECT subject, branch_id FROM audit_log WHERE route = '/v1/loads' ORDER BY id DESC LIMIT 1"),
    );
    expect(audit).toMatchObject({ subject: STAFF.teller.username, branch_id: 'xidan' });
  });

  it('bad input is shown next to its field and changes nothing', async () => {
    const { page } = teller;
    const card = world.cards[3];
    const loads = await count('loads');
    await page.goto(`/console/counter/cards/${card.cardNo}/topup`);
    await page.getByLabel('金额（元）').fill('12.345');
    await page.getByRole('button', { name: '下一步：确认' }).click();
    const field = page.getByLabel('金额（元）');
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#e-amount').textContent()).toContain('两位小数');
    await checkPage(teller, 'counter-topup-bad-amount');
    expect(await count('loads')).toBe(loads);
  });

  it('a second submit of the same form loads once; a form without its CSRF token changes nothing', async () => {
    const { page, context } = teller;
    const card = world.cards[3];
    await page.goto(`/console/counter/cards/${card.cardNo}/topup`);
    await page.getByLabel('金额（元）').fill('10.00');
    await page.getByRole('button', { name: '下一步：确认' }).click();
    const form = page.locator('form[method="post"]').last();
    const fields = Object.fromEntries(
      await form
        .locator('input[type="hidden"]')
        .evaluateAll((inputs) => inputs.map((i) => [(i as unknown as { name: string }).name, (i as unknown as { value: string }).value])),
    ) as Record<string, string>;
    expect(fields.step).toBe('confirm');
    const before = await count('loads WHERE card_no = ?', [card.cardNo]);
    const url = `/console/counter/cards/${card.cardNo}/topup`;

    const noCsrf = { ...fields };
    delete noCsrf._csrf;
    const refused = await context.request.post(url, { form: noCsrf, maxRedirects: 0 });
    expect(refused.status()).toBe(403);
    expect(await count('loads WHERE card_no = ?', [card.cardNo])).toBe(before);

    // Two submits of the same rendered form at once (a double click that got through).
    const [first, second] = await Promise.all([
      context.request.post(url, { form: fields, maxRedirects: 0 }),
      context.request.post(url, { form: fields, maxRedirects: 0 }),
    ]);
    expect([first.status(), second.status()]).toEqual([303, 303]);
    expect(await count('loads WHERE card_no = ?', [card.cardNo])).toBe(before + 1);
    expect(await world.reader.balanceFen(card.cardNo)).toBe(6_000);
    // And once more later (a reload of the confirmation): the first receipt, nothing new.
    const again = await context.request.post(url, { form: fields, maxRedirects: 0 });
    expect(again.status()).toBe(303);
    expect(again.headers().location).toContain('replay=1');
    expect(await count('loads WHERE card_no = ?', [card.cardNo])).toBe(before + 1);
  });

  it('a teller cannot act on operations pages (cross-role request changes nothing)', async () => {
    const { page, context } = teller;
    await page.goto('/console/counter');
    const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
    const res = await context.request.post(`/console/ops/devices/${world.devices[0]}/revoke`, {
      form: { _csrf: csrf, formKey: '00000000-0000-4000-8000-000000000000', reason: 'not mine' },
      maxRedirects: 0,
    });
    expect(res.status()).toBe(403);
    expect(await count("auth_tokens WHERE role = 'device' AND subject = ? AND revoked_ms IS NULL", [world.devices[0]])).toBe(1);
    const view = await context.request.get('/console/ops', { maxRedirects: 0 });
    expect(view.status()).toBe(403);
  });

  it('a clerk whose channel may not top up neither sees nor can submit a top-up', async () => {
    const clerk = await openPage(browser, world.baseUrl);
    await signInStaff(clerk.page, STAFF.clerk);
    const card = world.cards[0];
    await clerk.page.goto(`/console/counter/cards/${card.cardNo}`);
    // A street service point: temporary loss and the (social-security) cancellation yes; transit top-up, park pass, refund no.
    expect(await clerk.page.locator('[data-action]').evaluateAll((links) => links.map((l) => l.getAttribute('data-action')))).toEqual([
      'loss-temporary',
      'cancellation',
    ]);
    await checkPage(clerk, 'counter-card-service-point');
    const form = await clerk.context.request.get(`/console/counter/cards/${card.cardNo}/topup`, { maxRedirects: 0 });
    expect(form.status()).toBe(403);
    const csrf = await clerk.page.locator('input[name="_csrf"]').first().inputValue();
    const loads = await count('loads');
    const res = await clerk.context.request.post(`/console/counter/cards/${card.cardNo}/topup`, {
      form: { _csrf: csrf, formKey: '00000000-0000-4000-8000-000000000002', amount: '10.00', paymentSource: 'cash', step: 'confirm' },
      maxRedirects: 0,
    });
    expect(res.status()).toBe(403);
    expect(await count('loads')).toBe(loads);
    await clerk.context.close();
  });

  it('a temporary loss report shows the card blacklisted', async () => {
    const { page } = teller;
    const card = world.cards[1];
    await page.goto(`/console/counter/cards/${card.cardNo}`);
    expect(await page.getByTestId('card-blacklist').textContent()).toContain('未列入黑名单');
    await page.getByRole('link', { name: '临时挂失', exact: true }).click();
    await page.getByRole('button', { name: '下一步：确认' }).click();
    await page.getByTestId('confirm').click();
    await page.waitForURL('**/console/counter/receipts/**');
    await checkPage(teller, 'counter-loss-receipt');
    await page.getByRole('link', { name: '返回卡片' }).click();
    expect(await page.getByTestId('card-status').textContent()).toBe('临时挂失');
    expect(await page.getByTestId('card-blacklist').textContent()).toContain('已列入黑名单');
    await checkPage(teller, 'counter-card-lost');
  });

  it('a broken-card refund shows its payable date and is paid after the jobs run', async () => {
    const { page } = teller;
    const card = world.cards[2];
    await page.goto(`/console/counter/cards/${card.cardNo}/refund`);
    await page.getByLabel('退款账号').fill('6222020200112233445');
    await page.getByLabel('账户名').fill(card.holderName);
    await page.getByRole('button', { name: '下一步：确认' }).click();
    await page.getByTestId('confirm').click();
    await page.waitForURL('**/console/counter/receipts/**');
    // Requested 2026-12-20: payable at the latest by the end of the second natural day.
    expect(await page.getByTestId('receipt-receipt.payable').textContent()).toBe('2026-12-22');
    await checkPage(teller, 'counter-refund-receipt');
    await page.getByRole('link', { name: '返回卡片' }).click();
    expect(await page.getByTestId('card-refund').textContent()).toContain('2026-12-22');
    expect(await page.getByTestId('card-status').textContent()).toBe('已退卡');

    await world.advance(3 * DAY_MS + REFUND_PAYOUT_MARGIN_MS);
    // Three days later the idle session has expired: sign in again.
    await page.reload();
    expect(page.url()).toContain('/console/sign-in');
    await signInStaff(page, STAFF.teller);
    await page.goto(`/console/counter/cards/${card.cardNo}`);
    expect(await page.getByTestId('card-refund').textContent()).toContain('已付');
    await checkPage(teller, 'counter-card-refunded');
  });

  it('finds the cards of a holder by ID number, and prints the shift report with its CSV', async () => {
    const { page } = teller;
    await page.goto('/console/counter');
    await page.getByLabel('卡号或证件号码').fill(world.cards[0].idNumber);
    await page.getByRole('button', { name: '查询' }).click();
    await expect.poll(() => page.getByRole('link', { name: world.cards[0].cardNo }).count()).toBe(1);
    await checkPage(teller, 'counter-holder-cards');

    await page.goto('/console/counter/report?day=2026-12-20');
    expect(await page.getByTestId('teller-total-loads').textContent()).toBe('2');
    expect(await page.getByTestId('teller-total-loaded').textContent()).toBe('60.00');
    await checkPage(teller, 'counter-teller-report');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('teller-csv').click()]);
    const csv = await (await download.createReadStream()).toArray();
    const text = Buffer.concat(csv).toString('utf8');
    expect(text.charCodeAt(0)).toBe(0xfeff);
    expect(text).toContain('60.00');
  });

  it('the English switch and sign-out', async () => {
    const { page } = teller;
    await page.goto('/console/counter');
    await page.getByRole('link', { name: 'English' }).click();
    expect(await page.locator('h1').textContent()).toBe('Counter');
    await checkPage(teller, 'counter-find-en');
    await page.getByRole('link', { name: '中文' }).click();
    await page.getByRole('button', { name: '退出' }).click();
    await page.waitForURL('**/console/sign-in');
    const after = await teller.context.request.get('/console/counter', { maxRedirects: 0 });
    expect(after.status()).toBe(303);
  });
});
