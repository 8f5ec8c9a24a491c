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
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

// ---- Transfers: the SDK in Chromium uploading and downloading through a real relay -----------

/** Self time per function of a CDP CPU profile, largest first: [[name, ms], ...]. */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    // An anonymous function is named by where it is (file and line), so the row says whose it is.
    const where = f.url ? ` ${f.url.slice(f.url.lastIndexOf('/') + 1)}:${f.lineNumber + 1}` : '';
    const name = f.functionName || `(anonymous${where})`;
    self.set(name, (self.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...self].sort((a, b) => b[1] - a[1]);
}

/**
 * CPU time (ms, user + system) used so far by the Chromium processes this process started (by
 * kind: renderer, browser, network service, ...) and by the relay whose data directory is
 * `relayDir`, from Linux's /proc; `{}` where there is none. Other engineers' processes on a
 * shared machine are not counted.
 */
function processCpu(relayDir) {
  const out = {};
  if (!existsSync('/proc/self/stat')) return out;
  const stats = new Map();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      stats.set(Number(pid), { ppid: Number(fields[1]), ms: (Number(fields[11]) + Number(fields[12])) * 10 });
    } catch {
      // Gone meanwhile.
    }
  }
  const under = (pid) => {
    for (let p = stats.get(pid)?.ppid ?? 0; p > 1; p = stats.get(p)?.ppid ?? 0) if (p === process.pid) return true;
    return false;
  };
  for (const [pid, { ms }] of stats) {
    try {
      let kind = null;
      const cmd = under(pid) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
      if (/chrom/i.test(cmd.split(/[\0 ]/)[0])) {
        const type = cmd.match(/--type=(\S+)/)?.[1] ?? 'browser';
        const sub = cmd.match(/--utility-sub-type=(\S+)/)?.[1];
        kind = sub ? sub.split('.').pop() : type;
      } else if (relayDir && readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`SEALROOM_DATA_DIR=${relayDir}\0`)) {
        kind = 'relay';
      }
      if (kind) out[kind] = (out[kind] ?? 0) + ms;
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return out;
}

/**
 * A web directory for the relay (`SEALROOM_WEB_DIR`): a blank `bench.html` and wasm/pkg as
 * `sdk/`. Served by the relay itself, so the page and the API share one origin and no request
 * is intercepted (Playwright's `page.route` passes every request body through the DevTools
 * protocol: a 4 MiB append then takes ten times as long).
 */
export async function benchWebDir() {
  const { cpSync, mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-bench-web-'));
  cpSync(join(ROOT, 'wasm', 'pkg'), join(dir, 'sdk'), { recursive: true });
  writeFileSync(join(dir, 'bench.html'), '<!doctype html><html lang="en"><title>sealroom transfer bench</title><p>bench</p></html>');
  return dir;
}

/**
 * Uploads a `mib` MiB file (a Blob's stream, as the portal does with a picked File) with the
 * SDK in headless Chromium through the relay at `relay` ({ url, setupToken() }, serving
 * `benchWebDir()`), then downloads
 * it on the same device, consuming the stream. Each transfer runs under the CDP profiler; the
 * result has MiB/s and the top self-time entries of each (`(idle)` is waiting: the network
 * and the relay).
 */
export async function transferInChromium(mib, relay) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(30 * 60 * 1000);
    page.on('pageerror', (e) => console.error(`chromium page error: ${e}`));
    await page.goto(`${relay.url}/bench.html`);
    await page.evaluate(async ([token, mib]) => {
      const sdk = await import('/sdk/sealroom.js');
      await sdk.default();
      const client = await sdk.SealroomClient.open(location.origin, { store: 'memory' });
      await client.bootstrap(token, 'Bench', 'Bea', null, 'chromium');
      const org = await client.createCustomerOrg('Bench customer');
      const space = await client.createSpace(org.orgId, false);
      // 4 MiB of random bytes repeated: generating is not part of the measurement.
      const block = new Uint8Array(4 << 20);
      for (let i = 0; i < block.length; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
      const parts = [];
      for (let left = mib << 20; left > 0; left -= block.length) parts.push(left >= block.length ? block : block.subarray(0, left));
      window.bench = { client, spaceId: space.spaceId, file: new Blob(parts) };
    }, [relay.setupToken(), mib]);

    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
    let profiles = 0;
    const profiled = async (fn) => {
      const before = processCpu(relay.dataDir);
      await cdp.send('Profiler.start');
      const ms = await page.evaluate(fn);
      const { profile } = await cdp.send('Profiler.stop');
      const after = processCpu(relay.dataDir);
      if (process.env.SEALROOM_BENCH_PROFILE) (await import('node:fs')).writeFileSync(`${process.env.SEALROOM_BENCH_PROFILE}-${++profiles}.cpuprofile`, JSON.stringify(profile));
      const cpu = Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
      return { ms, top: selfTimes(profile).slice(0, 6), cpu };
    };
    const up = await profiled(async () => {
      const { client, spaceId, file } = window.bench;
      const t = performance.now();
      const v = await client.uploadFile(spaceId, { name: 'bench.bin' }, file.size, file.stream());
      window.bench.fileId = v.fileId;
      return performance.now() - t;
    });
    const down = await profiled(async () => {
      const { client, spaceId, fileId, file } = window.bench;
      const t = performance.now();
      const reader = (await client.downloadFile(spaceId, fileId)).getReader();
      let n = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        n += value.length;
      }
      if (n !== file.size) throw new Error(`downloaded ${n} bytes of ${file.size}`);
      return performance.now() - t;
    });
    const rate = (ms) => mib / (ms / 1000);
    return { upload: { mibs: rate(up.ms), ...up }, download: { mibs: rate(down.ms), ...down }, version: browser.version() };
  } finally {
    await browser.close();
  }
}

/** `| name | ms (share) |` cells of a profile's top entries. */
function limits(t) {
  return t.top.map(([name, ms]) => `${name.replace(/\|/g, '/')} ${Math.round(ms)} ms (${Math.round((100 * ms) / t.ms)} %)`).join('; ');
}

/** `kind X ms (share of the transfer's wall time)` cells of the per-process CPU times. */
function cpuCells(t) {
  if (!t.cpu.length) return 'n/a (no /proc)';
  return t.cpu.map(([kind, ms]) => `${kind} ${Math.round(ms)} ms (${Math.round((100 * ms) / t.ms)} %)`).join('; ');
}

/**
 * `node tests/browser/bench-wasm.mjs transfer [MiB=128]`: the Chromium transfer above beside
 * the native SDK client (`sealroom-client-bench --mib MiB`, release build, its own relay) in the
 * same run; prints a Markdown section. Relay: SEALROOM_RELAY_BIN (bench.sh passes the release
 * build). SEALROOM_BENCH_NATIVE=0 skips the native run.
 */
async function transferMain(mib) {
  const { startRelay } = await import('../node/relay.mjs');
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const web = await benchWebDir();
  const relay = await startRelay({ SEALROOM_WEB_DIR: web });
  let chrome;
  try {
    chrome = await transferInChromium(mib, relay);
  } finally {
    await relay.stop();
    rmSync(web, { recursive: true, force: true });
  }
  let native = null;
  if (process.env.SEALROOM_BENCH_NATIVE !== '0') {
    const target = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
    const dir = mkdtempSync(join(tmpdir(), 'sealroom-bench-'));
    try {
      execFileSync(join(target, 'release', 'sealroom-client-bench'), ['--mib', String(mib), '--markdown', join(dir, 'native.md')], { stdio: ['ignore', 'ignore', 'inherit'] });
      const row = readFileSync(join(dir, 'native.md'), 'utf8').split('\n').find((l) => l.startsWith(`| ${mib} MiB |`));
      const cells = row?.split('|').map((c) => parseFloat(c)) ?? [];
      native = { upload: cells[2], download: cells[3] };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const f = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} MiB/s` : 'n/a');
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
  const lines = [
    `${mib} MiB through the real relay on loopback (release build), uploaded from a \`Blob\` stream and`,
    `downloaded as a stream on the same device by the WASM SDK in headless Chromium ${chrome.version}, and by`,
    'the native SDK client (`sealroom-client-bench`, staff uploads, customer downloads) right after it.',
    '',
    '| Transfer | Chromium (WASM SDK) | Native SDK client | Chromium / native |',
    '|---|---:|---:|---:|',
    `| Upload | ${f(chrome.upload.mibs)} | ${f(native?.upload)} | ${ratio(chrome.upload.mibs, native?.upload)} |`,
    `| Download | ${f(chrome.download.mibs)} | ${f(native?.download)} | ${ratio(chrome.download.mibs, native?.download)} |`,
    '',
    'Where the page\'s time went (CDP CPU profile, self time; `(idle)` is the page waiting on the',
    'network and the relay, `(program)` the browser\'s own work):',
    '',
    `- upload: ${limits(chrome.upload)}`,
    `- download: ${limits(chrome.download)}`,
    '',
    'CPU time of each process during the transfer (user + system, /proc; the machine\'s other',
    'processes not counted):',
    '',
    `- upload: ${cpuCells(chrome.upload)}`,
    `- download: ${cpuCells(chrome.download)}`,
  ];
  console.log(lines.join('\n'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === 'transfer') {
  await transferMain(Number(process.argv[3] ?? 128));
}
