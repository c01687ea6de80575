/**
 * Device identity end to end over real TLS on 127.0.0.1 (issue 9): a gateway with a device CA
 * (main API on HTTP, device listener with mutual TLS, both on ephemeral ports), validators that
 * make their own keys and CSRs, sync through the validator's SyncClient over mutual TLS, and
 * every refusal: wrong device, expired, foreign CA, no certificate, revoked, tampered CSR.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { pack, unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_PROTOCOL_VERSION, type SyncRequest } from '#core';
import { CA_KEY_FILE, SERVER_KEY_FILE, ensureDeviceCa, type DeviceCa } from '#gateway/pki/device-ca';
import { startDeviceListener, type StartedDeviceListener } from '#gateway/pki/device-listener';
import { makeDevicePki, type DevicePki } from '#gateway/pki/device-pki';
import { createCertificateRequest, IDENTITY_FILE, loadDeviceIdentity, PENDING_KEY_FILE, type DeviceIdentity } from '#validator/pki/device-identity';
import { enrolDevice, enrolWithCode, enrolWithCredential, EnrolmentError, renewCertificate, requestEnrolmentCode } from '#validator/pki/enrolment';
import { createMtlsFetch } from '#validator/pki/mtls-fetch';
import { enrolForSync, renewingMtlsFetch } from '#validator/pki/device-tls';
import { SyncClient } from '#validator/sync-client';
import { ADMIN_TOKEN, DAY_MS, DEC_20_2025_MS, makeHarness, type Harness } from '../gateway/support/harness.ts';
import { createDevice, profile } from '../validator/device-fixtures.ts';

const logLines: string[] = [];
const logStream = new Writable({
  write(chunk, _encoding, done) {
    logLines.push(String(chunk));
    done();
  },
});
const logger = { level: 'trace', stream: logStream };

let h: Harness;
let pkiDir: string;
let devicesDir: string;
let ca: DeviceCa;
let pki: DevicePki;
let listener: StartedDeviceListener;
let mainUrl: string;
/** Every enrolment code and credential seen, to prove none reaches the logs. */
const secrets: string[] = [];

beforeAll(async () => {
  pkiDir = mkdtempSync(join(tmpdir(), 'pki-ca-'));
  devicesDir = mkdtempSync(join(tmpdir(), 'pki-devices-'));
  // The CA is made on the gateway's (fake) clock, so device certificates fall inside its validity.
  ca = ensureDeviceCa(pkiDir, { nowMs: DEC_20_2025_MS });
  pki = makeDevicePki(ca);
  h = await makeHarness({ devicePki: pki, logger });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const address = h.app.server.address();
  mainUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  listener = await startDeviceListener({ gateway: h.app.gateway, pki, host: '127.0.0.1', port: 0, logger });
});

afterAll(async () => {
  await listener?.close();
  await h?.close();
  rmSync(pkiDir, { recursive: true, force: true });
  rmSync(devicesDir, { recursive: true, force: true });
});

let deviceCounter = 0;
async function newDevice(kind = 'subway-gate'): Promise<{ deviceId: string; dir: string; credential: string }> {
  deviceCounter++;
  const deviceId = `PKI-${deviceCounter}`;
  const credential = await h.registerDevice(deviceId, kind);
  secrets.push(credential);
  return { deviceId, dir: join(devicesDir, deviceId), credential };
}

async function enrolled(kind = 'subway-gate'): Promise<{ deviceId: string; dir: string; credential: string; identity: DeviceIdentity }> {
  const device = await newDevice(kind);
  const { enrolmentCode } = await requestEnrolmentCode(mainUrl, ADMIN_TOKEN, device.deviceId);
  secrets.push(enrolmentCode);
  const identity = await enrolWithCode({ dir: device.dir, gatewayUrl: mainUrl, deviceId: device.deviceId, enrolmentCode });
  return { ...device, identity };
}

/** One raw sync over mutual TLS (empty upload) with the given identity and URL device id. */
async function rawSync(identity: DeviceIdentity, urlDeviceId: string = identity.deviceId): Promise<{ status: number; body: Buffer; json: () => any }> {
  const fetchFn = createMtlsFetch(identity, { keepAlive: false });
  const request: SyncRequest = {
    protocolVersion: SYNC_PROTOCOL_VERSION,
    deviceId: urlDeviceId,
    records: [],
    blacklistVersion: 0,
    fareTableVersion: 0,
    deviceTimeMs: h.clock.nowMs,
  };
  const res = await fetchFn(`${listener.url}/v1/devices/${urlDeviceId}/sync`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-msgpack' },
    body: pack(request),
  });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body, json: () => JSON.parse(body.toString('utf8')) };
}

async function certificateRows(): Promise<number> {
  const row = await h.store.transaction((tx) => tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM device_certificates'));
  return Number(row!.n);
}

describe('device CA files', () => {
  it('keeps the CA key with mode 0600, loads the same CA again, and refuses a key others can read', () => {
    expect(statSync(join(pkiDir, CA_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(join(pkiDir, SERVER_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(ca.created).toBe(true);
    const again = ensureDeviceCa(pkiDir);
    expect(again.created).toBe(false);
    expect(again.fingerprint).toBe(ca.fingerprint);
    expect(JSON.stringify(again)).not.toContain('PRIVATE KEY');
    const x509 = new X509Certificate(again.certificatePem);
    expect(x509.ca).toBe(true);

    // A CA made on a simulated clock years ahead is valid now too (the TLS stack checks the
    // listener chain by the wall clock) and covers the simulated time.
    const futureDir = mkdtempSync(join(tmpdir(), 'pki-future-'));
    try {
      const simulatedMs = Date.UTC(2031, 0, 1);
      const future = ensureDeviceCa(futureDir, { nowMs: simulatedMs });
      expect(future.notBeforeMs).toBeLessThanOrEqual(Date.now());
      expect(future.notAfterMs).toBeGreaterThan(simulatedMs + 9 * 365 * DAY_MS);
    } finally {
      rmSync(futureDir, { recursive: true, force: true });
    }

    const loose = mkdtempSync(join(tmpdir(), 'pki-loose-'));
    try {
      ensureDeviceCa(loose);
      statSync(join(loose, CA_KEY_FILE));
      // chmod 644 then load: refused, naming the file and the fix, never the key.
      chmodSync(join(loose, CA_KEY_FILE), 0o644);
      expect(() => ensureDeviceCa(loose)).toThrow(/chmod 600/);
    } finally {
      rmSync(loose, { recursive: true, force: true });
    }
  });
});

describe('enrolment', () => {
  it('issues a short-lived certificate naming the device id and kind; the key never leaves the device', async () => {
    const { deviceId, dir, identity } = await enrolled('bus-validator');
    expect(statSync(join(dir, IDENTITY_FILE)).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(identity.certPem);
    expect(cert.subject).toContain(`CN=${deviceId}`);
    expect(cert.subject).toContain('OU=bus-validator');
    expect(cert.verify(ca.x509.publicKey)).toBe(true);
    expect(identity.notAfterMs - h.clock.nowMs).toBeLessThanOrEqual(7 * DAY_MS);
    expect(identity.notAfterMs - h.clock.nowMs).toBeGreaterThan(7 * DAY_MS - 2_000);
    expect(identity.deviceUrl).toBe(listener.url);
    // The gateway stored the serial and validity, not the key.
    const listed = await h.request('GET', `/v1/devices/${deviceId}/certificates`, { token: ADMIN_TOKEN });
    expect(listed.statusCode).toBe(200);
    expect(listed.json().status).toBe('active');
    expect(listed.json().certificates[0]).toMatchObject({ serial: identity.serial, deviceId, kind: 'bus-validator', issuedVia: 'enrolment', revokedMs: null });
    const dump = JSON.stringify(await h.store.transaction((tx) => tx.all('SELECT * FROM device_certificates')));
    expect(dump).not.toContain('PRIVATE');
  });

  it('an enrolment code works once, only for its device, and only with an operator creating it', async () => {
    const a = await newDevice();
    const b = await newDevice();
    const { enrolmentCode } = await requestEnrolmentCode(mainUrl, ADMIN_TOKEN, a.deviceId);
    secrets.push(enrolmentCode);
    await expect(enrolWithCode({ dir: b.dir, gatewayUrl: mainUrl, deviceId: b.deviceId, enrolmentCode })).rejects.toMatchObject({
      code: 'enrolment-code-invalid',
      status: 401,
    });
    await enrolWithCode({ dir: a.dir, gatewayUrl: mainUrl, deviceId: a.deviceId, enrolmentCode });
    await expect(enrolWithCode({ dir: a.dir, gatewayUrl: mainUrl, deviceId: a.deviceId, enrolmentCode })).rejects.toMatchObject({
      code: 'enrolment-code-invalid',
    });
    // A device credential cannot mint enrolment codes.
    const asDevice = await h.request('POST', `/v1/devices/${a.deviceId}/enrolment`, { token: a.credential });
    expect(asDevice.statusCode).toBe(403);
    const unknown = await h.request('POST', '/v1/devices/NOPE-1/enrolment', { token: ADMIN_TOKEN });
    expect(unknown.statusCode).toBe(404);
  });

  it('a fleet enrols in parallel (keys generated off the event loop), each with its own certificate', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      deviceCounter++;
      ids.push(`PKI-FLEET-${deviceCounter}`);
      await h.registerDevice(ids[i], 'bus-validator');
    }
    const identities = await Promise.all(
      ids.map((deviceId) => enrolDevice({ dir: join(devicesDir, deviceId), gatewayUrl: mainUrl, operatorToken: ADMIN_TOKEN, deviceId })),
    );
    expect(new Set(identities.map((i) => i.serial)).size).toBe(4);
    expect(new Set(identities.map((i) => i.keyPem)).size).toBe(4);
    for (const identity of identities) expect((await rawSync(identity)).status).toBe(200);
  });

  it('a device registered before the CA can enrol with its bearer credential', async () => {
    const d = await newDevice();
    const identity = await enrolWithCredential({ dir: d.dir, gatewayUrl: mainUrl, deviceId: d.deviceId, credential: d.credential });
    expect((await rawSync(identity)).status).toBe(200);
    const other = await newDevice();
    await expect(enrolWithCredential({ dir: other.dir, gatewayUrl: mainUrl, deviceId: other.deviceId, credential: d.credential })).rejects.toMatchObject({
      status: 403,
    });
  });
});

describe('tampered and unacceptable CSRs', () => {
  it('are refused with a clear error and no state change; the code stays usable', async () => {
    const d = await newDevice();
    const { enrolmentCode } = await requestEnrolmentCode(mainUrl, ADMIN_TOKEN, d.deviceId);
    secrets.push(enrolmentCode);
    const before = await certificateRows();
    const submit = (csr: string) => h.request('POST', `/v1/devices/${d.deviceId}/certificate`, { body: { csr, enrolmentCode } });

    // Altered after signing: the subject CN bytes are changed inside the DER.
    const { csrPem } = createCertificateRequest(d.dir, d.deviceId);
    const der = Buffer.from(forge.util.decode64(csrPem.replace(/-----[^-]+-----|\s/g, '')), 'binary');
    const at = der.indexOf(Buffer.from(d.deviceId));
    expect(at).toBeGreaterThan(0);
    const tampered = Buffer.from(der);
    tampered[at + d.deviceId.length - 1] ^= 0x01; // PKI-n -> PKI-m: another device's name
    const tamperedPem = `-----BEGIN CERTIFICATE REQUEST-----\n${tampered.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    const altered = await submit(tamperedPem);
    expect(altered.statusCode).toBe(400);
    expect(altered.json()).toMatchObject({ code: 'invalid-csr', reason: expect.stringMatching(/csr-signature-invalid|csr-common-name-mismatch/) });

    // Signature bytes flipped: the CN still matches, the signature does not.
    const sigFlip = Buffer.from(der);
    sigFlip[sigFlip.length - 5] ^= 0xff;
    const badSig = await submit(`-----BEGIN CERTIFICATE REQUEST-----\n${sigFlip.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`);
    expect(badSig.statusCode).toBe(400);
    expect(badSig.json()).toMatchObject({ code: 'invalid-csr', reason: 'csr-signature-invalid' });

    // Validly signed, but for another device id.
    const otherCn = createCertificateRequest(join(devicesDir, 'scratch'), 'SOMEONE-ELSE');
    const mismatch = await submit(otherCn.csrPem);
    expect(mismatch.json()).toMatchObject({ code: 'invalid-csr', reason: 'csr-common-name-mismatch' });

    // A weak key.
    const weak = forge.pki.rsa.generateKeyPair({ bits: 1024 });
    const weakCsr = forge.pki.createCertificationRequest();
    weakCsr.publicKey = weak.publicKey;
    weakCsr.setSubject([{ name: 'commonName', value: d.deviceId }]);
    weakCsr.sign(weak.privateKey, forge.md.sha256.create());
    const weakAnswer = await submit(forge.pki.certificationRequestToPem(weakCsr));
    expect(weakAnswer.json()).toMatchObject({ code: 'invalid-csr', reason: 'csr-key-unsupported' });

    // Not a CSR at all.
    expect((await submit('hello')).json()).toMatchObject({ code: 'invalid-csr', reason: 'csr-unreadable' });

    expect(await certificateRows()).toBe(before);
    const status = await h.request('GET', `/v1/devices/${d.deviceId}/certificates`, { token: ADMIN_TOKEN });
    expect(status.json()).toMatchObject({ status: 'enrolment-pending', certificates: [] });
    // The code was not consumed by any refusal.
    const identity = await enrolWithCode({ dir: d.dir, gatewayUrl: mainUrl, deviceId: d.deviceId, enrolmentCode });
    expect(identity.deviceId).toBe(d.deviceId);
    expect(await certificateRows()).toBe(before + 1);
  });
});

describe('sync over mutual TLS', () => {
  it("the validator's SyncClient syncs through the device listener; the main API's sync points there", async () => {
    const d = await enrolled();
    const dbDir = mkdtempSync(join(tmpdir(), 'pki-device-db-'));
    const device = createDevice(join(dbDir, 'device.db'), profile(d.deviceId, 'subway-entry'));
    const fetchFn = createMtlsFetch(() => loadDeviceIdentity(d.dir)!);
    try {
      const client = new SyncClient({
        device,
        gatewayUrl: listener.url,
        credential: 'unused-on-the-device-port',
        fetch: fetchFn,
        clock: h.clock.now,
        sleep: async () => {},
      });
      const round = await client.syncOnce();
      expect(round).toMatchObject({ ok: true });
      const drained = await client.drain();
      expect(drained.status).toBe('drained');
      const row = await h.store.transaction((tx) => tx.get<{ last_sync_ms: number }>('SELECT last_sync_ms FROM devices WHERE device_id = ?', [d.deviceId]));
      expect(Number(row!.last_sync_ms)).toBe(h.clock.nowMs);

      // The old bearer path on the main API is closed once the CA exists, with directions.
      const viaMain = await h.request('POST', `/v1/devices/${d.deviceId}/sync`, {
        token: d.credential,
        headers: { 'content-type': 'application/x-msgpack' },
        body: pack({}) as unknown as string,
      });
      expect(viaMain.statusCode).toBe(403);
      expect(viaMain.json()).toMatchObject({ code: 'sync-requires-device-tls', deviceUrl: listener.url });
      expect(viaMain.json().detail).toContain(`${listener.url}/v1/devices/${d.deviceId}/sync`);
    } finally {
      fetchFn.close();
      device.close();
      rmSync(dbDir, { recursive: true, force: true });
    }
  });

  it('enrolForSync enrols a simulated device once and hands SyncClient its mutual-TLS options', async () => {
    const d = await newDevice('bus-validator');
    const dbDir = mkdtempSync(join(tmpdir(), 'pki-fleet-db-'));
    const dbPath = join(dbDir, `${d.deviceId}.db`);
    const device = createDevice(dbPath, profile(d.deviceId, 'bus', { busLine: 7 }));
    const options = await enrolForSync({ dbPath, gatewayUrl: mainUrl, operatorToken: ADMIN_TOKEN, deviceId: d.deviceId, clock: h.clock.now });
    try {
      expect(options.gatewayUrl).toBe(listener.url);
      const first = loadDeviceIdentity(`${dbPath}.pki`)!.serial;
      const again = await enrolForSync({ dbPath, gatewayUrl: mainUrl, operatorToken: ADMIN_TOKEN, deviceId: d.deviceId, clock: h.clock.now });
      again.fetch.close();
      expect(loadDeviceIdentity(`${dbPath}.pki`)!.serial).toBe(first); // no second enrolment
      const client = new SyncClient({ device, credential: d.credential, clock: h.clock.now, sleep: async () => {}, ...options });
      expect((await client.drain()).status).toBe('drained');
    } finally {
      options.fetch.close();
      device.close();
      rmSync(dbDir, { recursive: true, force: true });
    }
  });

  it('new connections that resume the TLS session still present the certificate', async () => {
    const d = await enrolled();
    const fetchFn = createMtlsFetch(d.identity, { keepAlive: false });
    const resumed: boolean[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetchFn(`${listener.url}/v1/device/identity`);
        expect(res.status).toBe(200);
        expect(((await res.json()) as { deviceId: string }).deviceId).toBe(d.deviceId);
      }
      listener.app.server.on('secureConnection', (socket) => resumed.push(socket.isSessionReused()));
      expect((await fetchFn(`${listener.url}/v1/device/identity`)).status).toBe(200);
    } finally {
      fetchFn.close();
    }
    expect(resumed).toEqual([true]);
  });

  it('answers a msgpack SyncResponse to a raw mutual-TLS request', async () => {
    const d = await enrolled();
    const answer = await rawSync(d.identity);
    expect(answer.status).toBe(200);
    expect(unpack(answer.body)).toMatchObject({ protocolVersion: SYNC_PROTOCOL_VERSION, acknowledged: [] });
  });
});

describe('refusals on the device listener', () => {
  it('a certificate naming another device is refused (CN != URL)', async () => {
    const a = await enrolled();
    const b = await enrolled();
    const answer = await rawSync(a.identity, b.deviceId);
    expect(answer.status).toBe(403);
    expect(answer.json()).toMatchObject({ code: 'client-certificate-wrong-device' });
    expect(answer.json().detail).toContain(a.deviceId);
  });

  it('an expired certificate is refused by the gateway clock, and works again in its validity', async () => {
    const d = await enrolled();
    const start = h.clock.nowMs;
    try {
      h.clock.advance(7 * DAY_MS + 60_000);
      const late = await rawSync(d.identity);
      expect(late.status).toBe(401);
      expect(late.json()).toMatchObject({ code: 'client-certificate-expired' });
      h.clock.nowMs = start - 10 * 60_000; // before notBefore (5 minutes of skew allowed)
      expect((await rawSync(d.identity)).json()).toMatchObject({ code: 'client-certificate-expired' });
    } finally {
      h.clock.nowMs = start;
    }
    expect((await rawSync(d.identity)).status).toBe(200);
  });

  it('a certificate from another CA (same device id) is refused, and so is a connection without one', async () => {
    const d = await enrolled();
    const otherDir = mkdtempSync(join(tmpdir(), 'pki-other-ca-'));
    try {
      const other = ensureDeviceCa(otherDir, { commonName: 'Rogue CA', nowMs: DEC_20_2025_MS });
      const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
      const forged = other.issueDeviceCertificate({
        publicKey: keys.publicKey,
        deviceId: d.deviceId,
        kind: 'subway-gate',
        nowMs: h.clock.nowMs,
        validityMs: DAY_MS,
      });
      const rogue: DeviceIdentity = { ...d.identity, keyPem: forge.pki.privateKeyToPem(keys.privateKey), certPem: forged.pem, serial: forged.serial };
      const answer = await rawSync(rogue);
      expect(answer.status).toBe(401);
      expect(answer.json()).toMatchObject({ code: 'client-certificate-untrusted' });
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
    // No client certificate at all: TLS works (the CA is pinned), the answer says what is missing.
    const { request } = await import('node:https');
    const noCert = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${listener.url}/v1/devices/${d.deviceId}/sync`,
        { method: 'POST', ca: [ca.certificatePem], headers: { 'content-type': 'application/x-msgpack' } },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end(pack({}));
    });
    expect(noCert.status).toBe(401);
    expect(JSON.parse(noCert.body)).toMatchObject({ code: 'client-certificate-required' });
    // The validator pins its CA: a server whose certificate another CA issued is not trusted.
    const pinDir = mkdtempSync(join(tmpdir(), 'pki-pin-'));
    try {
      const pinnedElsewhere: DeviceIdentity = { ...d.identity, caPem: ensureDeviceCa(pinDir).certificatePem };
      await expect(rawSync(pinnedElsewhere)).rejects.toThrow(/certificate/i);
    } finally {
      rmSync(pinDir, { recursive: true, force: true });
    }
  });
});

describe('renewal and revocation', () => {
  it('renews over mutual TLS with a new key; both certificates are recorded; the new one syncs', async () => {
    const d = await enrolled();
    const oldKey = d.identity.keyPem;
    h.clock.advance(5 * DAY_MS);
    try {
      const renewed = await renewCertificate({ dir: d.dir });
      expect(renewed.serial).not.toBe(d.identity.serial);
      expect(renewed.keyPem).not.toBe(oldKey);
      expect(renewed.notAfterMs).toBeGreaterThan(d.identity.notAfterMs);
      expect(loadDeviceIdentity(d.dir)!.serial).toBe(renewed.serial);
      expect(statSync(join(d.dir, IDENTITY_FILE)).mode & 0o777).toBe(0o600);
      expect(() => statSync(join(d.dir, PENDING_KEY_FILE))).toThrow();
      expect((await rawSync(renewed)).status).toBe(200);
      const listed = await h.request('GET', `/v1/devices/${d.deviceId}/certificates`, { token: ADMIN_TOKEN });
      expect(listed.json().certificates.map((c: { serial: string; issuedVia: string }) => [c.serial, c.issuedVia])).toEqual([
        [renewed.serial, 'renewal'],
        [d.identity.serial, 'enrolment'],
      ]);
    } finally {
      h.clock.advance(-5 * DAY_MS);
    }
  });

  it('the sync transport renews by itself once a third of the lifetime is left, before the request', async () => {
    const d = await enrolled();
    let deviceNowMs = h.clock.nowMs;
    const fetchFn = renewingMtlsFetch(d.dir, () => deviceNowMs);
    const sync = () =>
      fetchFn(`${listener.url}/v1/devices/${d.deviceId}/sync`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-msgpack' },
        body: pack({ protocolVersion: SYNC_PROTOCOL_VERSION, deviceId: d.deviceId, records: [], blacklistVersion: 0, fareTableVersion: 0, deviceTimeMs: 0 }),
      });
    try {
      expect((await sync()).status).toBe(200);
      expect(loadDeviceIdentity(d.dir)!.serial).toBe(d.identity.serial);
      deviceNowMs = d.identity.notAfterMs - 2 * DAY_MS; // under a third of 7 days left
      expect((await sync()).status).toBe(200);
      const renewed = loadDeviceIdentity(d.dir)!;
      expect(renewed.serial).not.toBe(d.identity.serial);
      const rows = await h.store.transaction((tx) =>
        tx.all<{ issued_via: string }>('SELECT issued_via FROM device_certificates WHERE device_id = ? ORDER BY issued_via', [d.deviceId]),
      );
      expect(rows.map((r) => r.issued_via)).toEqual(['enrolment', 'renewal']);
    } finally {
      fetchFn.close();
    }
  });

  it('renewal for another device id or with a tampered CSR is refused without a new certificate', async () => {
    const a = await enrolled();
    const b = await enrolled();
    const before = await certificateRows();
    const fetchFn = createMtlsFetch(a.identity, { keepAlive: false });
    const { csrPem } = createCertificateRequest(join(devicesDir, 'scratch-b'), b.deviceId);
    const wrong = await fetchFn(`${listener.url}/v1/devices/${b.deviceId}/certificate/renewal`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: csrPem }),
    });
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as { code: string }).code).toBe('client-certificate-wrong-device');
    const mismatch = await fetchFn(`${listener.url}/v1/devices/${a.deviceId}/certificate/renewal`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ csr: csrPem }),
    });
    expect(mismatch.status).toBe(400);
    expect(await mismatch.json()).toMatchObject({ code: 'invalid-csr', reason: 'csr-common-name-mismatch' });
    expect(await certificateRows()).toBe(before);
  });

  it('a revoked device is refused at its next sync, even on a kept-alive connection; ops shows it', async () => {
    const d = await enrolled('park-gate');
    const fetchFn = createMtlsFetch(d.identity, { keepAlive: true });
    const sync = () =>
      fetchFn(`${listener.url}/v1/devices/${d.deviceId}/sync`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-msgpack' },
        body: pack({ protocolVersion: SYNC_PROTOCOL_VERSION, deviceId: d.deviceId, records: [], blacklistVersion: 0, fareTableVersion: 0, deviceTimeMs: 0 }),
      });
    try {
      expect((await sync()).status).toBe(200);
      const revoked = await h.request('POST', `/v1/devices/${d.deviceId}/revocation`, { token: ADMIN_TOKEN, body: { reason: 'validator stolen from bus 42' } });
      expect(revoked.statusCode).toBe(200);
      expect(revoked.json()).toMatchObject({ deviceId: d.deviceId, revokedSerials: [d.identity.serial], credentialsRevoked: 1 });
      const refused = await sync();
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { code: string }).code).toBe('client-certificate-revoked');
    } finally {
      fetchFn.close();
    }
    await expect(renewCertificate({ dir: d.dir })).rejects.toMatchObject({ code: 'client-certificate-revoked' });
    // The leaked bearer credential is revoked with it: no new certificate through that door.
    await expect(enrolWithCredential({ dir: d.dir, gatewayUrl: mainUrl, deviceId: d.deviceId, credential: d.credential })).rejects.toMatchObject({
      status: 401,
    });

    const ops = await h.request('GET', '/v1/ops/devices/certificates?limit=1000', { token: ADMIN_TOKEN });
    expect(ops.statusCode).toBe(200);
    const mine = ops.json().certificates.filter((c: { deviceId: string }) => c.deviceId === d.deviceId);
    expect(mine).toEqual([
      expect.objectContaining({ serial: d.identity.serial, status: 'revoked', revokedReason: 'validator stolen from bus 42', revokedBy: 'operator:admin' }),
    ]);
    const status = await h.request('GET', `/v1/devices/${d.deviceId}/certificates`, { token: ADMIN_TOKEN });
    expect(status.json().status).toBe('revoked');

    // An operator may enrol the recovered validator again with a new code.
    const again = await enrolDevice({ dir: d.dir, gatewayUrl: mainUrl, operatorToken: ADMIN_TOKEN, deviceId: d.deviceId });
    expect((await rawSync(again)).status).toBe(200);
  });
});

describe('secrets', () => {
  it('no enrolment code, credential or private key reaches the logs', async () => {
    await enrolled();
    const text = logLines.join('');
    expect(logLines.length).toBeGreaterThan(10);
    expect(text).toContain('device certificate issued');
    expect(text).toContain('client-certificate-revoked');
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain('CERTIFICATE REQUEST');
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(secrets.length).toBeGreaterThan(5);
    // The CA key file is the only copy of the CA key on disk, and it is not in the log either.
    const caKey = readFileSync(join(pkiDir, CA_KEY_FILE), 'utf8');
    expect(text).not.toContain(caKey.split('\n')[1]);
  });

  it('errors from the device side name the problem code, not the secret', async () => {
    const d = await newDevice();
    const error = await enrolWithCode({ dir: d.dir, gatewayUrl: mainUrl, deviceId: d.deviceId, enrolmentCode: 'x'.repeat(43) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnrolmentError);
    expect((error as EnrolmentError).message).not.toContain('x'.repeat(43));
  });
});
