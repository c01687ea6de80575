/**
 * Fault injection: torn card writes at every step (issue 8, "The proof").
 *
 * Every tear point the card simulator has, at both moments (power lost before the card wrote
 * or after it committed and before the answer left), is injected into:
 * - a purchase at each kind of validator (subway entry, subway exit, bus; 3DES and SM4 cards):
 *   the rider presents the card again at the same gate, the device recovers the torn debit
 *   (or finds it never happened) and journals it exactly once;
 * - the lock write (APPLICATION BLOCK) of a blacklisted card;
 * - a load (INITIALIZE, CREDIT), and the load's lost answers (POST /v1/loads, confirm).
 * After recovery and sync: zero lost, zero duplicated, every back-office balance equals its
 * chip, discrepancy zero.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { completeLoad, hexToBytes, initializeLoad, recoverLoad, type TearMoment, type TearableCommand } from '#core';
import { ProofTally } from '../support/proof-summary.ts';
import { CITY_DEVICES, CityWorld, LOAD_TERMINAL, assertExactlyOnce, loadCard, loadRequestBody, type CardSlot } from '../model/city-world.ts';

const tally = new ProofTally('faults:torn-writes');
afterAll(() => tally.record());

const MOMENTS: readonly TearMoment[] = ['before-write', 'after-write'];
const PURCHASE_STEPS: readonly TearableCommand[] = ['initializeForPurchase', 'updateCappDataCache', 'debitForPurchase'];

async function drainAll(w: CityWorld): Promise<void> {
  for (let pass = 0; pass < 2; pass++) {
    for (const slot of w.devices) {
      tally.operations++;
      const result = await w.syncClient(slot).drain();
      expect(result.status, result.lastError ?? '').toBe('drained');
    }
  }
}

describe('torn card writes at every step', () => {
  it('purchases: every step x moment at every device kind, both algorithms; retap recovers exactly once', async () => {
    const cases = CITY_DEVICES.flatMap((_, device) =>
      PURCHASE_STEPS.flatMap((command) => MOMENTS.flatMap((moment) => [0, 1].map((alg) => ({ device, command, moment, alg })))),
    );
    const w = await CityWorld.start(1, CITY_DEVICES, cases.length);
    try {
      for (const [i, card] of w.cards.entries()) await loadCard(w, card, 5_000, `torn-p-${i}`);
      let fired = 0;
      for (const [i, c] of cases.entries()) {
        // Cards alternate 3DES / SM4 by index: pick the index parity of the case's algorithm.
        const card = w.cards[i - (i % 2) + c.alg] ?? w.cards[i];
        const slot = w.devices[c.device];
        w.clock.ms += 3 * 60_000;
        let charged = 0;
        const before = w.chipBalanceFen(card);
        // An exit needs an entry first (else the exit is charged as a missing entry: also fine).
        if (slot.kind === 'subway-exit') {
          const entry = w.devices.find((d) => d.kind === 'subway-entry')!;
          charged += entry.device.tap(card.sim, w.clock.ms - 30 * 60_000).chargeFen;
          card.sim.reset();
        }
        card.sim.tearAt({ command: c.command, moment: c.moment });
        const first = slot.device.tap(card.sim, w.clock.ms);
        card.sim.tearAt(null);
        card.sim.reset();
        charged += first.chargeFen;
        if (first.status !== 'accepted') fired++;
        const again = slot.device.tap(card.sim, w.clock.ms + 4_000);
        card.sim.reset();
        charged += again.chargeFen;
        tally.operations += 2;
        expect(again.status, `${c.command}/${c.moment} at ${slot.kind}: ${again.resultName}`).toBe('accepted');
        expect(before - w.chipBalanceFen(card), `${c.command}/${c.moment} at ${slot.kind}: chip debit = journaled charges`).toBe(charged);
        if (c.command === 'debitForPurchase' && c.moment === 'after-write' && first.status !== 'accepted') expect(again.recovered).toBe(true);
      }
      tally.faults += fired;
      // Most tear points fire (a flat bus fare writes no trip record, so its CAPP tear does not).
      expect(fired).toBeGreaterThanOrEqual(cases.length - 4);
      await drainAll(w);
      const figures = await assertExactlyOnce(w);
      tally.operations += figures.records;
      tally.lossesFound += figures.lost + figures.duplicated;
    } finally {
      await w.close();
    }
  });

  it('the lock write of a blacklisted card, torn before and after the write: locked once, journaled once', async () => {
    const w = await CityWorld.start(2, CITY_DEVICES.slice(0, 1), 2);
    try {
      for (const [i, card] of w.cards.entries()) await loadCard(w, card, 3_000, `torn-l-${i}`);
      for (const card of w.cards) expect((await w.call('POST', `/v1/cards/${card.cardNo}/loss-reports`, { kind: 'formal' }, w.counter)).status).toBe(201);
      await drainAll(w);
      const gate = w.devices[0];
      for (const [i, moment] of MOMENTS.entries()) {
        const card = w.cards[i];
        card.sim.tearAt({ command: 'applicationBlock', moment });
        const first = gate.device.tap(card.sim, w.clock.ms + i * 60_000);
        card.sim.tearAt(null);
        card.sim.reset();
        tally.faults++;
        expect(first.status).toBe('refused');
        const again = gate.device.tap(card.sim, w.clock.ms + i * 60_000 + 4_000);
        card.sim.reset();
        tally.operations += 2;
        expect(again.status).toBe('refused');
        expect(card.sim.image().locked, `lock torn ${moment}: the card ends locked`).toBe(true);
      }
      await drainAll(w);
      const figures = await assertExactlyOnce(w);
      tally.lossesFound += figures.lost + figures.duplicated;
    } finally {
      await w.close();
    }
  });

  it('loads: INITIALIZE torn, CREDIT torn before/after the write, the POST answer lost, the confirmation lost: credited at most once, books balance', async () => {
    const w = await CityWorld.start(3, CITY_DEVICES.slice(1, 2), 6);
    try {
      const expected = w.cards.map(() => 0);
      const load = async (i: number, fault: string): Promise<void> => {
        const card: CardSlot = w.cards[i];
        const amountFen = 2_000;
        w.clock.ms += 60_000;
        tally.operations++;
        tally.faults++;
        card.sim.reset();
        if (fault === 'init-before' || fault === 'init-after')
          card.sim.tearAt({ command: 'initializeForLoad', moment: fault === 'init-before' ? 'before-write' : 'after-write' });
        const init = initializeLoad(card.sim, amountFen, LOAD_TERMINAL);
        card.sim.tearAt(null);
        if (init.status !== 'ready') {
          expect(fault.startsWith('init')).toBe(true);
          return;
        }
        const key = `torn-load-${i}-${fault}`;
        const body = loadRequestBody(card, amountFen, init.init);
        let res = await w.call('POST', '/v1/loads', body, w.counter, { 'idempotency-key': key });
        if (fault === 'post-answer-lost') {
          // The counter never saw the answer and sends the same request again.
          res = await w.call('POST', '/v1/loads', body, w.counter, { 'idempotency-key': key });
          expect(res.headers['idempotent-replayed']).toBe('true');
        }
        expect(res.status, res.body).toBeLessThan(300);
        const mac2 = hexToBytes(res.json.mac2);
        if (fault === 'credit-before' || fault === 'credit-after')
          card.sim.tearAt({ command: 'creditForLoad', moment: fault === 'credit-before' ? 'before-write' : 'after-write' });
        const credit = completeLoad(card.sim, mac2, res.json.date, res.json.time);
        card.sim.tearAt(null);
        card.sim.reset();
        let tac: Uint8Array | null = credit.status === 'credited' ? credit.tac : null;
        if (credit.status === 'torn') {
          const recovered = recoverLoad(card.sim, init.init.onlineAtc, mac2);
          expect(recovered.status, fault).toBe(fault === 'credit-after' ? 'credited' : 'not-credited');
          if (recovered.status === 'credited') tac = recovered.tac;
        }
        if (tac !== null) {
          expected[i] += amountFen;
          if (fault === 'confirm-lost') return; // card evidence settles it later
          const confirm = await w.call('POST', `/v1/loads/${res.json.id}/confirm`, { tac: Buffer.from(tac).toString('hex').toUpperCase() }, w.counter);
          expect(confirm.status, confirm.body).toBe(200);
          // A confirmation retried (answer lost) confirms nothing twice.
          const twice = await w.call('POST', `/v1/loads/${res.json.id}/confirm`, { tac: Buffer.from(tac).toString('hex').toUpperCase() }, w.counter);
          expect(twice.status).toBeLessThan(500);
        } else {
          expect((await w.call('POST', `/v1/loads/${res.json.id}/void`, undefined, w.counter)).status).toBe(200);
        }
      };
      const faults = ['init-before', 'init-after', 'credit-before', 'credit-after', 'post-answer-lost', 'confirm-lost'];
      for (const [i, fault] of faults.entries()) {
        await load(i, fault);
        // A second, clean load on the same card after the fault: the card goes on working.
        await loadCard(w, w.cards[i], 1_000, `after-${i}`);
        expected[i] += 1_000;
      }
      for (const [i, card] of w.cards.entries()) expect(w.chipBalanceFen(card), `card ${i}`).toBe(expected[i]);
      const figures = await assertExactlyOnce(w);
      tally.lossesFound += figures.lost + figures.duplicated;
      const loads = await w.all<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM loads GROUP BY status');
      expect(loads.find((l) => l.status === 'pending')).toBeUndefined();
    } finally {
      await w.close();
    }
  });
});
