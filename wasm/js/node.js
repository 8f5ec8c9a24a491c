// Node entry of @sealroom/sdk: the same module, with the WebAssembly instantiated from the
// package's own file at import time (Node's fetch cannot load file: URLs).
import { readFileSync } from "node:fs";
import { initSync } from "./sealroom.js";

initSync({ module: readFileSync(new URL("./sealroom_bg.wasm", import.meta.url)) });

export * from "./sealroom.js";
export { default } from "./sealroom.js";
