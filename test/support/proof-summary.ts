/**
 * The proof's tally (issue 8, "A summary of these figures printed by the test run").
 *
 * Every proof test (test/model, test/faults, test/bad-input) counts what it did with
 * `recordProof(...)`: one JSON line appended to a file in the OS temp dir named by the run id
 * that the vitest globalSetup (test/support/proof-summary-setup.ts) chose. Appending one line
 * per call from several worker processes is safe (O_APPEND writes of one small line). The
 * globalSetup teardown reads the file and prints the totals after the whole run.
 *
 * Without a run id (a file run outside vitest's config), the figures go to a per-process file
 * so nothing breaks; they are simply not summed.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROOF_RUN_ENV = 'PROOF_RUN_ID';

export interface ProofFigures {
  /** Operations run against the system (taps, loads, syncs, requests that should succeed...). */
  operations?: number;
  /** Faults injected (tears, kills, cut connections, duplicated/reordered batches, crashes). */
  faults?: number;
  /** Bad inputs tried (malformed bodies, corrupted images, corrupted deltas...). */
  badInputs?: number;
  /** Money lost or applied twice, as found by the checks (must stay 0: a test fails before). */
  lossesFound?: number;
}

export interface ProofLine extends Required<ProofFigures> {
  suite: string;
}

export function proofSummaryPath(runId: string): string {
  return join(tmpdir(), `proof-summary-${runId.replace(/[^A-Za-z0-9_-]/g, '_')}.jsonl`);
}

function currentRunId(): string {
  return process.env[PROOF_RUN_ENV] ?? `standalone-${process.pid}`;
}

/** Adds figures to this run's tally under `suite` (a short name: the test file and case). */
export function recordProof(suite: string, figures: ProofFigures): void {
  const line: ProofLine = {
    suite,
    operations: figures.operations ?? 0,
    faults: figures.faults ?? 0,
    badInputs: figures.badInputs ?? 0,
    lossesFound: figures.lossesFound ?? 0,
  };
  appendFileSync(proofSummaryPath(currentRunId()), `${JSON.stringify(line)}\n`);
}

/** A counter a test fills as it goes and records once at the end (also on failure, via finally). */
export class ProofTally {
  operations = 0;
  faults = 0;
  badInputs = 0;
  lossesFound = 0;
  constructor(readonly suite: string) {}
  record(): void {
    recordProof(this.suite, this);
    this.operations = this.faults = this.badInputs = this.lossesFound = 0;
  }
}

export interface ProofTotals extends Required<ProofFigures> {
  suites: Map<string, Required<ProofFigures>>;
}

export function readProofTotals(runId: string): ProofTotals {
  const totals: ProofTotals = { operations: 0, faults: 0, badInputs: 0, lossesFound: 0, suites: new Map() };
  const path = proofSummaryPath(runId);
  if (!existsSync(path)) return totals;
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    if (text.trim() === '') continue;
    const line = JSON.parse(text) as ProofLine;
    const group = line.suite.split(':')[0];
    const suite = totals.suites.get(group) ?? { operations: 0, faults: 0, badInputs: 0, lossesFound: 0 };
    for (const key of ['operations', 'faults', 'badInputs', 'lossesFound'] as const) {
      suite[key] += line[key];
      totals[key] += line[key];
    }
    totals.suites.set(group, suite);
  }
  return totals;
}

export function formatProofSummary(totals: ProofTotals): string {
  const rows = [...totals.suites].sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(10, ...rows.map(([name]) => name.length));
  const lines = [
    '',
    `proof summary: ${totals.operations} operations, ${totals.faults} faults injected, ${totals.badInputs} bad inputs, losses found ${totals.lossesFound}`,
    `  ${'suite'.padEnd(width)}  ${'operations'.padStart(10)}  ${'faults'.padStart(8)}  ${'bad inputs'.padStart(10)}  ${'losses'.padStart(6)}`,
    ...rows.map(
      ([name, s]) =>
        `  ${name.padEnd(width)}  ${String(s.operations).padStart(10)}  ${String(s.faults).padStart(8)}  ${String(s.badInputs).padStart(10)}  ${String(s.lossesFound).padStart(6)}`,
    ),
    '',
  ];
  return lines.join('\n');
}
