// Benchmark (measured, never asserted): the SDK's WASM build in Node and in headless Chromium next
// to native code doing the same work in the same run.
//   * file encryption: the chacha20poly1305 crate itself in WASM (64 KiB chunks), the sealed-file
//     push API inside WASM (1 MiB pieces), the same through the JS API (`FileSealer.push`, bytes
//     cross the JS/WASM boundary), and the native rows `seal_256MiB/raw_chacha20poly1305_chunks`
//     and `seal_256MiB/format_push_1MiB` of `cargo bench -p sealroom-core --bench format`;
//   * a room: create + add 100 members in one commit with the SDK's room client (encrypted
//     persistence, in-memory store), against the native `rooms/create_and_add/sdk/100` row.
// The WASM measurements are tests/node/bench-wasm-core.mjs, run once in Node and once in Chromium
// (tests/browser/bench-wasm.mjs, needs `npm ci` in tests/browser and Debian's chromium).
// Prints a Markdown section for docs/benchmarks.md.
//
//   SEALROOM_WASM_FEATURES=bench scripts/build-wasm.sh && node tests/node/bench-client.mjs [MiB=256] [rounds=3]
//   (SEALROOM_BENCH_NATIVE=0 skips the native criterion runs, SEALROOM_BENCH_CHROMIUM=0 the
//   Chromium run; CARGO_TARGET_DIR is honoured)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { loadSdk, ROOT } from "./helpers.mjs";
import { measure } from "./bench-wasm-core.mjs";

const MIB = Number(process.argv[2] ?? 256);
const ROUNDS = Number(process.argv[3] ?? 3);
const sdk = await loadSdk();

const node = measure(sdk, MIB, ROUNDS);
let chrome = null;
if (process.env.SEALROOM_BENCH_CHROMIUM !== "0") {
  const { benchInChromium } = await import("../browser/bench-wasm.mjs");
  chrome = await benchInChromium(MIB, ROUNDS);
}

// Native: criterion's median of the same rows (throughput in MiB/s, time in ms).
// SEALROOM_BENCH_CRITERION_LOGS=a.log:b.log reads the output of criterion runs made earlier in
// the same benchmark run (scripts/bench.sh) instead of running them again.
function criterion(bench, filter) {
  const out = process.env.SEALROOM_BENCH_CRITERION_LOGS
    ? process.env.SEALROOM_BENCH_CRITERION_LOGS.split(":").map((f) => readFileSync(f, "utf8")).join("\n")
    : execFileSync("cargo", ["bench", "-p", "sealroom-core", "--bench", bench, "--", filter], {
      cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"],
    });
  const rows = {};
  let current = null;
  for (const line of out.split("\n")) {
    const name = line.match(/^(\S+\/\S+)\s*(time:|$)/);
    if (name) current = name[1];
    const t = line.match(/time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]/);
    if (t && current) rows[current] = { ...rows[current], ms: Number(t[1]) * { ns: 1e-6, "µs": 1e-3, us: 1e-3, ms: 1, s: 1000 }[t[2]] };
    const thr = line.match(/thrpt:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]/);
    if (thr && current) rows[current] = { ...rows[current], mibps: Number(thr[1]) * { "MiB/s": 1, "GiB/s": 1024, "KiB/s": 1 / 1024 }[thr[2]] };
  }
  return rows;
}
let native = {};
if (process.env.SEALROOM_BENCH_NATIVE !== "0") {
  native = {
    ...criterion("format", "seal_256MiB/(raw_chacha20poly1305_chunks|format_push_1MiB)$"),
    ...criterion("rooms", "create_and_add/sdk/100$"),
  };
}
const n = (key, field) => native[key]?.[field];
const fmt = (x, d = 0) => (x === undefined ? "–" : x.toFixed(d));
const ratio = (a, b) => (a === undefined || b === undefined ? "–" : (a / b).toFixed(2));

const rawN = n("seal_256MiB/raw_chacha20poly1305_chunks", "mibps");
const pushN = n("seal_256MiB/format_push_1MiB", "mibps");
const roomN = n("rooms/create_and_add/sdk/100", "ms");
const c = (key) => chrome?.[key];
console.log(`Machine: ${cpus().length} × ${cpus()[0].model}; Node ${process.version}; Chromium ${chrome?.version ?? "not run"} (headless, playwright-core). WASM: ${MIB} MiB per round, best of ${ROUNDS}, Node and Chromium one after the other; native: criterion median (release, same run).\n`);
console.log("| file encryption, MiB/s | WASM in Node | WASM in Chromium | native | Node / native | Chromium / native | Node / raw AEAD in WASM | Chromium / raw AEAD in WASM |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
const row = (label, key, nat) =>
  console.log(`| ${label} | ${fmt(node[key])} | ${fmt(c(key))} | ${fmt(nat)} | ${ratio(node[key], nat)} | ${ratio(c(key), nat)} | ${ratio(node[key], node.rawAead)} | ${ratio(c(key), c("rawAead"))} |`);
row("chacha20poly1305 crate, 64 KiB chunks (baseline)", "rawAead", rawN);
row("its ChaCha20 keystream alone (chacha20 crate)", "chacha20", undefined);
row("its Poly1305 alone (poly1305 crate)", "poly1305", undefined);
row("the SDK's AEAD (sealroom-chacha in simd128), same chunks", "sdkAead", rawN);
row("its ChaCha20 keystream alone (sealroom-chacha, four blocks per step)", "sdkChaCha20", undefined);
row("sealed-file push API inside WASM, 1 MiB pieces", "sealInWasm", pushN);
row("the same through the JS API (FileSealer.push)", "sealViaJs", pushN);
console.log("");
console.log("| room | WASM in Node | WASM in Chromium | native | Node / native | Chromium / native |");
console.log("|---|---:|---:|---:|---:|---:|");
console.log(`| create room + add 100 members in one commit (SDK room client), median | ${fmt(node.commit100Ms, 1)} ms | ${fmt(c("commit100Ms"), 1)} ms | ${fmt(roomN, 1)} ms | ${ratio(node.commit100Ms, roomN)} | ${ratio(c("commit100Ms"), roomN)} |`);
