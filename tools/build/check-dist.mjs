// `npm start` runs the compiled gateway: say how to get it instead of a raw module-not-found.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../dist/gateway/src/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error(`npm start runs the compiled gateway (${main}), which is missing: run "npm run build" first (or "npm run gateway:dev" for the TypeScript sources).`);
  process.exit(1);
}
