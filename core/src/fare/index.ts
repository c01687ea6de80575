/** Fares: pure, data-driven, versioned by effective date (DOMAIN.md section 4). */
export * from './time.ts';
export * from './rounding.ts';
export * from './distance-bands.ts';
export * from './subway-fare-policy.ts';
export * from './subway-network.ts';
export * from './subway-trip-fare.ts';
export * from './bus-fare.ts';
export * from './example-bus-lines.ts';
export * from './suburban-fare.ts';
export * from './park-and-ride.ts';
export * from './park-pass.ts';
export * from './fare-tables.ts';
export * from './data/working-day-calendar.ts';
export * from './data/park-pass-years.ts';
export * from './data/pr-lots.ts';
