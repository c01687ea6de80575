/**
 * A distance-band fare rule: fixed bands up to a distance, then a step per started block.
 * Used by the main subway network, 西郊线, 大兴机场线 and the example suburban line.
 * Plain data (JSON-serialisable) so the whole rule travels in the fare tables.
 */
export interface DistanceBand {
  /** Inclusive upper bound of the band, metres. */
  upToM: number;
  fareFen: number;
}

export interface DistanceBandRule {
  /** Ascending by upToM. */
  bands: DistanceBand[];
  /** Beyond the last band: +stepFen per started stepM (stepM 0 = flat at the last band's fare). */
  stepM: number;
  stepFen: number;
  /**
   * Metres over a band edge that are still charged at that band ("100m为赠送里程"). The data
   * source claims 100 m for Beijing; no official source confirms it [U], so the default is 0.
   */
  graceM: number;
}

export function distanceBandFareFen(rule: DistanceBandRule, distanceM: number): number {
  if (!Number.isFinite(distanceM) || distanceM < 0) throw new RangeError(`distance must be >= 0 m, got ${distanceM}`);
  const charged = Math.max(0, distanceM - rule.graceM);
  const bands = rule.bands;
  for (let i = 0; i < bands.length; i++) {
    if (charged <= bands[i].upToM) return bands[i].fareFen;
  }
  const last = bands[bands.length - 1];
  if (rule.stepM <= 0) return last.fareFen;
  return last.fareFen + Math.ceil((charged - last.upToM) / rule.stepM) * rule.stepFen;
}

export function validateDistanceBandRule(rule: DistanceBandRule, what: string): void {
  if (rule.bands.length === 0) throw new RangeError(`${what}: at least one band`);
  let prevM = -1;
  let prevFen = -1;
  for (const band of rule.bands) {
    if (!(band.upToM > prevM)) throw new RangeError(`${what}: bands must ascend by distance`);
    if (!Number.isSafeInteger(band.fareFen) || band.fareFen < prevFen) throw new RangeError(`${what}: band fares must be non-decreasing integer fen`);
    prevM = band.upToM;
    prevFen = band.fareFen;
  }
  if (rule.stepM < 0 || !Number.isSafeInteger(rule.stepFen) || rule.stepFen < 0) throw new RangeError(`${what}: bad step`);
  if (rule.graceM < 0) throw new RangeError(`${what}: grace must be >= 0`);
}
