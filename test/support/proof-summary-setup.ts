/**
 * vitest globalSetup: chooses the proof run id (workers inherit it through the environment and
 * vitest's provide/inject) and prints the proof summary when the whole run ends.
 */
import { rmSync } from 'node:fs';
import { PROOF_RUN_ENV, formatProofSummary, proofSummaryPath, readProofTotals } from './proof-summary.ts';

export default function setup(): () => void {
  const runId = `${Date.now().toString(36)}-${process.pid}`;
  process.env[PROOF_RUN_ENV] = runId;
  return () => {
    const totals = readProofTotals(runId);
    // Only when some proof test ran (a run of unrelated files prints nothing).
    if (totals.suites.size > 0) process.stdout.write(formatProofSummary(totals));
    rmSync(proofSummaryPath(runId), { force: true });
  };
}
