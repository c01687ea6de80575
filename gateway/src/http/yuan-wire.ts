/**
 * Yuan amounts at the API edge: core's parseYuan does the grammar and the cap; any failure is
 * a 400 'invalid-amount' that changes nothing.
 */
import { formatYuan, parseYuan, YuanFormatError, type Fen } from '#core';
import { ApiError } from './problem.ts';

export function parseWireYuan(value: unknown, field: string, maxFen?: number): Fen {
  try {
    return parseYuan(value, maxFen);
  } catch (error) {
    if (error instanceof YuanFormatError) throw new ApiError('invalid-amount', `${field}: ${error.message}`);
    throw error;
  }
}

export function toWireYuan(amountFen: number): string {
  return formatYuan(amountFen);
}
