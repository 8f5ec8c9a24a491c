// The scanner's part of the npm package against a real relay, without a scanner process (the
// browser test tests/browser/scanner.test.mjs runs the real sealroom-scanner and clamd): every
// listed version carries `scan`, an ordinary upload is `not_required`, a label that requires a
// scan leaves a customer's upload `waiting` and closed to staff (`awaiting_scan`) while its
// uploader still opens it, `setSpaceScanner` names the scanner in the policy every member
// receives, and `overrideScan` refuses a file without an infected or failed verdict
// (`not_overridable`).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { SealroomClient, memoryStore } from "../../wasm/pkg/node.js";
import { startRelay } from "./relay.mjs";
import { readAll, rejectsWith, streamOf } from "./helpers.mjs";

let relay;
after(async () => {
  await relay?.stop();
});

const upload = (client, spaceId, file, text) => {
  const bytes = new TextEncoder().encode(text);
  return client.uploadFile(spaceId, file, bytes.length, streamOf(bytes));
};

test("scan state, the space's scanner and the override refusal", { timeout: 180_000 }, async () => {
  relay = await startRelay();
  const open = () => SealroomClient.open(relay.url, { store: memoryStore() });
  assert.equal(typeof SealroomClient.prototype.overrideScan, "function");
  assert.equal(typeof SealroomClient.prototype.setSpaceScanner, "function");
  const sam = await open();
  await sam.bootstrap(relay.setupToken(), "Provider", "Sam", null, "laptop");
  const org = await sam.createCustomerOrg("Heron GmbH");
  const space = await sam.createSpace(org.orgId, false);
  const sue = await open();
  const sueAccount = await sue.register((await sam.invite("staff", null)).token, "Sue", undefined, "laptop");
  await sam.addMember(space.spaceId, sueAccount.userId);
  const cara = await open();
  const caraAccount = await cara.register((await sam.invite("customer", space.spaceId)).token, "Cara", undefined, "phone");
  await sam.addMember(space.spaceId, caraAccount.userId);
  await sue.sync();
  await cara.sync();

  // No scan rule: an ordinary upload needs no scan and opens; nothing to override.
  const plain = await upload(sam, space.spaceId, { name: "letter.txt" }, "an ordinary letter");
  assert.deepEqual(plain.scan, { state: "not_required" });
  assert.deepEqual(sam.files(space.spaceId)[0].scan, { state: "not_required" });
  await cara.sync();
  const listed = cara.files(space.spaceId).find((f) => f.fileId === plain.fileId);
  assert.deepEqual(listed.scan, { state: "not_required" });
  assert.equal(listed.access, "open");
  assert.deepEqual(cara.documents(space.spaceId)[0].latest.scan, { state: "not_required" });
  await sue.sync();
  await rejectsWith(sue.overrideScan(space.spaceId, plain.fileId), "not_overridable");

  // `confidential` requires a scan; no scanner yet.
  await sam.setSpacePolicy(space.spaceId, {
    labels: [
      { classification: "public", customerDownload: true },
      { classification: "confidential", customerDownload: true, scanRequired: true },
    ],
    default: "confidential",
  });
  await cara.sync();
  await sue.sync();
  assert.equal(cara.spacePolicy(space.spaceId).scanner, undefined);
  const report = await upload(cara, space.spaceId, { name: "report.txt" }, "the customer's report");
  assert.equal(report.classification, "confidential");
  // Listings carry the scan state (the upload's own result is not annotated).
  const own = cara.files(space.spaceId).find((f) => f.fileId === report.fileId);
  assert.deepEqual(own.scan, { state: "waiting" });
  // The uploader has the plaintext already: it opens for her.
  assert.equal(own.access, "open");
  assert.equal(await readAll(await cara.downloadFile(space.spaceId, report.fileId)), "the customer's report");
  await sue.sync();
  const waiting = sue.files(space.spaceId).find((f) => f.fileId === report.fileId);
  assert.deepEqual(waiting.scan, { state: "waiting" });
  assert.equal(waiting.access, "awaiting_scan");
  await rejectsWith(sue.downloadFile(space.spaceId, report.fileId), "awaiting_scan");
  await rejectsWith(sue.overrideScan(space.spaceId, report.fileId), "not_overridable");
  // A label that needs no scan is not held.
  const pub = await upload(cara, space.spaceId, { name: "flyer.txt", classification: "public" }, "a public flyer");
  await sue.sync();
  assert.deepEqual(sue.files(space.spaceId).find((f) => f.fileId === pub.fileId).scan, { state: "not_required" });

  // Naming the scanner: staff only; every member's policy names it afterwards.
  await rejectsWith(cara.setSpaceScanner(space.spaceId, caraAccount.userId), "relay_forbidden");
  await sam.setSpaceScanner(space.spaceId, sueAccount.userId);
  assert.equal(sam.spacePolicy(space.spaceId).scanner, sueAccount.userId);
  await cara.sync();
  await sue.sync();
  const got = cara.spacePolicy(space.spaceId);
  assert.equal(got.scanner, sueAccount.userId);
  assert.deepEqual(got.labels.map((l) => [l.classification, l.scanRequired]), [["public", false], ["confidential", true]]);
  // The scanner reads what it scans.
  assert.equal(sue.files(space.spaceId).find((f) => f.fileId === report.fileId).access, "open");
  assert.equal(await readAll(await sue.downloadFile(space.spaceId, report.fileId)), "the customer's report");
  // Staff other than the scanner still wait for its verdict.
  await sam.sync();
  assert.equal(sam.files(space.spaceId).find((f) => f.fileId === report.fileId).access, "awaiting_scan");
  // Removing the scanner: `null`.
  await sam.setSpaceScanner(space.spaceId, null);
  await cara.sync();
  assert.equal(cara.spacePolicy(space.spaceId).scanner, undefined);
});
