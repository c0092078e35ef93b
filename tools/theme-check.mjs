// Theme Check on the Shopify theme app extension, with the pinned @shopify/theme-check-node and the extension's
// .theme-check.yml (theme-app-extension preset). Prints every offense; exits 1 when any is an error.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Severity, themeCheckRun } from '@shopify/theme-check-node';

const root = path.resolve(fileURLToPath(import.meta.url), '../../integrations/shopify/extensions/backsoon-theme');
const names = { [Severity.ERROR]: 'error', [Severity.WARNING]: 'warning', [Severity.INFO]: 'info' };
const { offenses } = await themeCheckRun(root, path.join(root, '.theme-check.yml'));
for (const o of offenses) {
  const file = path.relative(process.cwd(), fileURLToPath(o.uri));
  console.log(`${file}:${o.start.line + 1}:${o.start.character + 1} ${names[o.severity]} ${o.check}: ${o.message}`);
}
const errors = offenses.filter((o) => o.severity === Severity.ERROR).length;
console.log(`Theme Check: ${errors} error(s), ${offenses.length - errors} other offense(s) in ${path.relative(process.cwd(), root)}`);
process.exit(errors ? 1 : 0);
