/**
 * `npm run screenshots`: the console's pages as docs/console.md shows them, taken in Debian's
 * Chromium from the same sandbox world the browser suites use (test/console/support), on its
 * fixed clock (2026-12-20 10:00 Beijing) and seed, so a run changes a picture only when the page
 * changed. Writes docs/console/*.png. Exit 0 done, 1 failed (one line), 2 usage.
 */
import { join } from 'node:path';
import { launchBrowser, openPage, screenshot, signInStaff } from '#test/console/support/browser';
import { STAFF, startConsoleWorld } from '#test/console/support/console-world';

const USAGE = 'usage: npm run screenshots [-- --out DIR]   (default docs/console)';

async function main(argv: string[]): Promise<number> {
  let out = join(process.cwd(), 'docs', 'console');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && argv[i + 1]) out = argv[++i];
    else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`unknown option ${argv[i]}\n${USAGE}`);
      return 2;
    }
  }
  const world = await startConsoleWorld();
  const browser = await launchBrowser();
  const shots: string[] = [];
  const shot = async (page: Parameters<typeof screenshot>[0], name: string) => shots.push(await screenshot(page, name, out));
  try {
    const card = world.cards[0];
    // Counter: a teller of a partner-bank branch.
    const teller = await openPage(browser, world.baseUrl);
    await teller.page.goto('/console/sign-in');
    await shot(teller.page, 'sign-in');
    await signInStaff(teller.page, STAFF.teller);
    await teller.page.goto(`/console/counter/cards/${card.cardNo}`);
    await shot(teller.page, 'counter-card');
    await teller.page.goto(`/console/counter/cards/${card.cardNo}/topup`);
    await teller.page.getByLabel('金额（元）').fill('100.00');
    await teller.page.getByRole('button', { name: '下一步：确认' }).click();
    await shot(teller.page, 'counter-topup-confirm');
    await teller.page.getByTestId('confirm').click();
    await teller.page.waitForURL('**/console/counter/receipts/**');
    await shot(teller.page, 'counter-topup-receipt');
    await teller.page.goto(`/console/counter/cards/${world.cards[1].cardNo}/loss-temporary`);
    await teller.page.getByRole('button', { name: '下一步：确认' }).click();
    await teller.page.getByTestId('confirm').click();
    await teller.page.goto(`/console/counter/cards/${world.cards[1].cardNo}`);
    await shot(teller.page, 'counter-card-lost');
    // The holder then reports it lost formally and gets a new card.
    await teller.page.goto(`/console/counter/cards/${world.cards[1].cardNo}/loss-formal`);
    await teller.page.getByRole('button', { name: '下一步：确认' }).click();
    await teller.page.getByTestId('confirm').click();
    await teller.page.waitForURL('**/console/counter/receipts/**');
    await teller.page.goto(`/console/counter/cards/${world.cards[1].cardNo}/replacement`);
    await teller.page.getByRole('button', { name: '下一步：确认' }).click();
    await shot(teller.page, 'counter-replacement-confirm');
    await teller.page.getByTestId('confirm').click();
    await teller.page.waitForURL('**/console/counter/receipts/**');
    await shot(teller.page, 'counter-replacement-receipt');
    // A validator blocked the first card (blacklisted elsewhere, say); the teller unblocks it with the card on the reader.
    await world.blockCard(card.cardNo);
    await teller.page.goto(`/console/counter/cards/${card.cardNo}`);
    await shot(teller.page, 'counter-card-blocked');
    await teller.page.goto(`/console/counter/cards/${card.cardNo}/unblock`);
    await teller.page.getByRole('button', { name: '下一步：确认' }).click();
    await teller.page.getByTestId('confirm').click();
    await teller.page.waitForURL('**/console/counter/receipts/**');
    await shot(teller.page, 'counter-unblock-receipt');
    // A top-up whose card lost power right after the write: pending; voided by mistake, then the card's log shows it credited.
    const torn = world.cards[3];
    await world.sandbox!.cards.tear(torn.cardNo, { command: 'creditForLoad', moment: 'after-write' });
    await teller.page.goto(`/console/counter/cards/${torn.cardNo}/topup`);
    await teller.page.getByLabel('金额（元）').fill('30.00');
    await teller.page.getByRole('button', { name: '下一步：确认' }).click();
    await teller.page.getByTestId('confirm').click();
    await teller.page.waitForURL('**/console/counter/receipts/**');
    await shot(teller.page, 'counter-topup-torn');
    await teller.page.goto(`/console/counter/cards/${torn.cardNo}`);
    await shot(teller.page, 'counter-card-pending');
    await teller.page.goto(`/console/counter/cards/${torn.cardNo}/void-load`);
    await teller.page.getByRole('button', { name: '下一步：确认' }).click();
    await shot(teller.page, 'counter-void-confirm');
    await teller.page.getByTestId('confirm').click();
    await teller.page.waitForURL('**/console/counter/receipts/**');
    await teller.page.goto(`/console/counter/cards/${torn.cardNo}/read-log`);
    await teller.page.getByRole('button', { name: '下一步：确认' }).click();
    await teller.page.getByTestId('confirm').click();
    await teller.page.waitForURL('**/console/counter/receipts/**');
    await shot(teller.page, 'counter-read-log-receipt');
    await teller.page.goto(`/console/counter/cards/${card.cardNo}/cancellation`);
    await shot(teller.page, 'counter-cancellation-form');
    await teller.page.goto(`/console/counter/cards/${world.cards[2].cardNo}/refund`);
    await teller.page.getByLabel('退款账号').fill('6222020200112233445');
    await teller.page.getByLabel('账户名').fill(world.cards[2].holderName);
    await teller.page.getByRole('button', { name: '下一步：确认' }).click();
    await teller.page.getByTestId('confirm').click();
    await teller.page.waitForURL('**/console/counter/receipts/**');
    await shot(teller.page, 'counter-refund-receipt');
    await teller.page.goto('/console/counter/report?day=2026-12-20');
    await shot(teller.page, 'counter-teller-report');
    await teller.page.goto(`/console/counter/cards/${card.cardNo}?lang=en`);
    await shot(teller.page, 'counter-card-en');
    await teller.context.close();

    const clerk = await openPage(browser, world.baseUrl);
    await signInStaff(clerk.page, STAFF.clerk);
    await clerk.page.goto(`/console/counter/cards/${card.cardNo}`);
    await shot(clerk.page, 'counter-card-service-point');
    await clerk.context.close();

    // Operations.
    const ops = await openPage(browser, world.baseUrl);
    await signInStaff(ops.page, STAFF.opsAdmin);
    await ops.page.waitForSelector('body[data-charts-ready="1"]');
    await shot(ops.page, 'ops-dashboard');
    for (const [path, name] of [
      ['/console/ops/devices', 'ops-devices'],
      ['/console/ops/blacklist', 'ops-blacklist'],
      ['/console/ops/ledger', 'ops-ledger'],
      ['/console/ops/clearing?day=2026-12-20', 'ops-clearing'],
      ['/console/ops/audit', 'ops-audit'],
      ['/console/ops/staff', 'ops-staff'],
      ['/console/ops/anomalies', 'ops-anomalies'],
      ['/console/ops/tokens', 'ops-tokens'],
    ]) {
      await ops.page.goto(path);
      await shot(ops.page, name);
    }
    // A new fare table: the adult bus discount 50 % -> 60 % from 2027-01-01.
    await ops.page.goto('/console/ops/fares/new');
    const bundleField = ops.page.getByLabel('票价表（fare-tables/1 JSON）');
    const bundle = JSON.parse(await bundleField.inputValue()) as { busPolicy: { profilePercent: { adult: number } } };
    bundle.busPolicy.profilePercent.adult = 60;
    await bundleField.fill(JSON.stringify(bundle, null, 1));
    await ops.page.getByLabel('生效日期（北京时间零点）').fill('2027-01-01');
    await ops.page.getByRole('button', { name: '下一步：确认' }).click();
    await shot(ops.page, 'ops-fare-review');
    await ops.page.getByTestId('confirm').click();
    await ops.page.waitForURL('**/console/ops/fares?done=published');
    await shot(ops.page, 'ops-fares');
    await ops.page.goto('/console/ops/fares/diff?a=1&b=2');
    await shot(ops.page, 'ops-fare-diff');
    await ops.context.close();

    // Cardholder, at phone width.
    const holder = await openPage(browser, world.baseUrl, { mobile: true });
    await holder.page.goto('/console/my/sign-in');
    await shot(holder.page, 'my-sign-in');
    await holder.page.getByLabel('卡号').fill(card.cardNo);
    await holder.page.getByLabel('服务密码').fill(card.idNumber.slice(-6));
    await holder.page.getByRole('button', { name: '登录' }).click();
    await holder.page.waitForURL('**/console/my/password');
    await shot(holder.page, 'my-password');
    await holder.page.getByLabel('当前密码').fill(card.idNumber.slice(-6));
    await holder.page.getByLabel('新密码').fill('my-own-secret');
    await holder.page.getByRole('button', { name: '修改' }).click();
    await holder.page.waitForURL('**/console/my?done=password');
    await holder.page.getByTestId('buy-park-pass').click();
    await holder.page.waitForURL('**/console/my/park-pass');
    await shot(holder.page, 'my-park-pass');
    await holder.page.getByTestId('confirm').click();
    await holder.page.waitForURL('**/console/my?done=park-pass');
    await shot(holder.page, 'my-card');
    await holder.context.close();
  } finally {
    await browser.close();
    await world.close();
  }
  for (const path of shots) console.log(path);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`screenshots failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
