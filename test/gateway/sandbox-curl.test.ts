/**
 * docs/gateway-api.md, "Sandbox": the documented start command and curl top-up, run as written.
 * The gateway is started in a folder of the test's own with the environment of the documented
 * command (only PORT becomes 0, any free port); the bash block runs there with GW set to the
 * gateway's address (the block's own variable) and must print the final balance, 50.00.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, cleanEnv, ROOT, runProgram, startGateway, type GatewayProcess } from './support/gateway-process.ts';

/** The "## Sandbox" section of the API document. */
function sandboxSection(): string {
  const doc = readFileSync(join(ROOT, 'docs', 'gateway-api.md'), 'utf8');
  const start = doc.indexOf('\n## Sandbox\n');
  if (start < 0) throw new Error('docs/gateway-api.md has no "## Sandbox" section');
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

function fenced(section: string, lang: string): string[] {
  return [...section.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]);
}

/** The variables of the documented start command (`A=1 B=x npm run gateway:dev`). */
function startEnvironment(command: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const word of command.trim().split(/\s+/)) {
    const match = /^([A-Z_]+)=(.*)$/.exec(word);
    if (!match) break;
    env[match[1]] = match[2];
  }
  return env;
}

function runBash(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runProgram('bash', ['-c', script], cwd, env);
}

let gateway: GatewayProcess | undefined;
let cwd: string | undefined;
afterAll(async () => {
  if (gateway && gateway.child.exitCode === null) {
    gateway.child.kill('SIGTERM');
    await gateway.exited;
  }
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

describe('the documented sandbox top-up', () => {
  it('runs as written with curl against a sandbox gateway and ends with 50.00 on the card and in the back office', async () => {
    const section = sandboxSection();
    const [startCommand] = fenced(section, 'sh');
    const blocks = fenced(section, 'bash');
    expect(startCommand).toMatch(/GATEWAY_SANDBOX=1 .*npm run gateway:dev/);
    expect(blocks).toHaveLength(1);
    const env = startEnvironment(startCommand);
    expect(env).toMatchObject({ GATEWAY_SANDBOX: '1', PORT: '8080' });
    expect(blocks[0]).toContain(`GW=\${GW:-http://127.0.0.1:8080}`);

    const tools = await runBash('for t in curl jq; do command -v "$t" >/dev/null || echo "$t"; done', tmpdir(), process.env);
    expect(tools.stdout.trim(), 'the documented block needs bash, curl and jq on the PATH').toBe('');

    cwd = mkdtempSync(join(tmpdir(), 'sandbox-curl-'));
    gateway = await startGateway(cwd, cleanEnv({ ...env, PORT: '0' }));
    expect(gateway.output()).toContain('SANDBOX');

    const run = await runBash(blocks[0], cwd, { ...process.env, GW: gateway.url });
    expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toEqual([
      '{"status":"confirmed"}',
      '{"sw":"9000","balance":"50.00"}',
      expect.stringMatching(/^\{"cardNo":"[0-9]{16}","balance":"50\.00","balanceFen":5000\}$/),
    ]);

    // Every answer is marked, even a 404.
    const res = await fetch(`${gateway.url}/v1/no-such-route`);
    expect(res.headers.get('sandbox')).toBe('true');
  });
});
