//! Load clients: registration, MLS rooms with their members, pre-built messages.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{
    MlsGroup, MlsMessageBodyIn, MlsMessageIn, OpenMlsProvider as _, ProtocolVersion,
};
use serde_json::json;

use sealroom_tests::relay::{Device, Relay};

use crate::*;

/// One load client: its device and pre-built message bodies. Every request carries a fresh
/// random nonce (see `sealroom_wire::auth`), so reposting a pooled body or repeating a fetch
/// within one second is legitimate and not a replay.
pub(crate) struct LoadClient {
    pub(crate) device: Device,
    pub(crate) pool: Vec<Vec<u8>>,
    pub(crate) next: usize,
    pub(crate) cursor: u64,
    pub(crate) rng: u64,
}

impl LoadClient {
    /// The next `{"message": ...}` body of the pool (round robin).
    pub(crate) fn post_body(&mut self) -> &[u8] {
        let i = self.next;
        self.next = (self.next + 1) % self.pool.len();
        &self.pool[i]
    }

    pub(crate) fn coin(&mut self, percent: u32) -> bool {
        (next_random(&mut self.rng) % 100) < u64::from(percent)
    }
}

/// One step of the xorshift generator every client and stream of the load generator draws
/// from (cheap, seeded, reproducible; not for anything secret).
pub(crate) fn next_random(r: &mut u64) -> u64 {
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    *r
}

/// What one client measured.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) io_errors: u64,
    pub(crate) posts: u64,
    pub(crate) fetches: u64,
    pub(crate) first_io_error: Option<String>,
}

impl Tally {
    pub(crate) fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.io_errors += other.io_errors;
        self.posts += other.posts;
        self.fetches += other.fetches;
        if self.first_io_error.is_none() {
            self.first_io_error = other.first_io_error;
        }
    }
}

/// Sets every client's notification preference (`PUT /v1/me/notifications`).
pub(crate) async fn set_notify(addr: SocketAddr, clients: &[LoadClient], mode: &str) -> Res<()> {
    let body = serde_json::to_vec(&json!({ "mode": mode }))?;
    let mut conn = Conn::new(addr);
    for c in clients {
        let r = signed(
            &mut conn,
            &c.device,
            "PUT",
            "/v1/me/notifications",
            &[("content-type", "application/json")],
            &body,
        )
        .await?;
        if !(200..300).contains(&r.status) {
            return Err(format!(
                "set notification preference: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            )
            .into());
        }
    }
    Ok(())
}

/// Registers `n` customers in one space, adds them all to one MLS room with a single commit,
/// joins each from its welcome and builds each client's message pool.
pub(crate) fn load_setup(
    relay: &Relay,
    admin: &Device,
    opts: &Options,
) -> Res<(String, Vec<LoadClient>)> {
    let t = Instant::now();
    let org = relay.create_customer_org(admin, "Load Ltd");
    let staff = relay.add_staff(admin, "Host");
    let space = relay.create_space(&staff, &org);
    let names: Vec<String> = (0..opts.clients).map(|i| format!("Client{i}")).collect();
    let (room_id, clients) = room_with_members(relay, &staff, &space, &names, opts.pool, 0, false)?;
    println!(
        "requests: room of {} members joined, {} messages pre-built per client ({:.1} s total setup)",
        opts.clients + 1,
        opts.pool,
        t.elapsed().as_secs_f64()
    );
    Ok((room_id, clients))
}

/// The seed of load client number `i` (its operations' and file sizes' randomness).
pub(crate) fn client_seed(i: usize) -> u64 {
    0x2545_f491_4f6c_dd1d ^ ((i as u64 + 1) << 17)
}

/// `staff` creates an MLS room in `space`, registers a customer per name, adds them all with one
/// commit and lets each join from its welcome; every member gets a pool of `pool` pre-built
/// messages. Returns the room and the customers' load clients (numbered from `first` for their
/// seeds), preceded by the staff member's own when `with_host`.
pub(crate) fn room_with_members(
    relay: &Relay,
    staff: &Device,
    space: &str,
    names: &[String],
    pool: usize,
    first: usize,
    with_host: bool,
) -> Res<(String, Vec<LoadClient>)> {
    let host = MlsDevice::new(staff)?;
    let host_http = relay.client(staff);
    let (mut group, room_id) = host.create_room(&host_http, space)?;
    let mut members = Vec::with_capacity(names.len());
    let mut key_packages = Vec::with_capacity(names.len());
    for name in names {
        let device = relay.add_customer(staff, space, name);
        let mls = MlsDevice::new(&device)?;
        mls.upload_key_package(&relay.client(&device))?;
        let claimed = host_http.post_json(
            &format!("/v1/users/{}/keypackages/claim", device.user_id),
            &json!({}),
        );
        if claimed.status != 200 {
            return Err(format!("claim: {} {}", claimed.status, claimed.text()).into());
        }
        let kp_b64 = claimed.json()["key_packages"][0]["key_package"]
            .as_str()
            .ok_or("no key package")?
            .to_owned();
        let kp = match MlsMessageIn::tls_deserialize_exact(unb64(&kp_b64)?)?.extract() {
            MlsMessageBodyIn::KeyPackage(kp) => kp,
            _ => return Err("claimed bytes are not a key package".into()),
        };
        let kp = kp.validate(host.provider.crypto(), ProtocolVersion::Mls10)?;
        key_packages.push(kp);
        members.push(mls);
    }
    let (commit, welcome, _) = group.add_members(&host.provider, &host.signer, &key_packages)?;
    let body = json!({ "message": b64(&bytes(&commit)?), "welcome": b64(&bytes(&welcome)?) });
    let r = host_http.post_json(&format!("/v1/rooms/{room_id}/handshakes"), &body);
    if r.status != 201 {
        return Err(format!("add commit: {} {}", r.status, r.text()).into());
    }
    group.merge_pending_commit(&host.provider)?;
    let mut clients = Vec::with_capacity(names.len() + 1);
    if with_host {
        let pool = message_pool(&host, &mut group, pool, first + names.len())?;
        clients.push(load_client(&host, pool, first + names.len()));
    }
    for (i, mls) in members.into_iter().enumerate() {
        let http = relay.client(&mls.device);
        let welcomes = http.get("/v1/welcomes");
        if welcomes.status != 200 {
            return Err(format!("welcomes: {} {}", welcomes.status, welcomes.text()).into());
        }
        let w = welcomes.json()["entries"][0]["welcome"]
            .as_str()
            .ok_or("no welcome")?
            .to_owned();
        let mut group = mls.join(&w)?;
        let pool = message_pool(&mls, &mut group, pool, first + i)?;
        clients.push(load_client(&mls, pool, first + i));
    }
    Ok((room_id, clients))
}

/// `n` `{"message": ...}` bodies, each a fresh MLS application message of `mls` in `group`.
fn message_pool(mls: &MlsDevice, group: &mut MlsGroup, n: usize, i: usize) -> Res<Vec<Vec<u8>>> {
    let mut pool = Vec::with_capacity(n);
    for j in 0..n {
        let m = group.create_message(
            &mls.provider,
            &mls.signer,
            format!("load message {j} from client {i}").as_bytes(),
        )?;
        pool.push(serde_json::to_vec(&json!({ "message": b64(&bytes(&m)?) }))?);
    }
    Ok(pool)
}

fn load_client(mls: &MlsDevice, pool: Vec<Vec<u8>>, i: usize) -> LoadClient {
    LoadClient {
        device: mls.device.clone(),
        pool,
        next: 0,
        cursor: 0,
        rng: client_seed(i),
    }
}
