// The package's TypeScript declarations against what the SDK returns at run time. Results are
// core's records serialised as they are (wasm/src/convert.rs), and the records' declarations are
// generated from the same Rust types (tsify, core's `ts` feature; keys camelCased by
// wasm/js/declarations.mjs). assertDeclared fails when a returned key is not declared (a field
// that reaches JS past the generator, or a key renamed differently on the two sides) and when a
// declared required field is missing at run time.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const DTS = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "wasm", "pkg", "sealroom.d.ts");
let source;

/** The fields of `export interface name { ... }` as Map(field -> optional?). */
export function declaredFields(name) {
  source ??= readFileSync(DTS, "utf8");
  const start = source.indexOf(`export interface ${name} {`);
  assert.ok(start >= 0, `sealroom.d.ts declares no interface ${name}`);
  const text = source.slice(start + `export interface ${name} `.length);
  // The interface body at depth 1, without comments.
  let depth = 0;
  let body = "";
  for (let i = 0; i < text.length; i++) {
    if (text.startsWith("/*", i)) { i = text.indexOf("*/", i) + 1; continue; }
    if (text.startsWith("//", i)) { i = text.indexOf("\n", i); continue; }
    const c = text[i];
    if (c === "{") { depth++; if (depth === 1) continue; }
    if (c === "}") { depth--; if (depth === 0) break; }
    body += depth === 1 ? c : " ";
  }
  const fields = new Map();
  for (const m of body.matchAll(/(?:^|[;\s])(\w+)(\??)\s*:/g)) fields.set(m[1], m[2] === "?");
  return fields;
}

/** Every key of `value` is declared in interface `name`, and every required field is there. */
export function assertDeclared(value, name) {
  const fields = declaredFields(name);
  for (const key of Object.keys(value)) {
    assert.ok(fields.has(key), `${name}.${key} is returned by the SDK but not declared in the .d.ts`);
  }
  for (const [key, optional] of fields) {
    if (!optional) assert.ok(key in value, `${name}.${key} is declared but missing at run time`);
  }
}

/** The fields of the member `{ type: "tag"; ... }` of union `export type name = ...`. */
export function declaredVariant(name, tag) {
  source ??= readFileSync(DTS, "utf8");
  const start = source.indexOf(`export type ${name} =`);
  assert.ok(start >= 0, `sealroom.d.ts declares no type ${name}`);
  const union = source.slice(start, source.indexOf(";\n", source.indexOf("}", start)) + 1);
  const at = union.indexOf(`{ type: "${tag}";`);
  assert.ok(at >= 0, `${name} declares no member of type "${tag}"`);
  const body = union.slice(at + 1, union.indexOf("}", at));
  const fields = new Map();
  for (const m of body.matchAll(/(?:^|[;\s])(\w+)(\??)\s*:/g)) fields.set(m[1], m[2] === "?");
  return fields;
}

/** `event` (`{ type, ...fields }`) matches its member of union `name` both ways. */
export function assertVariantDeclared(event, name) {
  const fields = declaredVariant(name, event.type);
  for (const key of Object.keys(event)) {
    assert.ok(fields.has(key), `${name} "${event.type}".${key} is returned by the SDK but not declared in the .d.ts`);
  }
  for (const [key, optional] of fields) {
    if (!optional) assert.ok(key in event, `${name} "${event.type}".${key} is declared but missing at run time`);
  }
}
