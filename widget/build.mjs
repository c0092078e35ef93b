// Builds the storefront widget from its one source (widget/src) for each platform, minified, with the pinned esbuild:
//   app/static/widget.js                                            the app's shop pages and the WooCommerce plugin
//   integrations/shopify/extensions/backsoon-theme/assets/backsoon.js  the Shopify theme app extension (< 10,000 B)
// and, for Shopify, the words the block renders into the page: the extension's locales/<lang>.json ("backsoon.widget")
// and snippets/backsoon-i18n.liquid. Same input, same bytes: CI rebuilds and fails on any difference (git diff).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'widget', 'src');
const extension = path.join(root, 'integrations', 'shopify', 'extensions', 'backsoon-theme');
const SHOPIFY_LIMIT = 10000; // Theme Check AssetSizeAppBlockJavaScript, theme-app-extension preset
const DEFAULT_LOCALE = 'en';

const strings = JSON.parse(readFileSync(path.join(src, 'strings.json'), 'utf8'));
const keys = Object.keys(strings[DEFAULT_LOCALE]);
for (const [lang, words] of Object.entries(strings)) {
  if (Object.keys(words).join() !== keys.join()) throw new Error(`strings.json: ${lang} must have the keys ${keys}`);
  for (const [key, text] of Object.entries(words)) {
    // Shopify's t filter HTML-escapes these characters; the widget sets text, so none may be in a string.
    if (/[&<>"']/.test(text)) throw new Error(`strings.json: ${lang}.${key} has one of & < > " '`);
  }
}

function build(outfile, shopify) {
  const banner = `/* BackSoon storefront widget (${shopify ? 'Shopify' : 'app and WooCommerce'} build). Built from widget/src by \`make widget\`: do not edit. */`;
  buildSync({
    entryPoints: [path.join(src, 'widget.js')],
    outfile,
    minify: true,
    target: 'es2017',
    charset: 'utf8',
    legalComments: 'none',
    banner: { js: banner },
    define: { BACKSOON_SHOPIFY: String(shopify), BACKSOON_STRINGS: shopify ? 'null' : JSON.stringify(strings) },
    logLevel: 'warning',
  });
  const size = readFileSync(outfile).length;
  console.log(`${path.relative(root, outfile)}: ${size} bytes`);
  return size;
}

build(path.join(root, 'app', 'static', 'widget.js'), false);
const size = build(path.join(extension, 'assets', 'backsoon.js'), true);
if (size >= SHOPIFY_LIMIT) throw new Error(`the Shopify asset is ${size} bytes; Shopify allows less than ${SHOPIFY_LIMIT}`);

// Each language's words under "backsoon.widget" in the extension's locale files, other keys kept as they are.
for (const [lang, words] of Object.entries(strings)) {
  const file = path.join(extension, 'locales', `${lang}${lang === DEFAULT_LOCALE ? '.default' : ''}.json`);
  let data = {};
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  data.backsoon = { ...(data.backsoon || {}), widget: words };
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
}

// The JSON the Shopify build reads in place of its inline table, in the storefront's language.
const fields = keys.map((key) => `"${key}":{{ 'backsoon.widget.${key}' | t | json }}`).join(',');
writeFileSync(
  path.join(extension, 'snippets', 'backsoon-i18n.liquid'),
  `{%- comment -%} Built by \`make widget\` from widget/src/strings.json: the widget's words in the storefront's language. {%- endcomment -%}\n` +
    `<script type="application/json" data-backsoon-i18n>{${fields}}</script>\n`,
);
