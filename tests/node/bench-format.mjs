// Benchmark (measured, never asserted): sealed-file seal and open throughput of the WASM build in
// Node, next to the native build doing the same work in the same run (`sealfile bench`, release).
// Both push 64 KiB pieces through the push API. Prints a Markdown table.
//
//   cargo build --release -p sealroom-tests --bin sealfile && scripts/build-wasm.sh
//   node tests/node/bench-format.mjs [MiB=256] [rounds=3]
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { loadSdk, nativeBin } from "./helpers.mjs";

const MIB = Number(process.argv[2] ?? 256);
const ROUNDS = Number(process.argv[3] ?? 3);
const sdk = await loadSdk();
const piece = new Uint8Array(64 * 1024).fill(0x5a);

function wasmRound() {
  const key = sdk.generateFileKey();
  const pieces = MIB * 16;
  let t = performance.now();
  const sealer = new sdk.FileSealer(key, "bench", "", "", 0, pieces * piece.length);
  const sealed = [sealer.header()];
  for (let i = 0; i < pieces; i++) sealed.push(sealer.push(piece));
  sealed.push(sealer.finish());
  const sealSecs = (performance.now() - t) / 1000;

  t = performance.now();
  const opener = new sdk.FileOpener(key);
  let opened = 0;
  for (const part of sealed) opened += opener.push(part).length;
  opened += opener.finish().length;
  const openSecs = (performance.now() - t) / 1000;
  if (opened !== pieces * piece.length) throw new Error("opened length differs");
  return { sealMiBps: MIB / sealSecs, openMiBps: MIB / openSecs };
}

function nativeRound() {
  return JSON.parse(execFileSync(nativeBin("sealfile", "release"), ["bench", String(MIB)]).toString());
}

const best = (runs, key) => Math.max(...runs.map((r) => r[key]));
const wasm = [];
const native = [];
for (let i = 0; i < ROUNDS; i++) {
  // Interleave so both see the same machine conditions.
  native.push(nativeRound());
  wasm.push(wasmRound());
}
const row = (what, key) => {
  const n = best(native, key), w = best(wasm, key);
  return `| ${what} | ${n.toFixed(0)} | ${w.toFixed(0)} | ${(w / n).toFixed(2)} |`;
};
console.log(`Machine: ${cpus().length} × ${cpus()[0].model}, Node ${process.version}; ${MIB} MiB per round, best of ${ROUNDS} interleaved rounds.\n`);
console.log("| operation | native MiB/s | WASM (Node) MiB/s | WASM / native |");
console.log("|---|---:|---:|---:|");
console.log(row("seal (push API, 64 KiB pieces)", "sealMiBps"));
console.log(row("open (push API)", "openMiBps"));
