/** Loads the real network CSV for tests (the repository carries no copy: ../shared/data). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SUBWAY_CSV_PATH = process.env.SUBWAY_CSV ?? join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'beijing-subway-sections.csv');
export const SUBWAY_CSV = readFileSync(SUBWAY_CSV_PATH, 'utf8');
