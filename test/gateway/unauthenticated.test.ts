/**
 * A request without a credential learns nothing (issue 17): with a device CA configured, every
 * protected route of the main API answers 401 `unauthenticated` with the same generic problem,
 * the sync route included (it used to answer 403 `sync-requires-device-tls` naming the device
 * URL, because the PKI hook ran before authentication). A caller with a credential is still
 * told where devices sync.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDeviceCa } from '#gateway/pki/device-ca';
import { makeDevicePki } from '#gateway/pki/device-pki';
import { ADMIN_TOKEN, DEC_20_2025_MS, makeHarness, type Harness } from './support/harness.ts';

const DEVICE_URL = 'https://devices.transit.example:8443';
const PARAM_VALUES: Record<string, string> = {
  cardNo: '1000000000000016',
  deviceId: 'GATE-1',
  id: '1',
  version: '1',
};

let h: Harness;
let pkiDir: string;
/** Route URL -> its config said `public: true` (seen by a hook that runs after authentication). */
const publicRoutes = new Set<string>();

beforeAll(async () => {
  pkiDir = mkdtempSync(join(tmpdir(), 'unauth-ca-'));
  const pki = makeDevicePki(ensureDeviceCa(pkiDir, { nowMs: DEC_20_2025_MS }), { deviceUrl: DEVICE_URL });
  h = await makeHarness({ devicePki: pki });
  h.app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public && request.routeOptions.url) publicRoutes.add(request.routeOptions.url);
  });
});

afterAll(async () => {
  await h?.close();
  rmSync(pkiDir, { recursive: true, force: true });
});

function concrete(url: string): string {
  return url.replace(/:([A-Za-z]+)/g, (_m, name: string) => PARAM_VALUES[name] ?? 'x').replace(/\*$/, 'index.html');
}

describe('no credential: 401 on every protected route, nothing about the deployment', () => {
  it('sync without a credential is 401 unauthenticated, no device URL', async () => {
    const res = await h.request('POST', '/v1/devices/GATE-1/sync', {
      headers: { 'content-type': 'application/x-msgpack' },
      body: pack({}) as unknown as string,
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('unauthenticated');
    expect(res.body).not.toContain('devices.transit.example');
    expect(res.json()).not.toHaveProperty('deviceUrl');
  });

  it('every route of the main API', async () => {
    const routes = h.app.gatewayRoutes;
    expect(routes.length).toBeGreaterThan(40);
    let protectedCount = 0;
    for (const route of routes) {
      const url = concrete(route.url);
      const res = await h.app.inject({
        method: route.method as 'GET',
        url,
        ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: {} }),
      });
      if (publicRoutes.has(route.url) || route.url.startsWith('/docs')) continue;
      protectedCount++;
      expect({ route: `${route.method} ${route.url}`, status: res.statusCode }).toEqual({ route: `${route.method} ${route.url}`, status: 401 });
      const problem = res.json();
      expect(problem.code).toBe('unauthenticated');
      expect(Object.keys(problem).sort()).toEqual(['code', 'detail', 'instance', 'status', 'title', 'type']);
      expect(res.body).not.toContain('transit.example:8443');
    }
    expect(protectedCount).toBeGreaterThan(40);
  });

  it('a bad credential is 401 too; a valid credential on sync is still pointed to the device listener', async () => {
    const bad = await h.request('POST', '/v1/devices/GATE-1/sync', { token: 'not-a-real-token-but-long-enough', body: {} });
    expect(bad.statusCode).toBe(401);
    expect(bad.body).not.toContain('transit.example');

    const credential = await h.registerDevice('GATE-1');
    const viaMain = await h.request('POST', '/v1/devices/GATE-1/sync', {
      token: credential,
      headers: { 'content-type': 'application/x-msgpack' },
      body: pack({}) as unknown as string,
    });
    expect(viaMain.statusCode).toBe(403);
    expect(viaMain.json()).toMatchObject({ code: 'sync-requires-device-tls', deviceUrl: DEVICE_URL });

    const operator = await h.request('POST', '/v1/devices/GATE-1/sync', {
      token: ADMIN_TOKEN,
      headers: { 'content-type': 'application/x-msgpack' },
      body: pack({}) as unknown as string,
    });
    expect(operator.statusCode).toBe(403);
    expect(operator.json().code).toBe('sync-requires-device-tls');

    // A device credential for another device: answered as a device that does not exist, no directions.
    const other = await h.request('POST', '/v1/devices/GATE-2/sync', {
      token: credential,
      headers: { 'content-type': 'application/x-msgpack' },
      body: pack({}) as unknown as string,
    });
    expect(other.statusCode).toBe(404);
    expect(other.json().code).toBe('device-not-found');
    expect(other.body).not.toContain('transit.example');
  });
});
