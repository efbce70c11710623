// What a person sees, checked in a real browser: Debian's chromium driven by playwright-core.
//
// Three sites, each served by the zcopy binary under test on a loopback port it picks itself:
//   - a test site made here (random bytes, non-ASCII and very long names, a hidden file, a WebM
//     video), listed with --autoindex under both engines: names, breadcrumbs, sorting, the video
//     seeked (206 responses from a byte offset past the start), a download compared by SHA-256;
//   - the demo (scripts/demo-root.sh: what `bash scripts/main.sh` serves): its index, the bench
//     report and the listing, the favicon, SHA256SUMS shown as text;
// and on every page, at a phone width (390 px) and a desktop width (1280 px), the layout rules:
// no text under 11 CSS px (SVG text measured as rendered), no table wider than the viewport, no
// sideways scrolling. Full-page screenshots of each go to ZCOPY_SCREENSHOTS.
//
// Environment (tests/browser/run.sh sets it): ZCOPY (the binary), ZCOPY_DEMO_ROOT (a generated
// demo site), ZCOPY_VIDEO (a WebM file), ZCOPY_SCREENSHOTS (a directory), CHROMIUM (the browser).
// Every wait is for an event; the timeouts below are a patience for a slow machine, not a budget.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const zcopy = process.env.ZCOPY;
const demoRoot = process.env.ZCOPY_DEMO_ROOT;
const video = process.env.ZCOPY_VIDEO;
const screenshots = process.env.ZCOPY_SCREENSHOTS;
const patience = 300_000;
for (const [name, value] of Object.entries({ zcopy, demoRoot, video, screenshots })) {
  assert.ok(value, `${name} is not set (run tests/browser/run.sh)`);
}
fs.mkdirSync(screenshots, { recursive: true });

const widths = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'desktop', width: 1280, height: 900 },
];

// --- the server ----------------------------------------------------------------------------------

// Starts `zcopy serve ROOT --autoindex ARGS...` on a free loopback port and resolves with its
// base URL once it prints "serving ... at URL" (the line every serve prints when it listens).
function serve(root, args = []) {
  const child = spawn(zcopy, ['serve', root, '--autoindex', '--listen', '127.0.0.1:0',
    '--threads', '1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const url = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/zcopy serve: serving .* at (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) resolve(m[1]);
    });
    child.stderr.on('data', (chunk) => { err += chunk; });
    child.on('exit', (code) => reject(new Error(`zcopy serve exited (${code}): ${out}${err}`)));
  });
  const stopped = new Promise((resolve) => child.on('exit', resolve));
  return {
    url,
    log: () => out + err,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await stopped;
    },
  };
}

// --- the layout rules ----------------------------------------------------------------------------

// Every problem a person would see at this width, as text: small text, wide tables, sideways
// scrolling. Runs in the page.
function layoutProblems() {
  const problems = [];
  const viewport = document.documentElement.clientWidth;
  const wide = document.documentElement.scrollWidth;
  if (wide > viewport + 1) problems.push(`the page scrolls sideways: ${wide} px in ${viewport} px`);
  for (const table of document.querySelectorAll('table')) {
    const w = table.getBoundingClientRect().width;
    if (w > viewport + 1) {
      problems.push(`a table is ${Math.round(w)} px wide in ${viewport} px: ` +
        `${table.innerText.slice(0, 60)}`);
    }
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const element = node.parentElement;
    if (!text || !element) continue;
    const style = getComputedStyle(element);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const box = element.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;  // not rendered (closed <details>, etc.)
    let size = parseFloat(style.fontSize);
    // SVG text is drawn at its font size times the scale of the SVG's viewBox on screen.
    if (element instanceof SVGElement && element.getScreenCTM()) {
      const m = element.getScreenCTM();
      size *= Math.hypot(m.a, m.b);
    }
    if (size < 11 - 0.01) problems.push(`text at ${size.toFixed(1)} px: "${text.slice(0, 40)}"`);
  }
  return [...new Set(problems)];
}

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    timeout: patience,
  });
});
after(async () => { await browser?.close(); });

async function newPage(viewport) {
  const context = await browser.newContext({
    viewport: { width: viewport.width, height: viewport.height },
    deviceScaleFactor: 1,
    acceptDownloads: true,
  });
  context.setDefaultTimeout(patience);
  const page = await context.newPage();
  const failures = [];
  page.on('response', (r) => { if (r.status() >= 400) failures.push(`${r.status()} ${r.url()}`); });
  page.on('pageerror', (e) => failures.push(`script error: ${e.message}`));
  return { context, page, failures };
}

// Loads `url` at each width, checks the layout rules and saves a full-page screenshot named
// NAME-WIDTH.png. Returns nothing; fails with every problem found.
async function checkAtBothWidths(url, name) {
  for (const viewport of widths) {
    const { context, page, failures } = await newPage(viewport);
    try {
      await page.goto(url, { waitUntil: 'load' });
      assert.deepEqual(await page.evaluate(layoutProblems), [],
        `${name} at ${viewport.width} px`);
      await page.screenshot({
        path: path.join(screenshots, `${name}-${viewport.width}.png`),
        fullPage: true,
      });
      assert.deepEqual(failures, [], `${name} at ${viewport.width} px: failed requests`);
    } finally {
      await context.close();
    }
  }
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

// --- the test site -------------------------------------------------------------------------------

const site = fs.mkdtempSync(path.join(os.tmpdir(), 'zcopy-browser-'));
const unicodeName = 'Résumé café 日本.txt';
const longName = `${'a-very-long-file-name-'.repeat(6)}end.tar.gz`;
const downloadBytes = randomBytes(32 * 1024 * 1024 + 123);
const sizes = { 'small.bin': 700, 'medium.bin': 150_000, 'large.bin': 3_000_000 };
fs.mkdirSync(path.join(site, 'docs', 'deeper'), { recursive: true });
fs.mkdirSync(path.join(site, 'videos'));
fs.writeFileSync(path.join(site, unicodeName), randomBytes(4321));
fs.writeFileSync(path.join(site, longName), randomBytes(99));
fs.writeFileSync(path.join(site, '.hidden'), randomBytes(10));
fs.writeFileSync(path.join(site, 'download.bin'), downloadBytes);
for (const [name, size] of Object.entries(sizes)) {
  fs.writeFileSync(path.join(site, 'docs', name), randomBytes(size));
}
fs.writeFileSync(path.join(site, 'docs', 'deeper', 'note.txt'), randomBytes(64).toString('hex'));
fs.copyFileSync(video, path.join(site, 'videos', 'clip.webm'));
fs.writeFileSync(path.join(site, 'player.html'),
  '<!doctype html><meta charset="utf-8"><title>player</title>' +
  '<video id="v" src="videos/clip.webm" preload="metadata" muted></video>');
after(() => fs.rmSync(site, { recursive: true, force: true }));

for (const engine of ['auto', 'io_uring']) {
  describe(`the listing (--engine ${engine})`, () => {
    let server;
    let base;
    before(async () => {
      server = serve(site, ['--engine', engine]);
      base = await server.url;
    });
    after(async () => { await server.stop(); });

    test('shows every visible name, directories first and marked, hidden ones left out',
      async () => {
        const { context, page } = await newPage(widths[1]);
        await page.goto(base);
        const names = await page.$$eval('tbody td:first-child a', (as) => as.map((a) => a.textContent));
        assert.deepEqual(names, ['docs/', 'videos/', 'download.bin', 'player.html',
          unicodeName, longName].sort((a, b) => {
          const dir = (s) => (s.endsWith('/') ? 0 : 1);
          return dir(a) - dir(b) || Buffer.compare(Buffer.from(a), Buffer.from(b));
        }));
        assert.equal(await page.$$eval('tbody tr.d', (rows) => rows.length), 2);
        const title = await page.getAttribute(`tbody tr:has-text("download.bin") td.s`, 'title');
        assert.equal(title, `${downloadBytes.length.toLocaleString('en-US')} bytes`);
        await context.close();
      });

    test('sorts by size when the heading is clicked, and back', async () => {
      const { context, page } = await newPage(widths[0]);
      await page.goto(`${base}docs/`);
      const order = () => page.$$eval('tbody tr:not(.d) td:first-child a',
        (as) => as.map((a) => a.textContent));
      assert.deepEqual(await order(), ['large.bin', 'medium.bin', 'small.bin']);
      await page.click('th >> text=Size');
      await page.waitForURL(/sort=size&order=asc/);
      assert.deepEqual(await order(), ['small.bin', 'medium.bin', 'large.bin']);
      await page.click('th >> text=Size');
      await page.waitForURL(/sort=size&order=desc/);
      assert.deepEqual(await order(), ['large.bin', 'medium.bin', 'small.bin']);
      await context.close();
    });

    test('breadcrumbs lead back up to every ancestor', async () => {
      const { context, page } = await newPage(widths[0]);
      await page.goto(`${base}docs/deeper/`);
      await page.click('h1 >> text=docs');
      await page.waitForURL(`${base}docs/`);
      await page.click('h1 a >> text=/');
      await page.waitForURL(base);
      await context.close();
    });

    test('a video seeks: the browser asks for a range past the start and plays from there',
      async () => {
        const { context, page } = await newPage(widths[1]);
        // The Range header is the renderer's own, so it is in the request as sent; a response's
        // full headers can arrive after the browser has cancelled it (it does, once it has what
        // it needs), so only its status is read.
        const requests = [];
        page.on('request', (r) => { if (r.url().endsWith('/videos/clip.webm')) requests.push(r); });
        // At 1 MiB/s the 20 MB file cannot have arrived when the seek to 90 % comes right after
        // the metadata, however fast the server is (unthrottled, a fast server sends it all in
        // the first response and the seek needs no request).
        const cdp = await context.newCDPSession(page);
        await cdp.send('Network.enable');
        await cdp.send('Network.emulateNetworkConditions', {
          offline: false, latency: 0, downloadThroughput: 1024 * 1024, uploadThroughput: -1,
        });
        await page.goto(`${base}player.html`);
        const seeked = await page.evaluate(() => new Promise((resolve, reject) => {
          const v = document.getElementById('v');
          v.onerror = () => reject(new Error(`video error ${v.error?.code}`));
          const seek = () => {
            v.onseeked = () => resolve({ time: v.currentTime, duration: v.duration,
              ready: v.readyState });
            v.currentTime = v.duration * 0.9;
          };
          if (v.readyState >= 1) seek(); else v.onloadedmetadata = seek;
        }));
        assert.ok(Math.abs(seeked.time - seeked.duration * 0.9) < 1.5, JSON.stringify(seeked));
        assert.ok(seeked.ready >= 2, `no frame at the seek target: ${JSON.stringify(seeked)}`);
        const ranges = await Promise.all(requests.map(async (r) => ({
          range: r.headers().range, status: (await r.response())?.status() ?? 'cancelled',
        })));
        assert.ok(ranges.length > 0);
        for (const r of ranges) {
          assert.match(r.range ?? '', /^bytes=\d+-\d*$/, JSON.stringify(ranges));
          if (r.status !== 'cancelled') assert.equal(r.status, 206, JSON.stringify(ranges));
        }
        const starts = ranges.map((r) => Number(/^bytes=(\d+)-/.exec(r.range)[1]));
        assert.ok(starts.some((s) => s > 0), `no range past the start: ${JSON.stringify(ranges)}`);
        await context.close();
      });

    test('a download arrives byte for byte', async () => {
      const { context, page } = await newPage(widths[1]);
      await page.goto(base);
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('text=download.bin'),
      ]);
      const saved = await download.path();
      assert.equal(await download.failure(), null);
      assert.equal(sha256(fs.readFileSync(saved)), sha256(downloadBytes));
      await context.close();
    });

    test('meets the layout rules at phone and desktop widths', async () => {
      const suffix = engine === 'auto' ? '' : `-${engine}`;
      await checkAtBothWidths(base, `listing${suffix}`);
      await checkAtBothWidths(`${base}docs/deeper/`, `listing-deeper${suffix}`);
    });
  });
}

// --- the demo ------------------------------------------------------------------------------------

describe('the demo', () => {
  let server;
  let base;
  before(async () => {
    server = serve(demoRoot);
    base = await server.url;
  });
  after(async () => { await server.stop(); });

  test('the index says what zcopy is, with sizes people read and the real address', async () => {
    const { context, page, failures } = await newPage(widths[1]);
    await page.goto(base);
    const text = await page.innerText('body');
    for (const word of ['serve', 'cp', 'get', 'relay', 'bench', 'probe', 'gpu', 'library']) {
      assert.match(text, new RegExp(`\\b${word}\\b`), `the index does not mention ${word}`);
    }
    assert.match(text, /\d+(\.\d)? (KiB|MiB)/);
    assert.doesNotMatch(text, /\d{7,} bytes/);
    assert.ok(text.includes(`curl -s ${base}`), `no curl hint with ${base}:\n${text}`);
    assert.doesNotMatch(text, /http:\/\/HOST/);
    // Links to the README and the docs, and each one is served.
    for (const href of await page.$$eval('a', (as) => as.map((a) => a.href))) {
      const r = await page.request.fetch(href, { method: 'HEAD' });
      assert.equal(r.status(), 200, href);
    }
    const readme = await page.$('a[href$="README.md"]');
    assert.ok(readme, 'no link to the README');
    assert.deepEqual(failures, []);  // the favicon included: no 404 at all
    await context.close();
  });

  test('SHA256SUMS is shown as text and matches the files', async () => {
    const { context, page } = await newPage(widths[1]);
    const response = await page.goto(`${base}files/SHA256SUMS`);
    assert.match(response.headers()['content-type'], /^text\/plain/);
    const lines = (await page.innerText('body')).trim().split('\n');
    assert.ok(lines.length >= 2);
    for (const line of lines) {
      const [sum, name] = line.split(/\s+\*?/);
      if (fs.statSync(path.join(demoRoot, 'files', name)).size > 64 * 1024 * 1024) continue;
      const body = await (await page.request.get(`${base}files/${name}`)).body();
      assert.equal(sha256(body), sum, name);
    }
    await context.close();
  });

  test('the favicon is served', async () => {
    const { context, page } = await newPage(widths[0]);
    const r = await page.request.get(`${base}favicon.ico`);
    assert.equal(r.status(), 200);
    assert.match(r.headers()['content-type'], /^image\//);
    await context.close();
  });

  test('the index, the bench report and the listing meet the layout rules', async () => {
    await checkAtBothWidths(base, 'demo-index');
    await checkAtBothWidths(`${base}bench.html`, 'bench-report');
    await checkAtBothWidths(`${base}files/`, 'demo-listing');
  });
});
