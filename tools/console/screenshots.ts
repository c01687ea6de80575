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
    ]) {
      await ops.page.goto(path);
      await shot(ops.page, name);
    }
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
