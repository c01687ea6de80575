/**
 * The public surface of core. Validator and gateway import core only from here.
 * Core is pure: no I/O, no clock, no randomness (test/architecture keeps it so).
 */
export * from './limits.ts';
export * from './money/fen.ts';
export * from './money/yuan.ts';
export * from './crypto/algorithm.ts';
export * from './card/card-image.ts';
export * from './ports/card-port.ts';
export * from './ports/psam-port.ts';
export * from './ports/issuer-key-requests.ts';
export * from './tap/journal-record.ts';
export * from './purse/purchase-types.ts';
export * from './sync/sync-messages.ts';
export * from './crypto/index.ts';
export * from './card/bcd.ts';
export * from './card/card-format-error.ts';
export * from './card/card-number.ts';
export * from './card/tunion-files.ts';
export * from './issuer/issuer-registry.ts';
export * from './issuer/issuer-policy.ts';
export * from './card/log-record-codec.ts';
export * from './card/card-records.ts';
export * from './card/card-codec.ts';
export * from './fare/index.ts';
export * from './card/card-commands.ts';
export * from './card/card-simulator.ts';
export * from './purse/key-unavailable-error.ts';
export * from './purse/purse-data.ts';
export * from './purse/init-answers.ts';
export * from './purse/purchase.ts';
export * from './purse/load.ts';
export * from './tap/index.ts';
