/** Tap decisions (DOMAIN.md sections 2, 4, 5). */
export * from './result-codes.ts';
export * from './device-config.ts';
export * from './decide-tap.ts';
export * from './execute-tap.ts';
