// Loads an app directory's shopify.app.toml with Shopify CLI's own loader and app configuration schema.
// Usage: node check-app-config.mjs <app directory>. Prints a JSON report; exits 1 when the CLI would reject it.
import {readFileSync, writeFileSync, rmSync, readdirSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {createRequire} from 'node:module'
import {pathToFileURL} from 'node:url'

const require = createRequire(import.meta.url)
const dist = join(dirname(require.resolve('@shopify/cli/package.json')), 'dist')

// The loader (loadApp), the local module specifications and the schema builder live in one bundled chunk and are
// not exported; a sibling copy of that chunk that also exports them runs the CLI's code unchanged.
const marker = 'async function Xo(e){let{project:t,activeConfig:r,specifications:n'
const chunk = readdirSync(dist).find((f) => f.startsWith('chunk-') && readFileSync(join(dist, f), 'utf8').includes(marker))
if (!chunk) throw new Error('Shopify CLI app loader not found: was @shopify/cli upgraded?')
const copy = join(dist, `.backsoon-loader-${process.pid}.js`)
writeFileSync(copy, readFileSync(join(dist, chunk), 'utf8') + '\nexport{Xo as __loadApp,bu as __specs,As as __Project,bE as __activeConfig,VF as __schema,IE as __parse};\n')
let cli
try {
  cli = await import(pathToFileURL(copy).href)
} finally {
  rmSync(copy, {force: true})
}

const directory = process.argv[2]
const errors = []
const project = await cli.__Project.load(directory)
const activeConfig = await cli.__activeConfig(project, undefined, {skipPrompts: true})
const specifications = await cli.__specs()
try {
  const app = await cli.__loadApp({project, activeConfig, specifications})
  for (const e of app.errors.getErrors()) errors.push(String(e.message ?? e))
} catch (e) {
  errors.push(String(e.message ?? e))
}
// Keys no module knows are passed through by the loader but never deployed: the strict schema names them.
const strict = cli.__parse(cli.__schema(specifications, false), activeConfig.file.path, activeConfig.file.content)
for (const e of strict.errors ?? []) errors.push(`${(e.path ?? []).join('.')}: ${e.message}`)
// `shopify app deploy` deletes build.include_config_on_deploy from the file (config is always deployed now).
if (activeConfig.file.content.build?.include_config_on_deploy !== undefined) {
  errors.push('build.include_config_on_deploy: removed by `shopify app deploy` (no longer supported)')
}
process.stdout.write(JSON.stringify({file: activeConfig.file.path, errors}) + '\n')
process.exit(errors.length ? 1 : 0)
