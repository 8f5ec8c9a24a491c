// The WASM side of the SDK benchmark, shared by Node (tests/node/bench-client.mjs) and headless
// Chromium (tests/browser/bench-wasm.mjs serves this file next to wasm/pkg), so both runtimes
// run exactly the same measurements:
//   * file encryption, MiB/s, best of `rounds`: the chacha20poly1305 crate itself inside WASM
//     (`benchRawAead`, 64 KiB chunks) and its two halves alone (`benchChaCha20`, `benchPoly1305`),
//     the SDK's own AEAD and keystream (`benchSdkAead`, `benchSdkChaCha20`), the sealed-file push API inside WASM (`benchSealInWasm`,
//     1 MiB pieces) and the same through the JS API (`FileSealer.push`, bytes cross the JS/WASM
//     boundary);
//   * create a room and add 100 members in one commit (`BenchCommitter`), median in ms.
// Measures only; nothing is asserted.

/** Runs every measurement with an initialised SDK module `sdk`; returns plain numbers. */
export function measure(sdk, mib, rounds) {
  const time = (fn) => {
    const t = performance.now();
    fn();
    return (performance.now() - t) / 1000;
  };
  const raw = [], inWasm = [], viaJs = [], chacha = [], poly = [], sdkAead = [], sdkChacha = [];
  const piece = new Uint8Array(1024 * 1024).fill(0x5a);
  for (let r = 0; r < rounds; r++) {
    raw.push(mib / time(() => sdk.benchRawAead(mib)));
    chacha.push(mib / time(() => sdk.benchChaCha20(mib)));
    poly.push(mib / time(() => sdk.benchPoly1305(mib)));
    sdkAead.push(mib / time(() => sdk.benchSdkAead(mib)));
    sdkChacha.push(mib / time(() => sdk.benchSdkChaCha20(mib)));
    inWasm.push(mib / time(() => sdk.benchSealInWasm(mib)));
    viaJs.push(mib / time(() => {
      const sealer = new sdk.FileSealer(new Uint8Array(32).fill(7), "bench.bin", "", "", 0, mib * piece.length);
      sealer.header();
      for (let i = 0; i < mib; i++) sealer.push(piece);
      sealer.finish();
      sealer.free();
    }));
  }
  const kps = sdk.BenchCommitter.keyPackages(100);
  const commitMs = [];
  for (let r = 0; r < Math.max(rounds, 5); r++) {
    const committer = new sdk.BenchCommitter();
    commitMs.push(time(() => committer.createRoomAndAdd(kps)) * 1000);
    committer.free();
  }
  commitMs.sort((a, b) => a - b);
  const best = (xs) => Math.max(...xs);
  return {
    rawAead: best(raw),
    chacha20: best(chacha),
    poly1305: best(poly),
    sdkAead: best(sdkAead),
    sdkChaCha20: best(sdkChacha),
    sealInWasm: best(inWasm),
    sealViaJs: best(viaJs),
    commit100Ms: commitMs[Math.floor(commitMs.length / 2)],
  };
}
