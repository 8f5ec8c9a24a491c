// Display names in the npm package (issue 18 point 1), against a real relay: the name a customer
// registers with reaches staff signed by her device, first in the admit step (`admission`, beside
// the safety number), then on the space's members and on her messages (with the sender's and the
// relay's times); `setProfile` with organisation and title wins over it; bad profiles are refused
// with a stable code; names come back without direction overrides.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SealroomClient, memoryStore } from "../../wasm/pkg/node.js";
import { startRelay } from "./relay.mjs";
import { assertDeclared } from "./dts.mjs";

let relay;
before(async () => {
  relay = await startRelay();
});
after(async () => {
  await relay?.stop();
});

const open = () => SealroomClient.open(relay.url, { store: memoryStore() });

test("names travel signed: admission, members, messages, setProfile", async () => {
  const admin = await open();
  const adminAccount = await admin.bootstrap(relay.setupToken(), "Provider", "Ada Admin", null, "laptop");
  const adminOwn = await admin.ownProfile();
  assert.equal(adminOwn.name, "Ada Admin");
  assertDeclared(adminOwn, "UserProfile");
  const org = await admin.createCustomerOrg("Heron GmbH");
  const space = await admin.createSpace(org.orgId, false);
  const invitation = await admin.invite("customer", space.spaceId);
  const customer = await open();
  const hana = await customer.register(invitation.token, "Hana Berg", undefined, "phone");

  // The admit step: the name her device signed, beside her safety number.
  const admission = await admin.admission(space.spaceId, hana.userId);
  assert.equal(admission.userId, hana.userId);
  assertDeclared(admission, "Admission");
  admission.devices.forEach((d) => assertDeclared(d, "AdmissionDevice"));
  assert.equal(admission.name, "Hana Berg");
  assert.equal(admission.devices.length, 1);
  assert.equal(admission.devices[0].deviceId, hana.deviceId);
  assert.equal(admission.devices[0].verified, true);
  assert.match(admission.safetyNumber.replace(/\s/g, ""), /^\d{60}$/);

  await admin.addMember(space.spaceId, hana.userId);
  await customer.sync();
  await admin.sync();
  const members = (await admin.space(space.spaceId)).members;
  const her = members.find((m) => m.userId === hana.userId);
  assert.equal(her.name, "Hana Berg");
  assert.equal(her.safetyNumber, admission.safetyNumber);
  const staffSeen = (await customer.space(space.spaceId)).members.find((m) => m.userId === adminAccount.userId);
  assert.equal(staffSeen.name, "Ada Admin");

  // Messages: the sender's signed name, the sender's time and the relay's.
  const before = Math.floor(Date.now() / 1000) - 5;
  await customer.postMessage(space.spaceId, { body: "Hello" });
  await admin.sync();
  const [m] = admin.messages(space.spaceId);
  assert.equal(m.senderName, "Hana Berg");
  assert.ok(m.sentAt >= before && m.receivedAt >= before, JSON.stringify(m));
  const own = customer.messages(space.spaceId)[0];
  assert.equal(own.senderName, "Hana Berg");
  assert.equal(own.receivedAt, null);

  // A later profile wins; text is cleaned of direction overrides.
  const updated = await customer.setProfile({ name: "Hana Berg\u202E", organisation: "Heron GmbH", title: "CFO" });
  assert.equal(updated.name, "Hana Berg");
  assertDeclared(updated, "UserProfile");
  await admin.sync();
  const p = await admin.profile(hana.userId);
  assert.deepEqual([p.name, p.organisation, p.title, p.deviceId], ["Hana Berg", "Heron GmbH", "CFO", hana.deviceId]);
  assert.ok((await admin.profiles()).some((x) => x.userId === adminAccount.userId && x.name === "Ada Admin"));
  assert.equal(await admin.profile("nobody"), null);

  // Bad input: a stable code, nothing changed.
  for (const bad of [{ name: "   " }, { name: "x".repeat(101) }, { name: "A", title: "t".repeat(101) }]) {
    await assert.rejects(customer.setProfile(bad), (e) => e.code === "invalid_input");
  }
  await assert.rejects(customer.setProfile({}), (e) => e.code === "invalid_input");
  await assert.rejects(customer.setProfile({ name: "Hana", nickname: "H" }), (e) => e.code === "invalid_input");
  assert.equal((await customer.ownProfile()).title, "CFO");
});
