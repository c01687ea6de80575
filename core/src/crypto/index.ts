/** The crypto surface exported from core/src/index.ts (alternatives in ./alt are not). */
export * from './bytes.ts';
export {
  KEY_SCHEDULE_CACHE_CAPACITY,
  desEncryptBlock,
  desDecryptBlock,
  tripleDesEncryptBlock,
  tripleDesDecryptBlock,
  sm4EncryptBlock,
  sm4DecryptBlock,
} from './cipher-blocks.ts';
export {
  MAC_BYTES,
  blockBytes,
  padIso9797Method2,
  transactionMac,
  transactionMacInto,
  prepareTransactionMacKey,
  transactionMacWithKeyInto,
  retailMac,
  type TransactionMacKey,
} from './mac.ts';
export {
  sessionKeyBytes,
  diversifyKey,
  diversifyKeyInto,
  purchaseSessionKey,
  purchaseSessionKeyInto,
  loadSessionKey,
  tacSessionKey,
  tacSessionKeyInto,
} from './session-keys.ts';
export { ScheduleCache } from './schedule-cache.ts';
