/**
 * The counter's card-life actions in Chromium (issue 15), each through the JSON route and, where
 * the card must be present, the sandbox card reader: a card a validator blocked is unblocked; a
 * top-up torn at the card is resolved by reading the card's log, another by voiding the
 * branch's own pending load; suburban rail is opened and written to the card; a formally lost
 * card is replaced (the receipt leads to the new card); a card is cancelled with its transit
 * balance refunded (payable date on the receipt). A street service point's clerk is offered the
 * social-security cancellation only, and the server refuses the whole-card one anyway. Every
 * page: no serious/critical axe violation, no console error.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../support/services.ts';
import { type ConsolePage, launchBrowser, openPage, signInStaff, checkPage } from './support/browser.ts';
import { type ConsoleWorld, STAFF, startConsoleWorld } from './support/console-world.ts';

const up = serviceAvailable('chromium', 'console counter card-life actions (test/console/counter-card-life.test.ts)');

describe.skipIf(!up)('counter card-life actions in Chromium', () => {
  let world: ConsoleWorld;
  let browser: Browser;
  let teller: ConsolePage;

  beforeAll(async () => {
    [world, browser] = await Promise.all([startConsoleWorld({ taps: false }), launchBrowser()]);
    teller = await openPage(browser, world.baseUrl);
    await signInStaff(teller.page, STAFF.teller);
  });
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  const offered = (p: ConsolePage) => p.page.locator('[data-action]').evaluateAll((links) => links.map((l) => l.getAttribute('data-action')));

  /** Opens the action from the card page, reviews it, confirms it; the receipt page. */
  async function act(cardNo: string, action: string, fill?: () => Promise<void>, shot?: string): Promise<void> {
    const { page } = teller;
    await page.goto(`/console/counter/cards/${cardNo}`);
    await page.locator(`[data-action="${action}"]`).click();
    await fill?.();
    await page.getByRole('button', { name: '下一步：确认' }).click();
    if (shot) await checkPage(teller, `${shot}-confirm`);
    await page.getByTestId('confirm').click();
    await page.waitForURL('**/console/counter/receipts/**');
    if (shot) await checkPage(teller, `${shot}-receipt`);
  }

  const loadStatus = async (id: string) =>
    (await world.store.transaction((tx) => tx.get<{ status: string }>('SELECT status FROM loads WHERE id = ?', [id]), { readOnly: true }))?.status;

  it('unblocks a card a validator blocked, through the card reader', async () => {
    const card = world.cards[0];
    await world.blockCard(card.cardNo);
    expect(await world.reader.locked(card.cardNo)).toBe(true);
    await teller.page.goto(`/console/counter/cards/${card.cardNo}`);
    expect(await teller.page.getByTestId('card-locked').textContent()).toContain('已被闸机锁定');
    expect(await offered(teller)).toContain('unblock');
    await act(card.cardNo, 'unblock', undefined, 'counter-unblock');
    expect(await teller.page.getByTestId('receipt-receipt.card-unlocked').textContent()).toBe('是');
    expect(await world.reader.locked(card.cardNo)).toBe(false);
    await teller.page.getByRole('link', { name: '返回卡片' }).click();
    expect(await teller.page.getByTestId('card-locked').textContent()).toContain('未锁定');
    expect(await offered(teller)).not.toContain('unblock');
  });

  it('a top-up torn at the card is settled by reading the card log; another is voided by the branch', async () => {
    const { page } = teller;
    const card = world.cards[3]; // empty
    // The card loses power right after it wrote the credit: the receipt says pending.
    await world.sandbox!.cards.tear(card.cardNo, { command: 'creditForLoad', moment: 'after-write' });
    await act(card.cardNo, 'topup', () => page.getByLabel('金额（元）').fill('30'));
    expect(await page.locator('.receipt .problem').textContent()).toContain('充值待确认');
    const firstId = String(await page.getByTestId('receipt-receipt.load-id').textContent());
    expect(await loadStatus(firstId)).toBe('pending');
    await page.goto(`/console/counter/cards/${card.cardNo}`);
    expect(await page.getByTestId('card-pending').textContent()).toContain(`#${firstId}`);
    expect(await offered(teller)).toEqual(expect.arrayContaining(['read-log', 'void-load']));
    await checkPage(teller, 'counter-card-pending');

    await act(card.cardNo, 'read-log', undefined, 'counter-read-log');
    expect(await page.getByTestId('receipt-receipt.confirmed').textContent()).toBe(`#${firstId}`);
    expect(await loadStatus(firstId)).toBe('confirmed');
    expect(await page.getByTestId('receipt-receipt.new-balance').textContent()).toBe('30.00');

    // Torn before the write: the card never got it; the teller voids the branch's own load.
    await world.sandbox!.cards.tear(card.cardNo, { command: 'creditForLoad', moment: 'before-write' });
    await act(card.cardNo, 'topup', () => page.getByLabel('金额（元）').fill('20'));
    const secondId = String(await page.getByTestId('receipt-receipt.load-id').textContent());
    expect(await loadStatus(secondId)).toBe('pending');
    await act(card.cardNo, 'void-load', async () => {
      expect(await page.getByLabel('待确认充值').inputValue()).toBe(secondId);
    });
    expect(await page.getByTestId('receipt-receipt.load-status').textContent()).toBe('已撤销');
    expect(await loadStatus(secondId)).toBe('voided');
    expect(await world.reader.balanceFen(card.cardNo)).toBe(3_000);
    await page.goto(`/console/counter/cards/${card.cardNo}`);
    expect(await page.getByTestId('card-pending').textContent()).toContain('无');
    expect(await offered(teller)).not.toContain('void-load');
  });

  it('opens suburban rail and writes it to the card', async () => {
    const card = world.cards[1];
    await act(card.cardNo, 'suburban', undefined, 'counter-suburban');
    await teller.page.getByRole('link', { name: '返回卡片' }).click();
    expect(await teller.page.getByTestId('card-functions').textContent()).toContain('市郊铁路');
    const image = await world.sandbox!.cards.image(card.cardNo);
    expect(image.suburbanOpened).toBe(true);
    expect(await offered(teller)).not.toContain('suburban');
  });

  it('replaces a formally lost card; the receipt leads to the new card', async () => {
    const { page } = teller;
    const card = world.cards[2];
    await act(card.cardNo, 'loss-formal');
    await page.goto(`/console/counter/cards/${card.cardNo}`);
    expect(await offered(teller)).toContain('replacement');
    await act(card.cardNo, 'replacement', undefined, 'counter-replacement');
    const newCardNo = String(await page.getByTestId('receipt-receipt.new-card').textContent());
    expect(newCardNo).toMatch(/^[0-9]{16}$/);
    expect(newCardNo).not.toBe(card.cardNo);
    await page.getByTestId('new-card-link').click();
    await page.waitForURL(`**/console/counter/cards/${newCardNo}`);
    expect(await page.getByTestId('card-status').textContent()).toBe('正常');
    await checkPage(teller, 'counter-card-new');
    await page.goto(`/console/counter/cards/${card.cardNo}`);
    expect(await page.getByTestId('card-status').textContent()).toBe('已补卡');
    expect(await offered(teller)).not.toContain('replacement');
  });

  it("cancels a card with its transit balance refunded; a service point's clerk cancels the social-security function only", async () => {
    const { page } = teller;
    // A service point: only the social-security scope is offered, and the whole card is refused by the route.
    const clerk = await openPage(browser, world.baseUrl);
    await signInStaff(clerk.page, STAFF.clerk);
    const card = world.cards[1];
    await clerk.page.goto(`/console/counter/cards/${card.cardNo}/cancellation`);
    const scopes = await clerk.page.locator('input[name="scope"]').evaluateAll((inputs) => inputs.map((i) => (i as unknown as { value: string }).value));
    expect(scopes).toEqual(['social-security']);
    await checkPage(clerk, 'counter-cancel-service-point');
    const fields = {
      _csrf: await clerk.page.locator('input[name="_csrf"]').first().inputValue(),
      formKey: await clerk.page.locator('input[name="formKey"]').inputValue(),
      scope: 'card',
      step: 'confirm',
    };
    const refused = await clerk.context.request.post(`/console/counter/cards/${card.cardNo}/cancellation`, { form: fields, maxRedirects: 0 });
    expect(refused.status()).toBe(409);
    expect(await refused.text()).toContain('本渠道不办理此业务');
    await clerk.context.close();
    await page.goto(`/console/counter/cards/${card.cardNo}`);
    expect(await page.getByTestId('card-status').textContent()).toBe('正常');

    // At the issuing bank: the whole card, the balance refunded to the account.
    await act(
      card.cardNo,
      'cancellation',
      async () => {
        await page.getByLabel('整张卡（交通余额退款）').check();
        await page.getByLabel('退款账号').fill('6222020200112233445');
        await page.getByLabel('账户名').fill(card.holderName);
      },
      'counter-cancellation',
    );
    expect(await page.getByTestId('receipt-card.status').textContent()).toBe('已注销');
    expect(await page.getByTestId('receipt-receipt.payable').textContent()).toBe('2026-12-22');
    await page.getByRole('link', { name: '返回卡片' }).click();
    expect(await page.getByTestId('card-blacklist').textContent()).toContain('已列入黑名单');
    expect(await page.getByTestId('card-refund').textContent()).toContain('70.00');
  });
});
