// `checkAudit()` of the WASM SDK in Node (issue 24): the admin's device checks the relay's audit
// chain itself, against the real relay behind the hostile proxy (tests/src/bin/hostile-proxy).
// The relay replays an older signed head (a rollback) and then serves a chain with an entry
// rewritten: the client refuses both with a typed error, while the relay's own verdict
// (`verifyAudit`) still says "intact" — the reason the client checks for itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SealroomClient, memoryStore } from "../../wasm/pkg/node.js";
import { startRelay } from "./relay.mjs";
import { startHostile } from "./hostile.mjs";

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, `${e.code}: ${e.message}`);
    assert.equal(e.kind, "corrupt");
    assert.equal(e.retryable, false);
    return true;
  });
}

test("checkAudit verifies the chain on the device and catches a rollback and a rewrite", async () => {
  const relay = await startRelay();
  const hostile = await startHostile(relay.url);
  try {
    const admin = await SealroomClient.open(hostile.url, { store: memoryStore() });
    await admin.bootstrap(relay.setupToken(), "Provider", "Ada", null, "laptop");
    await admin.createCustomerOrg("Heron GmbH");

    const first = await admin.checkAudit();
    assert.ok(first.headSeq >= 3, JSON.stringify(first));
    assert.equal(first.entriesVerified, first.headSeq, "an admin of the only organisation reads every entry");
    assert.equal(first.linksHidden, 0);
    assert.match(first.headHash, /^[0-9a-f]{64}$/);
    assert.match(first.relayKey, /^[0-9a-f]{64}$/);
    const relayVerdict = await admin.verifyAudit();
    assert.equal(relayVerdict.ok, true);

    await admin.createCustomerOrg("Kestrel AG");
    await admin.createCustomerOrg("Plover SA");
    const second = await admin.checkAudit();
    assert.ok(second.headSeq > first.headSeq, `${second.headSeq} > ${first.headSeq}`);
    assert.equal(second.relayKey, first.relayKey);

    // Rollback: the relay serves the first (genuinely signed) head again.
    await hostile.rule({ method: "GET", path: "/v1/audit/head", action: "replay", index: 0 });
    await rejectsWith(admin.checkAudit(), "audit_rolled_back");
    await hostile.clear();

    // Rewrite: the relay changes who did something in an entry the device already verified.
    await hostile.rule({ method: "GET", path: "/v1/audit/chain", action: "replace", pointer: "/links/1/entry/ip", value: "203.0.113.66" });
    await rejectsWith(admin.checkAudit(), "audit_broken");
    // The relay's own verdict, asked through the same relay, still says "intact".
    assert.equal((await admin.verifyAudit()).ok, true);
    await hostile.clear();

    // The honest relay again: the chain checks, and the device still remembers its last head.
    const third = await admin.checkAudit();
    assert.ok(third.headSeq >= second.headSeq);
    assert.equal(third.relayKey, first.relayKey);
    // The tampered answers did reach the client (the test is not vacuous).
    const heads = await hostile.exchanges("GET", "/v1/audit/head");
    assert.ok(heads.some((e) => e.upstream_status === null), "a replayed head was served without the relay");
  } finally {
    await hostile.stop();
    await relay.stop();
  }
});
