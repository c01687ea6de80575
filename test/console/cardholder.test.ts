/**
 * The cardholder pages at phone width in Chromium: sign in with the card number and the initial
 * service password (the last 6 characters of the ID number), be made to change it first, then
 * see the balance and the trips synced from the gates; report the card lost (temporary), which
 * a second submit does not repeat. A wrong password is refused next to its field.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../support/services.ts';
import { type ConsolePage, launchBrowser, openPage, checkPage } from './support/browser.ts';
import { type ConsoleWorld, startConsoleWorld } from './support/console-world.ts';

const up = serviceAvailable('chromium', 'console cardholder pages (test/console/cardholder.test.ts)');

describe.skipIf(!up)('cardholder pages in Chromium (phone width)', () => {
  let world: ConsoleWorld;
  let browser: Browser;
  let holder: ConsolePage;

  beforeAll(async () => {
    [world, browser] = await Promise.all([startConsoleWorld(), launchBrowser()]);
    holder = await openPage(browser, world.baseUrl, { mobile: true });
  });
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it('changes the initial password, then sees the balance and the trips', async () => {
    const { page } = holder;
    const card = world.cards[0];
    await page.goto('/console/my/sign-in');
    await checkPage(holder, 'my-sign-in');
    await page.getByLabel('卡号').fill(card.cardNo);
    await page.getByLabel('服务密码').fill('000000');
    await page.getByRole('button', { name: '登录' }).click();
    expect(await page.locator('#e-password').textContent()).toBe('用户名或密码错误');
    await page.getByLabel('服务密码').fill(card.idNumber.slice(-6));
    await page.getByRole('button', { name: '登录' }).click();
    await page.waitForURL('**/console/my/password');
    // Nothing else is reachable before the change.
    await page.goto('/console/my');
    await page.waitForURL('**/console/my/password');
    await checkPage(holder, 'my-password');
    await page.getByLabel('当前密码').fill(card.idNumber.slice(-6));
    await page.getByLabel('新密码').fill('my-own-secret');
    await page.getByRole('button', { name: '修改' }).click();
    await page.waitForURL('**/console/my?done=password');
    // Loaded 50.00, then the morning's rides.
    const balance = Number.parseFloat(String(await page.getByTestId('my-balance').textContent()));
    expect(balance).toBeGreaterThan(0);
    expect(balance).toBeLessThan(50);
    const trips = page.getByTestId('my-trips').locator('li');
    expect(await trips.count()).toBeGreaterThan(5);
    expect(await page.getByTestId('my-trips').textContent()).toContain('XIDAN-G1');
    await checkPage(holder, 'my-card');
  });

  it('reports the card lost once, even when the form is sent twice', async () => {
    const { page, context } = holder;
    const card = world.cards[0];
    await page.goto('/console/my');
    const fields = {
      _csrf: await page.locator('form[action="/console/my/loss"] input[name="_csrf"]').inputValue(),
      formKey: await page.locator('form[action="/console/my/loss"] input[name="formKey"]').inputValue(),
    };
    const [a, b] = await Promise.all([
      context.request.post('/console/my/loss', { form: fields, maxRedirects: 0 }),
      context.request.post('/console/my/loss', { form: fields, maxRedirects: 0 }),
    ]);
    expect([a.status(), b.status()]).toEqual([303, 303]);
    const reports = await world.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM loss_reports WHERE card_no = ?', [card.cardNo]));
    expect(Number(reports?.n)).toBe(1);
    await page.goto('/console/my');
    expect(await page.getByTestId('my-status').textContent()).toBe('临时挂失');
    await checkPage(holder, 'my-card-lost');
  });

  it('buys the park pass with the card on the reader (sandbox) and sees it with its visits; a second submit buys once', async () => {
    const other = await openPage(browser, world.baseUrl, { mobile: true });
    const { page, context } = other;
    const card = world.cards[1];
    await page.goto('/console/my/sign-in');
    await page.getByLabel('卡号').fill(card.cardNo);
    await page.getByLabel('服务密码').fill(card.idNumber.slice(-6));
    await page.getByRole('button', { name: '登录' }).click();
    await page.waitForURL('**/console/my/password');
    await page.getByLabel('当前密码').fill(card.idNumber.slice(-6));
    await page.getByLabel('新密码').fill('park-lover-1');
    await page.getByRole('button', { name: '修改' }).click();
    await page.waitForURL('**/console/my?done=password');
    expect(await page.getByTestId('my-passes').locator('li').count()).toBe(0);
    await page.getByTestId('buy-park-pass').click();
    await page.waitForURL('**/console/my/park-pass');
    expect(await page.getByTestId('pass-price').textContent()).toMatch(/^\d+\.\d{2}$/);
    await checkPage(other, 'my-park-pass-confirm');
    const fields = {
      _csrf: await page.locator('form[action="/console/my/park-pass"] input[name="_csrf"]').inputValue(),
      formKey: await page.locator('form[action="/console/my/park-pass"] input[name="formKey"]').inputValue(),
    };
    const [a, b] = await Promise.all([
      context.request.post('/console/my/park-pass', { form: fields, maxRedirects: 0 }),
      context.request.post('/console/my/park-pass', { form: fields, maxRedirects: 0 }),
    ]);
    expect([a.status(), b.status()]).toEqual([303, 303]);
    const sales = await world.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM park_pass_sales WHERE card_no = ?', [card.cardNo]));
    expect(Number(sales?.n)).toBe(1);
    // Written on the card: the 2027 pass (sold in the December window), no visits yet.
    expect((await world.reader.parkPasses(card.cardNo)).map((p) => p.year)).toContain(2027);
    await page.goto('/console/my');
    expect(await page.getByTestId('my-passes').textContent()).toContain('2027');
    expect(await page.getByTestId('my-visits-2027').textContent()).toBe('0');
    await checkPage(other, 'my-card-park-pass');
    await context.close();
  });
});
