/**
 * The console's operations pages in Chromium: the day's charts drawn by Chart.js (from the day's
 * synced taps and loads), a device revoked from its page (its credential then refused at sync),
 * the clearing report exported as CSV (the API's CSV: BOM, yuan and fen), the ledger's
 * discrepancy shown 0.00 in green, the audit log naming the person, staff created and disabled
 * (the disabled person's session ends at once). An operations viewer sees but cannot act.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../support/services.ts';
import { type ConsolePage, launchBrowser, openPage, signInStaff, checkPage } from './support/browser.ts';
import { type ConsoleWorld, STAFF, startConsoleWorld } from './support/console-world.ts';

const up = serviceAvailable('chromium', 'console operations pages (test/console/ops.test.ts)');

describe.skipIf(!up)('operations pages in Chromium', () => {
  let world: ConsoleWorld;
  let browser: Browser;
  let ops: ConsolePage;

  beforeAll(async () => {
    [world, browser] = await Promise.all([startConsoleWorld(), launchBrowser()]);
    ops = await openPage(browser, world.baseUrl);
    await signInStaff(ops.page, STAFF.opsAdmin);
  });
  afterAll(async () => {
    await browser?.close();
    await world?.close();
  });

  it("shows the day's charts", async () => {
    const { page } = ops;
    await page.waitForURL('**/console/ops');
    await page.waitForSelector('body[data-charts-ready="1"]');
    // Chart.js drew into every canvas (a drawn canvas has non-blank pixels).
    const drawn = await page.locator('canvas[data-chart]').evaluateAll((canvases) =>
      canvases.map((c) => {
        const canvas = c as unknown as {
          width: number;
          height: number;
          getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
        };
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
        return painted;
      }),
    );
    expect(drawn).toHaveLength(4);
    for (const painted of drawn) expect(painted).toBeGreaterThan(100);
    // The synced taps of the morning are counted (3 cards x 3 gates x 4 times + 3 P+R stays, some refused for funds).
    expect(Number(await page.getByTestId('total-taps').textContent())).toBeGreaterThan(10);
    await checkPage(ops, 'ops-dashboard');
  });

  it('revokes a device from its page', async () => {
    const { page } = ops;
    const deviceId = world.devices[2];
    await page.goto('/console/ops/devices');
    await checkPage(ops, 'ops-devices');
    await page.getByLabel(`吊销原因 ${deviceId}`).fill('validator stolen from bus 1');
    await page.getByTestId(`revoke-${deviceId}`).click();
    await page.waitForURL('**/console/ops/devices?done=revoked');
    const live = await world.store.transaction((tx) =>
      tx.get<{ n: number }>("SELECT COUNT(*) AS n FROM auth_tokens WHERE role = 'device' AND subject = ? AND revoked_ms IS NULL", [deviceId]),
    );
    expect(Number(live?.n)).toBe(0);
    const audit = await world.store.transaction((tx) =>
      tx.get<{ subject: string; target: string }>(
        "SELECT subject, target FROM audit_log WHERE route = '/v1/devices/:deviceId/revocation' ORDER BY id DESC LIMIT 1",
      ),
    );
    expect(audit).toEqual({ subject: STAFF.opsAdmin.username, target: deviceId });
    expect(await page.getByTestId(`credential-${deviceId}`).textContent()).toContain('已吊销');
  });

  it('exports the clearing report as CSV', async () => {
    const { page } = ops;
    await page.goto('/console/ops/clearing?day=2026-12-20');
    await checkPage(ops, 'ops-clearing');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('clearing-csv').click()]);
    expect(download.suggestedFilename()).toMatch(/clearing.*2026-12-20.*\.csv$/);
    const text = Buffer.concat(await (await download.createReadStream()).toArray()).toString('utf8');
    expect(text.charCodeAt(0)).toBe(0xfeff);
    const [header, ...rows] = text.slice(1).trim().split(/\r?\n/);
    expect(header).toContain('amount_yuan');
    expect(rows.find((r) => r.includes('subway'))).toMatch(/,\d+\.\d{2},\d+,/);
  });

  it('shows the reconciliation at 0.00 in green, the blacklist and the audit log naming people', async () => {
    const { page } = ops;
    await page.goto('/console/ops/ledger');
    expect(await page.getByTestId('discrepancy').textContent()).toBe('0.00');
    expect(await page.locator('.discrepancy').getAttribute('class')).toContain('good');
    await checkPage(ops, 'ops-ledger');
    await page.goto('/console/ops/blacklist');
    await checkPage(ops, 'ops-blacklist');
    await page.goto('/console/ops/audit');
    await page.getByLabel('按操作人或对象筛选').fill(STAFF.opsAdmin.username);
    await page.getByRole('button', { name: '查询' }).click();
    expect(await page.locator('tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('tbody').textContent()).toContain('/v1/devices/:deviceId/revocation');
    await checkPage(ops, 'ops-audit');
  });

  it('creates a teller, who must change the password; disabling ends their session', async () => {
    const { page } = ops;
    await page.goto('/console/ops/staff');
    await page.getByLabel('用户名').fill('x');
    await page.getByLabel('姓名').fill('新柜员');
    await page.getByLabel('初始密码').fill('short');
    await page.getByRole('button', { name: '新增人员' }).click();
    expect(await page.locator('#e-username').textContent()).toContain('3-40');
    expect(await page.locator('#e-password').textContent()).toContain('8');
    await checkPage(ops, 'ops-staff-errors');
    await page.getByLabel('用户名').fill('new.teller');
    await page.getByLabel('姓名').fill('新柜员');
    await page.getByLabel('所属机构').fill('icbc-xidan');
    await page.getByLabel('角色').selectOption('teller');
    await page.getByLabel('初始密码').fill('first-pass-1');
    await page.getByRole('button', { name: '新增人员' }).click();
    await page.waitForURL('**/console/ops/staff');
    expect(await page.locator('tbody').textContent()).toContain('new.teller');
    await checkPage(ops, 'ops-staff');

    const newcomer = await openPage(browser, world.baseUrl);
    await signInStaff(newcomer.page, { ...STAFF.teller, username: 'new.teller' }, 'first-pass-1');
    await newcomer.page.waitForURL('**/console/password');
    await newcomer.page.getByLabel('当前密码').fill('first-pass-1');
    await newcomer.page.getByLabel('新密码').fill('second-pass-2');
    await newcomer.page.getByRole('button', { name: '修改' }).click();
    await newcomer.page.waitForURL('**/console/counter');

    await page.locator('tr', { hasText: 'new.teller' }).getByRole('button', { name: '停用' }).click();
    await page.waitForURL('**/console/ops/staff');
    await newcomer.page.reload();
    expect(newcomer.page.url()).toContain('/console/sign-in');
    await newcomer.context.close();
  });

  it('publishes a fare table with its effective date after seeing the difference, and compares versions', async () => {
    const { page } = ops;
    await page.goto('/console/ops/fares');
    expect(await page.getByTestId('in-force').count()).toBe(1);
    await checkPage(ops, 'ops-fares-before');
    await page.getByRole('link', { name: '发布新版本' }).click();
    await page.waitForURL('**/console/ops/fares/new');
    expect(await page.getByLabel('版本').inputValue()).toBe('2');
    await checkPage(ops, 'ops-fare-new');

    // Not JSON: said next to the field, nothing published.
    const draft = await page.getByLabel('票价表（fare-tables/1 JSON）').inputValue();
    await page.getByLabel('票价表（fare-tables/1 JSON）').fill('{ not json');
    await page.getByRole('button', { name: '下一步：确认' }).click();
    expect(await page.locator('#e-bundle').textContent()).toBe('不是有效的 JSON 对象');
    const published = async () => Number((await world.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM fare_tables')))?.n);
    expect(await published()).toBe(0);

    // The adult bus discount goes from 50 % to 60 % from 2027-01-01.
    const bundle = JSON.parse(draft) as { busPolicy: { profilePercent: { adult: number } } };
    bundle.busPolicy.profilePercent.adult = 60;
    await page.getByLabel('票价表（fare-tables/1 JSON）').fill(JSON.stringify(bundle));
    await page.getByLabel('生效日期（北京时间零点）').fill('2027-01-01');
    await page.getByRole('button', { name: '下一步：确认' }).click();
    const diff = page.getByTestId('fare-diff');
    expect(await diff.textContent()).toContain('busPolicy.profilePercent.adult');
    expect(await page.getByTestId('fare-effective').textContent()).toContain('2027-01-01');
    await checkPage(ops, 'ops-fare-review');
    await page.getByTestId('confirm').click();
    await page.waitForURL('**/console/ops/fares?done=published');
    expect(await published()).toBe(1);
    expect(await page.getByTestId('fare-versions').textContent()).toContain('待生效');
    await checkPage(ops, 'ops-fares');

    await page.getByRole('button', { name: '查看差异' }).click();
    await page.waitForURL('**/console/ops/fares/diff?a=1&b=2');
    const rows = await page.getByTestId('fare-diff').locator('tbody tr').allTextContents();
    expect(rows.some((r) => r.includes('busPolicy.profilePercent.adult') && r.includes('50') && r.includes('60'))).toBe(true);
    expect(rows.some((r) => r.startsWith('effectiveFromMs'))).toBe(true);
    await checkPage(ops, 'ops-fare-diff');
    await page.goto('/console/ops/fares/2');
    expect(Number(await page.getByTestId('fare-sections').textContent())).toBeGreaterThan(100);
    await checkPage(ops, 'ops-fare-version');
    const audit = await world.store.transaction((tx) =>
      tx.get<{ subject: string; target: string }>("SELECT subject, target FROM audit_log WHERE route = '/v1/fare-tables'"),
    );
    expect(audit).toEqual({ subject: STAFF.opsAdmin.username, target: 'v2' });
  });

  it('shows a money anomaly with its evidence', async () => {
    const { page } = ops;
    // A teller voids a top-up the card had in fact taken; the card's log read later reinstates it.
    const token = await world.api('POST', '/v1/auth/tokens', { role: 'counter', label: 'anomaly', branchId: 'icbc-chaoyang' });
    const counter = { authorization: `Bearer ${token.body.token}` };
    const card = world.cards[3];
    const init = await world.reader.initializeForLoad(card.cardNo, 2_000);
    const load = await world.api(
      'POST',
      '/v1/loads',
      { cardNo: card.cardNo, amount: '20.00', paymentSource: 'cash', terminalId: world.reader.terminalId, ...init.value },
      { ...counter, 'idempotency-key': 'anomaly-load' },
    );
    expect(load.status).toBe(201);
    expect((await world.reader.creditForLoad(card.cardNo, load.body.date, load.body.time, load.body.mac2)).value).not.toBeNull();
    expect((await world.api('POST', `/v1/loads/${load.body.id}/void`, undefined, counter)).status).toBe(200);
    const evidence = await world.reader.readLoadEvidence(card.cardNo);
    const settled = await world.api('POST', `/v1/cards/${card.cardNo}/log-evidence`, evidence.value, counter);
    expect(settled.body.reinstated).toEqual([String(load.body.id)]);

    await page.goto('/console/ops/anomalies');
    const anomaly = page.getByTestId('anomaly').first();
    expect(await anomaly.locator('h2').textContent()).toContain('撤销的充值已写入卡片');
    expect(await anomaly.locator('table').textContent()).toContain('void-reversed');
    expect(await anomaly.textContent()).toContain(card.cardNo);
    await checkPage(ops, 'ops-anomalies');
  });

  it('issues an integration token shown once, and revokes it (refused at once)', async () => {
    const { page } = ops;
    await page.goto('/console/ops/tokens');
    await page.getByLabel('用途').fill('西单柜面系统');
    await page.getByLabel('所属机构', { exact: true }).fill('icbc-xidan');
    await page.getByRole('button', { name: '签发令牌' }).click();
    const token = String(await page.getByTestId('issued-token').textContent());
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await checkPage(ops, 'ops-token-issued');
    // Never stored: the form's kept outcome holds no token.
    const kept = await world.store.transaction((tx) => tx.all<{ result_json: string | null }>('SELECT result_json FROM console_form_results'));
    expect(kept.some((r) => String(r.result_json).includes(token))).toBe(false);
    const bearer = { authorization: `Bearer ${token}` };
    expect((await world.api('GET', `/v1/cards/${world.cards[0].cardNo}`, undefined, bearer)).status).toBe(200);

    await page.goto('/console/ops/tokens');
    expect(await page.getByTestId('tokens').textContent()).toContain('西单柜面系统');
    await checkPage(ops, 'ops-tokens');
    await page.getByRole('button', { name: '吊销 西单柜面系统' }).click();
    await page.waitForURL('**/console/ops/tokens?done=revoked');
    expect((await world.api('GET', `/v1/cards/${world.cards[0].cardNo}`, undefined, bearer)).status).toBe(401);
    const audit = await world.store.transaction((tx) =>
      tx.get<{ subject: string }>("SELECT subject FROM audit_log WHERE route = '/console/ops/tokens/:hash/revoke' ORDER BY id DESC LIMIT 1"),
    );
    expect(audit?.subject).toBe(STAFF.opsAdmin.username);
  });

  it('an operations viewer sees the pages but cannot revoke', async () => {
    const viewer = await openPage(browser, world.baseUrl);
    await signInStaff(viewer.page, STAFF.opsViewer);
    await viewer.page.goto('/console/ops/devices');
    expect(await viewer.page.getByTestId(`revoke-${world.devices[0]}`).count()).toBe(0);
    const csrf = await viewer.page.locator('input[name="_csrf"]').first().inputValue();
    const res = await viewer.context.request.post(`/console/ops/devices/${world.devices[0]}/revoke`, {
      form: { _csrf: csrf, formKey: '00000000-0000-4000-8000-000000000001' },
      maxRedirects: 0,
    });
    expect(res.status()).toBe(403);
    const live = await world.store.transaction((tx) =>
      tx.get<{ n: number }>("SELECT COUNT(*) AS n FROM auth_tokens WHERE role = 'device' AND subject = ? AND revoked_ms IS NULL", [world.devices[0]]),
    );
    expect(Number(live?.n)).toBe(1);
    await viewer.context.close();
  });
});
