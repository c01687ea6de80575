// Writes dist/package.json after `tsc -p tsconfig.build.json`: the compiled tree is its own
// package scope, so Node resolves the project's "#core", "#gateway/*", ... aliases there to the
// compiled .js files, while the repository's package.json maps them to the TypeScript sources
// (tsx, vitest). The mapping is derived from the root package.json, so the two cannot drift.
// No "name": tools/src/shared-data.ts finds the project root by its name, above dist/.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const imports = {};
for (const [alias, target] of Object.entries(pkg.imports)) {
  if (typeof target !== 'string' || !target.endsWith('.ts')) throw new Error(`package.json imports ${alias}: expected a .ts target, got ${JSON.stringify(target)}`);
  imports[alias] = target.replace(/\.ts$/, '.js');
}
const distPkg = { private: true, type: 'module', description: 'Compiled transit-purse-core (npm run build); run with node, dependencies only.', imports };
writeFileSync(`${root}dist/package.json`, `${JSON.stringify(distPkg, null, 2)}\n`);
console.log(`dist/package.json: ${Object.keys(imports).length} import aliases`);
