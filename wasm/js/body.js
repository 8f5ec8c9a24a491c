// Response bodies of the fetch transport (wasm/src/transport.rs). A large body (a download's
// range of a file: sealed bytes) is read with a BYOB reader into a reused buffer instead of
// `response.arrayBuffer()`: Chromium then neither allocates a fresh buffer of the whole body
// nor assembles it from its pieces, and a 4 MiB range costs the page a quarter less time
// (docs/benchmarks.md, "Uploads and downloads in Chromium"). Small bodies, bodies of unknown
// length and platforms without byte streams take `arrayBuffer()`.

const LARGE = 1 << 20;
const LARGEST = 64 << 20;
/// Buffers kept for reuse: a download has two ranges in flight at most.
const KEPT = 3;
const kept = [];

/** A buffer of at least `n` bytes: a kept one when one is large enough, else a new one. */
function buffer(n) {
  const at = kept.findIndex((b) => b.byteLength >= n);
  if (at >= 0) return kept.splice(at, 1)[0];
  // Whole MiB, so the ranges of one download (the last one shorter) share buffers.
  return new ArrayBuffer(Math.ceil(n / LARGE) * LARGE);
}

async function readBody(response) {
  const length = Number(response.headers.get('content-length'));
  let reader = null;
  if (response.body && Number.isSafeInteger(length) && length >= LARGE && length <= LARGEST) {
    try {
      reader = response.body.getReader({ mode: 'byob' });
    } catch {
      // Not a byte stream (the stream stays unlocked).
    }
  }
  if (!reader) return new Uint8Array(await response.arrayBuffer());
  // One byte of room past the announced length, so the read that finds the end has a view.
  let into = buffer(length + 1);
  let filled = 0;
  for (;;) {
    if (filled === into.byteLength) {
      // Longer than announced (a transfer coding): grow.
      const bigger = new ArrayBuffer(into.byteLength * 2);
      new Uint8Array(bigger).set(new Uint8Array(into));
      into = bigger;
    }
    const { done, value } = await reader.read(new Uint8Array(into, filled));
    // Each read hands the buffer back (the one it was given is detached).
    into = value.buffer;
    if (done) break;
    filled += value.byteLength;
  }
  return new Uint8Array(into, 0, filled);
}

/**
 * `pending.then((response) => [response, body])`: the body (a `Uint8Array`) is read as soon
 * as the headers are in, whether or not the Rust future is being polled.
 */
export function withBody(pending) {
  return pending.then(async (response) => [response, await readBody(response)]);
}

/** Takes back the buffer of a body once its bytes were copied out (large bodies only). */
export function releaseBody(body) {
  const b = body.buffer;
  if (body.byteLength >= LARGE && b.byteLength <= LARGEST + LARGE && kept.length < KEPT && !kept.includes(b)) {
    kept.push(b);
  }
}
