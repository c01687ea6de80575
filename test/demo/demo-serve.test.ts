/**
 * `npm run demo -- --serve` (issue 15), spawned as a user runs it: after a small day it prints
 * the web console's address and the demo teller's sign-in and keeps the gateway up; the console
 * answers at that address and the printed sign-in works (the teller lands on the counter); on
 * SIGTERM the gateway closes and the run exits 0 (the day reconciled).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_TELLER } from '#demo/city-day-run';
import { REPO } from '../support/spawn-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'demo-serve-'));
let child: ChildProcessWithoutNullStreams | null = null;
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** The cookies a response sets, as one Cookie header. */
function cookiesOf(response: Response, jar: Map<string, string>): string {
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const at = pair.indexOf('=');
    jar.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

describe('demo --serve', () => {
  it('prints the console address and the demo teller, keeps the gateway up, and signs the teller in', { timeout: 180_000 }, async () => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO, 'demo/city-day.ts'), '--quick', '--serve', '--riders', '8', '--devices', '4', '--no-progress', '--out', dir],
      { cwd: REPO, env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    const printed = await new Promise<RegExpMatchArray>((resolve, reject) => {
      proc.stdout.on('data', (d) => {
        stdout += d;
        const match = stdout.match(/web console: (http:\/\/\S+)\n\s+sign in as the demo teller: (\S+) \/ (\S+)/);
        if (match) resolve(match);
      });
      void exited.then((code) => reject(new Error(`demo exited ${code} before serving:\n${stdout}\n${stderr}`)));
    });
    const [, url, username, password] = printed;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/console$/);
    expect(stdout).toContain('Ctrl-C stops the gateway');

    // The gateway is still up: the sign-in page answers, and the printed sign-in works.
    const jar = new Map<string, string>();
    const page = await fetch(`${url}/sign-in`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const csrf = html.match(/name="_csrf" value="([^"]+)"/)?.[1];
    expect(csrf).toBeTruthy();
    const signIn = await fetch(`${url}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookiesOf(page, jar) },
      body: new URLSearchParams({ _csrf: csrf!, username, password }).toString(),
    });
    expect(signIn.status).toBe(303);
    const cookie = cookiesOf(signIn, jar);
    const counter = await fetch(`${url}/counter`, { headers: { cookie }, redirect: 'manual' });
    // Signed in as the demo teller, on the counter page.
    expect(counter.status).toBe(200);
    expect(username).toBe(DEMO_TELLER.username);
    expect(await counter.text()).toContain(DEMO_TELLER.displayName);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
