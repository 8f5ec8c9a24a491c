// A real relay for the Node tests: the `sealroom-server` binary (SEALROOM_RELAY_BIN, else
// $CARGO_TARGET_DIR/debug, else target/debug) on a free port with a fresh data directory.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { nativeBin } from "./helpers.mjs";

export function relayBin() {
  const bin = process.env.SEALROOM_RELAY_BIN ?? nativeBin("sealroom-server");
  if (!existsSync(bin)) {
    throw new Error(`no relay binary at ${bin}: build it (cargo build -p sealroom-server) or set SEALROOM_RELAY_BIN`);
  }
  return bin;
}

/** Starts a relay; resolves to { url, setupToken(), stop() }. */
export async function startRelay(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "sealroom-node-relay-"));
  const child = spawn(relayBin(), [], {
    env: {
      ...process.env,
      SEALROOM_LISTEN: "127.0.0.1:0",
      SEALROOM_DATA_DIR: dataDir,
      SEALROOM_LOG: "warn",
      SEALROOM_AUTH_FAILURES_PER_MINUTE: "100000",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let exited = null;
  child.on("exit", (code) => { exited = code; });
  const addrFile = join(dataDir, "listen-addr");
  // The relay writes its bound address once it listens; wait for it (or its exit).
  for (;;) {
    if (exited !== null) throw new Error(`relay exited with ${exited} before listening`);
    if (existsSync(addrFile)) {
      const addr = readFileSync(addrFile, "utf8").trim();
      if (addr) {
        const url = `http://${addr}`;
        try {
          await fetch(`${url}/healthz`);
          return {
            url,
            dataDir,
            setupToken: () => readFileSync(join(dataDir, "setup-token"), "utf8").trim(),
            async stop() {
              if (exited === null) {
                const gone = new Promise((resolve) => child.once("exit", resolve));
                child.kill("SIGTERM");
                await gone;
              }
              rmSync(dataDir, { recursive: true, force: true });
            },
          };
        } catch {
          // Not accepting yet.
        }
      }
    }
    await sleep(50);
  }
}
