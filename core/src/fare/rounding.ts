/**
 * Rounding of every discount, in one place. Rule [P]: a discounted amount is
 * floor(amount × percent / 100) fen, computed once from the product of all percentages that
 * apply (e.g. 50% early entry × 80% ladder = 40%), so a discount never rounds against the rider
 * and never charges more than the undiscounted amount. Beijing fares are whole yuan, so the
 * published percentages (80, 50, 25) land on whole fen anyway; the floor only matters for
 * configured odd amounts.
 */
export function applyPercentFen(amountFen: number, percent: number): number {
  if (!Number.isSafeInteger(amountFen) || amountFen < 0) throw new RangeError(`amount must be a non-negative integer fen, got ${amountFen}`);
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError(`percent must be an integer 0..100, got ${percent}`);
  return Math.floor((amountFen * percent) / 100);
}

/** Two percentages applied with a single rounding: floor(amount × p1 × p2 / 10000). */
export function applyTwoPercentsFen(amountFen: number, percent1: number, percent2: number): number {
  if (!Number.isSafeInteger(amountFen) || amountFen < 0) throw new RangeError(`amount must be a non-negative integer fen, got ${amountFen}`);
  for (const p of [percent1, percent2]) {
    if (!Number.isInteger(p) || p < 0 || p > 100) throw new RangeError(`percent must be an integer 0..100, got ${p}`);
  }
  return Math.floor((amountFen * percent1 * percent2) / 10000);
}
