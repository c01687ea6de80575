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
export { MAC_BYTES, blockBytes, padIso9797Method2, transactionMac, retailMac } from './mac.ts';
export { sessionKeyBytes, diversifyKey, purchaseSessionKey, loadSessionKey, tacSessionKey } from './session-keys.ts';
