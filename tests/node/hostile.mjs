// The hostile relay for the Node tests: the `hostile-proxy` binary (tests/src/bin/hostile-proxy)
// in front of a real relay. Victims (WASM SDK clients) use `proxy`; the test sets the relay's
// tampering rules and plays the attacker (raw openmls devices, in Rust) over the control API.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { nativeBin } from "./helpers.mjs";

export function hostileBin() {
  const bin = process.env.SEALROOM_HOSTILE_BIN ?? nativeBin("hostile-proxy");
  if (!existsSync(bin)) {
    throw new Error(`no hostile-proxy binary at ${bin}: build it (cargo build -p sealroom-tests --bin hostile-proxy) or set SEALROOM_HOSTILE_BIN`);
  }
  return bin;
}

/**
 * Starts a hostile proxy in front of `relayUrl`. Resolves to `{ url, call(method, path, body),
 * rule(spec), clear(), exchanges(method, path), stop() }`; `call` rejects with the attacker's
 * error when an attack step fails.
 */
export async function startHostile(relayUrl) {
  // stdin stays a pipe: the proxy exits when it closes (this process ends or stop()).
  const child = spawn(hostileBin(), [relayUrl], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`hostile-proxy exited with ${code}`)));
    lines.once("line", resolve);
  });
  const { proxy, control } = JSON.parse(first);

  async function call(method, path, body) {
    const response = await fetch(`${control}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`hostile-proxy ${method} ${path}: ${json.error}`);
    return json;
  }

  return {
    url: proxy,
    call,
    rule: (spec) => call("POST", "/rules", spec),
    clear: () => call("DELETE", "/rules"),
    async exchanges(method = "*", path = "/**") {
      const q = new URLSearchParams({ method, path });
      return (await call("GET", `/exchanges?${q}`)).exchanges;
    },
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((resolve) => child.once("exit", resolve));
        child.stdin.end();
        child.kill("SIGTERM");
        await gone;
      }
    },
  };
}
