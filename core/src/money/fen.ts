/**
 * Money in the hot path is an integer number of fen (0.01 yuan). The brand keeps a raw
 * number from being passed where fen are meant without a conscious conversion.
 */
export type Fen = number & { readonly __unit: 'fen' };

/** Largest fen amount any API accepts (well inside 2^53; the card itself is u32). */
export const MAX_SAFE_FEN = 2 ** 31 - 1;

export function fen(value: number): Fen {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`fen amount must be a safe integer, got ${value}`);
  }
  return value as Fen;
}

export function yuanToFen(yuan: number): Fen {
  if (!Number.isSafeInteger(yuan)) throw new RangeError(`yuan must be a whole number here, got ${yuan}`);
  return fen(yuan * 100);
}
