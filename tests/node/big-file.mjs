// Measurement (prints, never asserts on numbers): memory of the Node process while a large file
// goes up through `uploadFile` from a ReadableStream and comes back through `downloadFile` as a
// ReadableStream, against a real relay. Data is generated on the fly (random 1 MiB pieces) and
// hashed on both sides; the run fails only if the bytes differ.
//
//   node tests/node/big-file.mjs [MiB=1024]        (relay: SEALROOM_RELAY_BIN or target/debug)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash, randomFillSync } from "node:crypto";
import { ROOT } from "./helpers.mjs";
import { startRelay } from "./relay.mjs";

const MIB = Number(process.argv[2] ?? 1024);
const sdk = await import(join(ROOT, "wasm", "pkg", "sealroom.js"));
const exports = sdk.initSync({ module: readFileSync(join(ROOT, "wasm", "pkg", "sealroom_bg.wasm")) });
const { SealroomClient, memoryStore } = sdk;

let peakRss = 0, peakWasm = 0, peakBuffers = 0;
function sample() {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
  peakWasm = Math.max(peakWasm, exports.memory.buffer.byteLength);
}
const mib = (n) => (n / 1048576).toFixed(1);

const relay = await startRelay();
try {
  const staff = await SealroomClient.open(relay.url, { store: memoryStore() });
  await staff.bootstrap(relay.setupToken(), "Provider", "Ada", null, "laptop");
  const org = await staff.createCustomerOrg("Big Files Ltd");
  const space = await staff.createSpace(org.orgId, false);
  sample();
  const base = { rss: peakRss, wasm: peakWasm };

  const sent = createHash("sha256");
  let produced = 0;
  const total = MIB * 1048576;
  const source = new ReadableStream({
    pull(controller) {
      if (produced >= total) return controller.close();
      const piece = randomFillSync(new Uint8Array(Math.min(1048576, total - produced)));
      sent.update(piece);
      produced += piece.length;
      controller.enqueue(piece);
      sample();
    },
  });
  let t = performance.now();
  const version = await staff.uploadFile(space.spaceId, { name: "big.bin" }, total, source, sample);
  const upSecs = (performance.now() - t) / 1000;
  const upPeak = { rss: peakRss, wasm: peakWasm };

  t = performance.now();
  const got = createHash("sha256");
  let received = 0;
  for await (const chunk of await staff.downloadFile(space.spaceId, version.fileId)) {
    got.update(chunk);
    received += chunk.length;
    sample();
  }
  const downSecs = (performance.now() - t) / 1000;
  const same = received === total && got.digest("hex") === sent.digest("hex");
  console.log(`${MIB} MiB file, Node ${process.version}: bytes identical: ${same}`);
  console.log(`upload ${upSecs.toFixed(1)} s (${(MIB / upSecs).toFixed(0)} MiB/s), download ${downSecs.toFixed(1)} s (${(MIB / downSecs).toFixed(0)} MiB/s) incl. the debug relay on the same machine`);
  console.log(`RSS before ${mib(base.rss)} MiB, peak during upload ${mib(upPeak.rss)} MiB, peak overall ${mib(peakRss)} MiB`);
  console.log(`WASM linear memory before ${mib(base.wasm)} MiB, peak ${mib(peakWasm)} MiB; peak ArrayBuffers ${mib(peakBuffers)} MiB`);
  if (!same) process.exitCode = 1;
} finally {
  await relay.stop();
}
