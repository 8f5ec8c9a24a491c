// Classification labels, the space policy and the four-eyes release through the npm package
// against a real relay: staff set a policy, the customer's client receives it, a label
// round-trips from upload to listing, a restricted file stays closed to the customer
// (`awaiting_release`) until a second staff member releases it, the uploader's own release is
// refused (`self_release`), and the customer can neither set a policy (`not_staff`) nor
// upload a label the policy does not allow (`label_not_allowed`).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { SealroomClient, memoryStore } from "../../wasm/pkg/node.js";
import { startRelay } from "./relay.mjs";
import { readAll, rejectsWith, streamOf } from "./helpers.mjs";

let relay;
after(async () => {
  await relay?.stop();
});

const POLICY = {
  labels: [
    { classification: "public", customerDownload: true },
    { classification: "confidential", customerDownload: true },
    { classification: "restricted", customerDownload: true, fourEyes: true },
  ],
  default: "confidential",
};

test("labels, space policy and four-eyes release", { timeout: 180_000 }, async () => {
  relay = await startRelay();
  const open = () => SealroomClient.open(relay.url, { store: memoryStore() });
  const sam = await open();
  await sam.bootstrap(relay.setupToken(), "Provider", "Sam", null, "laptop");
  const org = await sam.createCustomerOrg("Heron GmbH");
  const space = await sam.createSpace(org.orgId, false);
  const sue = await open();
  const staffInvite = await sam.invite("staff", null);
  const sueAccount = await sue.register(staffInvite.token, "Sue", undefined, "laptop");
  await sam.addMember(space.spaceId, sueAccount.userId);
  const cara = await open();
  const invite = await sam.invite("customer", space.spaceId);
  const caraAccount = await cara.register(invite.token, "Cara", undefined, "phone");
  await sam.addMember(space.spaceId, caraAccount.userId);
  await sue.sync();
  await cara.sync();

  // Before any policy: the default one.
  assert.equal(cara.spacePolicy(space.spaceId).default, "confidential");
  await sam.setSpacePolicy(space.spaceId, POLICY);
  await cara.sync();
  await sue.sync();
  const got = cara.spacePolicy(space.spaceId);
  assert.deepEqual(got.labels.map((l) => [l.classification, l.customerDownload, l.fourEyes]), [
    ["public", true, false], ["confidential", true, false], ["restricted", true, true],
  ]);
  await rejectsWith(cara.setSpacePolicy(space.spaceId, POLICY), "not_staff");

  const text = new TextEncoder().encode("plain text, restricted");
  const held = await sam.uploadFile(space.spaceId, { name: "r.txt", classification: "restricted" }, text.length, streamOf(text));
  assert.equal(held.classification, "restricted");
  const plain = new TextEncoder().encode("plain text, default label");
  const open1 = await sam.uploadFile(space.spaceId, { name: "d.txt" }, plain.length, streamOf(plain));
  assert.equal(open1.classification, "confidential");
  await cara.sync();
  const listed = Object.fromEntries(cara.files(space.spaceId).map((f) => [f.fileId, f]));
  assert.equal(listed[held.fileId].classification, "restricted");
  assert.equal(listed[held.fileId].access, "awaiting_release");
  assert.deepEqual(listed[held.fileId].releasedBy, []);
  assert.equal(listed[open1.fileId].access, "open");
  await rejectsWith(cara.downloadFile(space.spaceId, held.fileId), "awaiting_release");
  assert.equal(await readAll(await cara.downloadFile(space.spaceId, open1.fileId)), "plain text, default label");

  await rejectsWith(sam.approveRelease(space.spaceId, held.fileId), "self_release");
  await sue.sync();
  await sue.approveRelease(space.spaceId, held.fileId);
  await cara.sync();
  const after = cara.files(space.spaceId).find((f) => f.fileId === held.fileId);
  assert.equal(after.access, "open");
  assert.deepEqual(after.releasedBy, [sueAccount.userId]);
  assert.equal(await readAll(await cara.downloadFile(space.spaceId, held.fileId)), "plain text, restricted");

  await rejectsWith(
    cara.uploadFile(space.spaceId, { name: "x.txt", classification: "top-secret" }, plain.length, streamOf(plain)),
    "label_not_allowed",
  );
});
