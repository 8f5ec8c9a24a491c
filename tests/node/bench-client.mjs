// Benchmark (measured, never asserted): the SDK's WASM build in Node next to native code doing
// the same work in the same run.
//   * file encryption: the chacha20poly1305 crate itself in WASM (64 KiB chunks), the sealed-file
//     push API inside WASM (1 MiB pieces), the same through the JS API (`FileSealer.push`, bytes
//     cross the JS/WASM boundary), and the native rows `seal_256MiB/raw_chacha20poly1305_chunks`
//     and `seal_256MiB/format_push_1MiB` of `cargo bench -p sealroom-core --bench format`;
//   * a room: create + add 100 members in one commit with the SDK's room client (encrypted
//     persistence, in-memory store), against the native `rooms/create_and_add/sdk/100` row.
// Prints a Markdown section for docs/benchmarks.md.
//
//   scripts/build-wasm.sh && node tests/node/bench-client.mjs [MiB=256] [rounds=3]
//   (SEALROOM_BENCH_NATIVE=0 skips the native criterion runs; CARGO_TARGET_DIR is honoured)
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { loadSdk, ROOT } from "./helpers.mjs";

const MIB = Number(process.argv[2] ?? 256);
const ROUNDS = Number(process.argv[3] ?? 3);
const sdk = await loadSdk();

function time(fn) {
  const t = performance.now();
  fn();
  return (performance.now() - t) / 1000;
}
const best = (xs) => Math.max(...xs);

const raw = [], inWasm = [], viaJs = [];
const piece = new Uint8Array(1024 * 1024).fill(0x5a);
for (let r = 0; r < ROUNDS; r++) {
  raw.push(MIB / time(() => sdk.benchRawAead(MIB)));
  inWasm.push(MIB / time(() => sdk.benchSealInWasm(MIB)));
  viaJs.push(MIB / time(() => {
    const sealer = new sdk.FileSealer(new Uint8Array(32).fill(7), "bench.bin", "", "", 0, MIB * piece.length);
    sealer.header();
    for (let i = 0; i < MIB; i++) sealer.push(piece);
    sealer.finish();
    sealer.free();
  }));
}

const kps = sdk.BenchCommitter.keyPackages(100);
const commitMs = [];
for (let r = 0; r < Math.max(ROUNDS, 5); r++) {
  const committer = new sdk.BenchCommitter();
  commitMs.push(time(() => committer.createRoomAndAdd(kps)) * 1000);
  committer.free();
}
commitMs.sort((a, b) => a - b);
const commitMedian = commitMs[Math.floor(commitMs.length / 2)];

// Native: criterion's median of the same rows (throughput in MiB/s, time in ms).
function criterion(bench, filter) {
  const out = execFileSync("cargo", ["bench", "-p", "sealroom-core", "--bench", bench, "--", filter], {
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
console.log(`Machine: ${cpus().length} × ${cpus()[0].model}, Node ${process.version}. WASM: ${MIB} MiB per round, best of ${ROUNDS}; native: criterion median (release, same run).\n`);
console.log("| file encryption | WASM (Node) MiB/s | native MiB/s | WASM / native | / raw AEAD in WASM |");
console.log("|---|---:|---:|---:|---:|");
console.log(`| chacha20poly1305 crate, 64 KiB chunks | ${fmt(best(raw))} | ${fmt(rawN)} | ${ratio(best(raw), rawN)} | 1.00 |`);
console.log(`| sealed-file push API inside WASM, 1 MiB pieces | ${fmt(best(inWasm))} | ${fmt(pushN)} | ${ratio(best(inWasm), pushN)} | ${ratio(best(inWasm), best(raw))} |`);
console.log(`| the same through the JS API (FileSealer.push) | ${fmt(best(viaJs))} | ${fmt(pushN)} | ${ratio(best(viaJs), pushN)} | ${ratio(best(viaJs), best(raw))} |`);
console.log("");
console.log("| room | WASM (Node) | native | WASM / native |");
console.log("|---|---:|---:|---:|");
console.log(`| create room + add 100 members in one commit (SDK room client) | ${fmt(commitMedian, 1)} ms | ${fmt(roomN, 1)} ms | ${ratio(commitMedian, roomN)} |`);
