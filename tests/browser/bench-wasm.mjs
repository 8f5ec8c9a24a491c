/**
 * Runs the WASM benchmark of tests/node/bench-wasm-core.mjs inside headless Debian Chromium
 * (playwright-core, the flags of DEVELOPERS.md): a local static server on 127.0.0.1 serves a
 * blank page, the shared measurement module and wasm/pkg; the page imports both and runs the
 * measurements. Used by tests/node/bench-client.mjs (which adds the native figures of the same
 * run); measures only, nothing is asserted.
 *
 * Environment: CHROMIUM (default /usr/bin/chromium).
 */
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from './harness.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

/** Serves `/` (a blank page), `/bench-wasm-core.mjs` and `/pkg/*` (wasm/pkg) on a free port. */
async function serve() {
  const pkg = join(ROOT, 'wasm', 'pkg');
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = null;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>sealroom wasm bench</title><p>bench</p>');
      return;
    }
    if (path === '/bench-wasm-core.mjs') file = join(ROOT, 'tests', 'node', 'bench-wasm-core.mjs');
    else if (path.startsWith('/pkg/')) {
      const rel = normalize(path.slice('/pkg/'.length));
      if (!rel.startsWith('..')) file = join(pkg, rel);
    }
    try {
      if (!file) throw new Error('not found');
      const body = await readFile(file);
      const ext = file.slice(file.lastIndexOf('.'));
      res.writeHead(200, { 'content-type': TYPES[ext] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return server;
}

/** Runs `measure(sdk, mib, rounds)` in headless Chromium; returns its result plus the version. */
export async function benchInChromium(mib, rounds) {
  const server = await serve();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(30 * 60 * 1000);
    page.on('pageerror', (e) => console.error(`chromium page error: ${e}`));
    const { port } = server.address();
    await page.goto(`http://127.0.0.1:${port}/`);
    const result = await page.evaluate(async ([mib, rounds]) => {
      const sdk = await import('/pkg/sealroom.js');
      await sdk.default({ module_or_path: '/pkg/sealroom_bg.wasm' });
      const { measure } = await import('/bench-wasm-core.mjs');
      return { ...measure(sdk, mib, rounds), userAgent: navigator.userAgent };
    }, [mib, rounds]);
    return { ...result, version: browser.version() };
  } finally {
    await browser.close();
    server.close();
  }
}
