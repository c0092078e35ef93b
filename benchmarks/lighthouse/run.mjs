// Runs Lighthouse (performance category only) on a list of URLs in one Chromium, one run after another, and prints
// one JSON line per run with the figures benchmarks/storefront_lighthouse.py reads. Usage:
//   CHROME_PATH=/usr/bin/chromium node run.mjs plan.json
// plan.json: {"runs": [{"id": "...", "url": "...", "preset": "mobile" | "desktop"}]}
import fs from 'node:fs';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse, { desktopConfig } from 'lighthouse';

const METRICS = {
  fcp: 'first-contentful-paint',
  lcp: 'largest-contentful-paint',
  tbt: 'total-blocking-time',
  cls: 'cumulative-layout-shift',
  si: 'speed-index',
};

function items(audit) {
  return (audit && audit.details && audit.details.items) || [];
}

function summary(lhr) {
  const a = lhr.audits;
  const out = { score: Math.round(lhr.categories.performance.score * 1000) / 10 };
  for (const [key, id] of Object.entries(METRICS)) out[key] = a[id] ? a[id].numericValue : null;
  // What explains a difference between two variants of a page: bytes, script time, and BackSoon's own requests.
  out.bytes = a['total-byte-weight'] ? a['total-byte-weight'].numericValue : null;
  out.script_ms = a['bootup-time'] ? a['bootup-time'].numericValue : null;
  out.backsoon = items(a['network-requests'])
    .filter((i) => /backsoon/.test(i.url))
    .map((i) => ({ url: i.url.replace(/^https?:\/\/[^/]+/, ''), bytes: i.transferSize, priority: i.priority }));
  // Lighthouse 12.2.3's trace engine cannot read the frame reporter events of newer Chromium builds, so the
  // insight-based audits (render-blocking-resources, layout-shifts, largest-contentful-paint-element) error out.
  // The metrics and the score come from the metric audits and are unaffected; the errored audits are listed.
  out.errored = Object.values(a)
    .filter((x) => x.scoreDisplayMode === 'error')
    .map((x) => x.id);
  out.warnings = lhr.runWarnings || [];
  return out;
}

const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROME_PATH,
  chromeFlags: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions'],
});
try {
  for (const run of plan.runs) {
    const flags = { port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: ['performance'] };
    const config = run.preset === 'desktop' ? desktopConfig : undefined;
    const result = await lighthouse(run.url, flags, config);
    const line = { id: run.id, url: run.url, ...summary(result.lhr) };
    // LH_KEEP=<dir> keeps every full report, to read the audits behind a difference.
    if (process.env.LH_KEEP) {
      fs.mkdirSync(process.env.LH_KEEP, { recursive: true });
      const name = `${run.id.replace(/[^\w-]+/g, '_')}-${Date.now()}.json`;
      fs.writeFileSync(`${process.env.LH_KEEP}/${name}`, result.report);
    }
    if (result.lhr.runtimeError) line.error = result.lhr.runtimeError.message;
    process.stdout.write(JSON.stringify(line) + '\n');
  }
} finally {
  await chrome.kill();
}
