// Finishes the package's TypeScript declarations after wasm-bindgen (scripts/build-wasm.sh):
//
// - <pkg>/sealroom.d.ts: the generated record declarations finished (required fields, keys
//   camelCased as the objects the SDK returns and takes have them; see below).
// - <pkg>/sealroom.d.ts: wasm-bindgen declares `[Symbol.dispose]()` methods, and
//   `Symbol.dispose` is only in lib esnext (or @types/node). A global declaration of it is
//   added, as @types/node has it, so a browser project on lib es2022 + dom type-checks too.
// - <pkg>/node.d.ts, the Node entry's declarations: sealroom.d.ts without wasm-bindgen's
//   loader part (`InitInput`, `InitOutput`, `initSync`, the default `init`), whose types
//   (RequestInfo, Response, BufferSource, WebAssembly) exist only with the DOM library, plus
//   wasm/js/node.d.ts (fileStore, a DOM-free `init`). Fails if a DOM-only type is left outside
//   comments: a Node-only project (lib es2022, @types/node) must type-check against it
//   (tests/node/types.test.mjs).
//
// Usage: node wasm/js/declarations.mjs wasm/pkg
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const pkg = process.argv[2];
if (!pkg) throw new Error("usage: declarations.mjs <pkg dir>");
const path = join(pkg, "sealroom.d.ts");
let full = readFileSync(path, "utf8");

// The records' declarations are generated from core's and wire's Rust types (tsify derives
// behind their `ts` feature) with serde's field names. Two finishing steps, both only before
// wasm-bindgen's loader part (whose `InitOutput` names the module's raw exports):
const loader = full.indexOf("\nexport type InitInput");
if (loader < 0) throw new Error("sealroom.d.ts: no `export type InitInput` (wasm-bindgen's loader part moved?)");
// 1. Fields core reads with a default from the stored state of earlier SDKs
//    (`#[serde(default)]`, which tsify declares optional) but always returns carry
//    `tsify(type = "T /* present */")`: declared required.
const head = full
  .slice(0, loader)
  .replace(/(\w+)\?: ([^;\n]*?) \/\* present \*\/;/g, "$1: $2;");
if (head.includes("/* present */")) throw new Error("sealroom.d.ts: a `/* present */` type this script did not handle");
// 2. snake_case keys camelCased, as wasm/src/convert.rs does to the values at run time (serde's
//    names stay snake_case: the same form is core's stored state and the relay's API). Only code
//    outside comments and string literals.
const camel = (key) => key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const SNAKE_KEY = /(?<![\w$])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(\??\s*:)/g;
const TOKENS = /(\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)/;
const camelCased = head
  .split(TOKENS)
  .map((part, i) => (i % 2 === 1 ? part : part.replace(SNAKE_KEY, (_, key, rest) => camel(key) + rest)))
  .join("");
if (camelCased !== full.slice(0, loader)) {
  full = camelCased + full.slice(loader);
  writeFileSync(path, full);
}

const DISPOSE = "declare global {\n    interface SymbolConstructor {\n        readonly dispose: unique symbol;\n    }\n}\n";
if (full.includes("[Symbol.dispose]") && !full.includes(DISPOSE)) {
  const header = "/* eslint-disable */\n";
  const at = full.indexOf(header);
  if (at < 0) throw new Error("sealroom.d.ts: no eslint-disable header (wasm-bindgen's output changed?)");
  full = `${full.slice(0, at + header.length)}\n${DISPOSE}${full.slice(at + header.length)}`;
  writeFileSync(path, full);
}

const cut = full.indexOf("\nexport type InitInput");
if (cut < 0) throw new Error("sealroom.d.ts: no `export type InitInput` (wasm-bindgen's loader part moved?)");
const tail = readFileSync(new URL("./node.d.ts", import.meta.url), "utf8");
const out = `${full.slice(0, cut).trimEnd()}\n\n${tail}`;

// Names TypeScript knows only from lib.dom (or lib.webworker), outside comments.
const code = out.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
const dom = code.match(/\b(RequestInfo|Response|BufferSource|WebAssembly|IDB[A-Za-z]*|HTML[A-Za-z]*|Window|Navigator|FileList)\b/g);
if (dom) throw new Error(`node.d.ts would need DOM types: ${[...new Set(dom)].join(", ")}`);
writeFileSync(join(pkg, "node.d.ts"), out);
