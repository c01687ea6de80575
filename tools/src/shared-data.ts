/**
 * Where the read-only data beside the clone lives (`../shared/data/`), found the same way from
 * TypeScript sources (tsx, vitest) and from the compiled build (`dist/`): walk up from this file
 * to the repository root (the folder whose package.json is this project's), then step beside it.
 * A deployment that keeps the network file elsewhere sets SUBWAY_NETWORK_CSV.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'transit-purse-core';

/** The repository (or installed package) root: the nearest ancestor whose package.json names this project. */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        if ((JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
      } catch {
        // an unreadable package.json is not ours; keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${from}`);
    dir = parent;
  }
}

/** ../shared/data/beijing-subway-sections.csv beside the project root. */
export function defaultSubwayNetworkCsv(): string {
  return join(projectRoot(), '..', 'shared', 'data', 'beijing-subway-sections.csv');
}
