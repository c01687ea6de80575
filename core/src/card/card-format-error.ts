/**
 * Thrown by every card codec when bytes (or a record about to be encoded) break the format:
 * wrong length, unknown version, a digit that is not BCD, a value out of range. Corrupt card
 * data is a programmer or hardware error, never a business outcome, so it is an exception.
 */
export class CardFormatError extends Error {
  override readonly name = 'CardFormatError';
}
