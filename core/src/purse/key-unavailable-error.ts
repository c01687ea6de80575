/**
 * Thrown by a key holder (PSAM, issuer key service) asked to work with a key version it does not
 * hold. The purchase protocol turns it into a 'key-unsupported' refusal: a card personalised
 * under a newer key version than this terminal's PSAM is a business outcome, not a crash.
 */
export class KeyUnavailableError extends Error {
  override readonly name = 'KeyUnavailableError';
}
