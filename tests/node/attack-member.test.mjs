// Attacks c and d of issue 25 through the WASM SDK in Node. The malicious member, Mallory, is a
// customer device with raw openmls in the hostile-proxy binary (as in
// tests/tests/attack_member.rs): it joined from its own Welcome, so the relay accepts what it
// posts, and only the WASM clients' own checks stand between it and the room.
//
// * c: Mallory sends history keys for future epochs and epochs it cannot know and pushes a
//   document to u64::MAX, then is removed: nothing it sent is used, a file posted after the
//   removal is wrapped under a key Mallory does not hold, and the document is not stuck.
// * d: Mallory posts document versions ahead of the next one, versions of a document it did not
//   start, and manifests claiming another author, another document's id or a version ahead of
//   the next: refused; "latest" advances only by the author's next version (docs/rooms.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startScene } from "./attack-scene.mjs";

const U64_MAX = 18446744073709551615n;

async function joinedMallory(s) {
  const mallory = await s.mallory();
  await s.staff.addMember(s.spaceId, mallory.user_id);
  const joined = await s.hostile.call("POST", "/mallory/join", {});
  assert.ok(joined.known_keys > 1, `Mallory received the room's history keys: ${JSON.stringify(joined)}`);
  return mallory;
}

test("c: poisoned history keys are not used; the removed member opens nothing posted later", async () => {
  const s = await startScene();
  try {
    const before = await s.upload(s.staff, "contract-v1.pdf", "contract v1");
    const doc = before.documentId;
    const mallory = await joinedMallory(s);

    await s.hostile.call("POST", "/mallory/poison", { document_id: doc });
    for (const [who, client] of [["staff", s.staff], ["cara", s.cara.client]]) {
      const events = await client.sync();
      assert.ok(
        events.some((e) => e.type === "refused" && e.sender.startsWith(`${mallory.user_id}/`)),
        `${who}: no refused event for Mallory's history: ${JSON.stringify(events)}`,
      );
    }

    // Positive control: Mallory's unwrap follows the SDK's format, so a file key wrapped while
    // it was entitled to the history opens with what it holds.
    const control = await s.hostile.call("POST", "/mallory/try-unwrap", { file_id: before.fileId, data_dir: s.relay.dataDir });
    assert.equal(control.opened, true, `control: Mallory opens a key wrapped before its removal: ${JSON.stringify(control)}`);

    await s.staff.removeMember(s.spaceId, mallory.user_id);
    const after = await s.upload(s.staff, "after-removal.pdf", "after removal");
    const attempt = await s.hostile.call("POST", "/mallory/try-unwrap", { file_id: after.fileId, data_dir: s.relay.dataDir });
    assert.equal(
      attempt.opened,
      false,
      `ATTACK SUCCEEDED: a file posted after the removal is wrapped under a key Mallory holds (wrap epoch ${attempt.wrap_epoch}, ${attempt.keys_tried} keys tried)`,
    );
    assert.equal(attempt.manifest_opened, false, "a key Mallory holds opens the manifest");

    // The document is not stuck at u64::MAX: staff's version 2 is everyone's latest.
    const v2 = await s.upload(s.staff, "contract-v2.pdf", "contract v2", doc);
    assert.equal(v2.version, 2, "the next version after 1 is 2");
    await s.cara.client.sync();
    const latest = s.cara.client.documents(s.spaceId).find((d) => d.documentId === doc).latest;
    assert.deepEqual([latest.version, latest.fileId], [2, v2.fileId]);

    // A customer added later sees both versions and nothing of Mallory's.
    const dan = await s.addCustomer("Dan Customer");
    await dan.client.refreshFiles(s.spaceId);
    assert.deepEqual(s.versions(dan.client, doc).map((v) => v[0]), [1, 2]);
    assert.ok(dan.client.files(s.spaceId).every((f) => f.documentId !== "doc-from-nowhere"));
  } finally {
    await s.stop();
  }
});

test("d: version jumps and versions of another author's document are refused", async () => {
  const s = await startScene();
  try {
    const v1 = await s.upload(s.staff, "policy.pdf", "policy v1");
    const doc = v1.documentId;
    await joinedMallory(s);
    await s.cara.client.sync();

    for (const [version, fileId] of [[5, "a"], [2, "b"], [U64_MAX.toString(), "c"]]) {
      await s.hostile.call("POST", "/mallory/document", {
        document_id: doc,
        version,
        file_id: fileId.repeat(32),
      });
    }
    const events = { staff: await s.staff.sync(), cara: await s.cara.client.sync() };
    for (const [who, client] of [["staff", s.staff], ["cara", s.cara.client]]) {
      const got = s.versions(client, doc);
      assert.deepEqual(got, [[1, v1.fileId, s.staffUser]], `ATTACK SUCCEEDED if ${who} lists a version of Mallory's: ${JSON.stringify(got)}`);
      assert.ok(events[who].some((e) => e.type === "refused"), `${who}: no refused event: ${JSON.stringify(events[who])}`);
    }

    // "latest" advances only by staff's own next version.
    const v2 = await s.upload(s.staff, "policy-2.pdf", "policy v2", doc);
    assert.equal(v2.version, 2);
    await s.cara.client.sync();
    const latest = s.cara.client.documents(s.spaceId).find((d) => d.documentId === doc).latest;
    assert.deepEqual([latest.version, latest.fileId], [2, v2.fileId]);
  } finally {
    await s.stop();
  }
});

test("d: forged manifests (other author, other document, version ahead) are not imported", async () => {
  const s = await startScene();
  try {
    const v1 = await s.upload(s.staff, "offer.pdf", "offer v1");
    const doc = v1.documentId;
    const mallory = await joinedMallory(s);
    const claims = (documentId, version, author) => ({
      document_id: documentId,
      version,
      name: "offer-final.pdf",
      media_type: "application/pdf",
      size: 2024,
      digest: "ab".repeat(32),
      sender_user_id: author,
    });
    // Each claim twice: unsigned (as an earlier SDK wrote manifests), and in the signed
    // encoding, signed by Mallory's own device key (which the room's tree holds).
    const cases = [
      claims(doc, 2, s.staffUser), // staff's next version, staff as the author
      claims(doc, 9, mallory.user_id), // staff's document, far ahead, Mallory as author
      claims(doc, 2, mallory.user_id), // staff's document, the next version, Mallory as author
      claims("fresh-document-id", 1, s.staffUser), // a new document of "staff"
      claims("another-document", 7, mallory.user_id), // ahead of the next of a new document
    ];
    const forged = [];
    const expected = [];
    for (const sign of [false, true]) {
      for (const c of cases) {
        forged.push((await s.hostile.call("POST", "/mallory/manifest", { claims: c, sign })).file_id);
      }
    }
    expected.push(...cases.map(() => "manifest_unsigned"));
    // Signed: a device that is not the claimed author's; a version above 1 of a document
    // Mallory did not start (staff's, or one nobody has published yet: the publisher rule is
    // checked before the version rule, docs/rooms.md).
    expected.push("manifest_unknown_signer", "manifest_not_publisher", "manifest_not_publisher", "manifest_unknown_signer", "manifest_not_publisher");

    const dan = await s.addCustomer("Dan Customer");
    for (const [who, client] of [["staff", s.staff], ["cara", s.cara.client], ["dan", dan.client]]) {
      const events = [...(await client.sync()), ...(await client.refreshFiles(s.spaceId))];
      const imported = client.files(s.spaceId).filter((f) => forged.includes(f.fileId));
      assert.deepEqual(imported, [], `ATTACK SUCCEEDED: ${who} imported forged manifests (events ${JSON.stringify(events)})`);
      // Every forgery comes back as a typed refusal, with the rule it broke.
      const reasons = events
        .filter((e) => e.type === "refused" && e.reason.startsWith("manifest_"))
        .map((e) => e.reason)
        .sort();
      assert.deepEqual(reasons, [...expected].sort(), `${who}: refusals of the forged manifests: ${JSON.stringify(events)}`);
      assert.deepEqual(s.versions(client, doc), [[1, v1.fileId, s.staffUser]], `${who}'s versions of the document`);
    }
  } finally {
    await s.stop();
  }
});
