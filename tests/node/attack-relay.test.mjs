// Attack a of issue 25 through the WASM SDK in Node: the relay injects an external join
// proposal for a device it controls, an external commit built from the room's registered
// GroupInfo, or answers a key-package claim with its own device's package so that an honest
// member would Add it (the external commit is built on a GroupInfo the relay forges when the
// registered one has no external_pub). Every WASM client refuses it, no Welcome for the relay's device is
// produced, the room stays usable, and the refusal reaches the app as `{type: "refused"}`.
// The relay is the hostile proxy (tests/src/bin/hostile-proxy) in front of the real relay;
// the attacker's MLS messages are crafted in Rust with openmls (as in tests/tests/attack_relay.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startScene, refusedIn } from "./attack-scene.mjs";

async function noWelcomeForMallory(s) {
  assert.equal((await s.hostile.call("GET", "/mallory/welcomes")).count, 0, "the relay's device got a Welcome");
  const { recipients } = await s.hostile.call("GET", "/welcome-recipients");
  assert.ok(recipients.every((n) => n === 1), `a commit welcomed more than the one added: ${recipients}`);
}

async function notInTree(s, mallory) {
  const space = await s.staff.space(s.spaceId);
  assert.ok(
    space.members.every((m) => m.userId !== mallory.user_id || m.devices.length === 0),
    `the relay's device is in the tree: ${JSON.stringify(space.members)}`,
  );
}

test("a: an injected external join proposal is refused by every WASM client", async () => {
  const s = await startScene();
  try {
    const mallory = await s.mallory();
    const { room } = await s.hostile.call("POST", "/attack/external-proposal", { space_id: s.spaceId });

    const caraEvents = await s.cara.client.sync();
    const dan = await s.customer("Dan Customer");
    // The next honest commit must not carry the injected proposal.
    await s.staff.addMember(s.spaceId, dan.userId);
    await noWelcomeForMallory(s);
    const staffEvents = await s.staff.sync();
    assert.ok(refusedIn(caraEvents, room), `cara: no refused event: ${JSON.stringify(caraEvents)}`);
    assert.ok(refusedIn(staffEvents, room), `staff: no refused event: ${JSON.stringify(staffEvents)}`);
    const joined = await dan.client.sync();
    assert.ok(joined.some((e) => e.type === "joinedSpace"), JSON.stringify(joined));

    await s.hostile.clear();
    await s.stillUsable([s.cara.client, dan.client], "a1");
    await notInTree(s, mallory);
  } finally {
    await s.stop();
  }
});

test("a: an injected external commit is refused by every WASM client", async () => {
  const s = await startScene({ cara: false });
  try {
    const mallory = await s.mallory();
    // The GroupInfo the SDK registers carries no external_pub, so the relay builds the commit
    // on a GroupInfo it forged for the room's group id and epoch ("source": "forged").
    const { room, injected, source } = await s.hostile.call("POST", "/attack/external-commit", { space_id: s.spaceId });
    assert.equal(injected, true);
    assert.ok(["registered", "forged"].includes(source), source);

    const cara = await s.customer("Cara Customer");
    await s.staff.addMember(s.spaceId, cara.userId);
    const staffEvents = await s.staff.sync();
    assert.ok(refusedIn(staffEvents, room), `staff: no refused event: ${JSON.stringify(staffEvents)}`);
    // The injected commit was served to staff (once), so the refusal is the client's own.
    const served = (await s.hostile.exchanges("GET", `/v1/rooms/${room}/handshakes`))
      .filter((e) => (e.response?.entries ?? []).some((x) => x.sender_device === mallory.device_id));
    assert.ok(served.length >= 1, "the relay served the injected commit");
    const joined = await cara.client.sync();
    assert.ok(joined.some((e) => e.type === "joinedSpace"), JSON.stringify(joined));
    await noWelcomeForMallory(s);

    await s.hostile.clear();
    await s.stillUsable([cara.client], "a2");
    await notInTree(s, mallory);
  } finally {
    await s.stop();
  }
});

test("a: the relay's own key package in a claim answer is never added", async () => {
  const s = await startScene();
  try {
    const mallory = await s.mallory();
    const dan = await s.customer("Dan Customer");
    const { key_package } = await s.hostile.call("POST", "/mallory/key-package", {});
    const claim = `/v1/users/${dan.userId}/keypackages/claim`;
    const commits = async () => (await s.hostile.exchanges("POST", "/v1/rooms/*/handshakes")).length;
    for (const [what, deviceId] of [["as Dan's device", null], ["as Mallory's own device", mallory.device_id]]) {
      await s.hostile.clear();
      await s.hostile.rule({
        method: "POST",
        path: claim,
        action: "respond",
        json: {
          user_id: dan.userId,
          key_packages: [{ device_id: deviceId ?? dan.deviceId, key_package }],
          missing: [],
        },
      });
      const posted = await commits();
      await assert.rejects(s.staff.addMember(s.spaceId, dan.userId), (e) => {
        assert.equal(e.code, "key_package_mismatch", `${what}: ${e.code}: ${e.message}`);
        assert.equal(e.kind, "corrupt");
        return true;
      });
      assert.equal(await commits(), posted, `${what}: a commit was sent`);
    }
    await noWelcomeForMallory(s);

    // The honest relay again: the add goes through and the room works.
    await s.hostile.clear();
    await s.staff.addMember(s.spaceId, dan.userId);
    const joined = await dan.client.sync();
    assert.ok(joined.some((e) => e.type === "joinedSpace"), JSON.stringify(joined));
    await s.stillUsable([s.cara.client, dan.client], "a3");
    await notInTree(s, mallory);
  } finally {
    await s.stop();
  }
});
