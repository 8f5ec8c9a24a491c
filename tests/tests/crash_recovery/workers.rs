//! The workers that load the relay while it is killed: racing committers, posters and
//! resumable uploaders, each keeping a tally of what the relay acknowledged.

use super::*;

/// splitmix64: small, seedable, good enough for schedules and test bytes.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0u8; n];
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        out
    }

    pub(crate) fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// Per-worker counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    /// Requests acknowledged with a 2xx.
    pub(crate) acked: u64,
    /// Requests sent before the kill that got no complete answer.
    pub(crate) in_flight_hits: u64,
    /// Of those, how many the relay had applied anyway (seen after the restart).
    pub(crate) in_doubt_applied: u64,
    /// Commits refused with 409 (another racer won the epoch).
    pub(crate) conflicts: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Self) {
        self.acked += o.acked;
        self.in_flight_hits += o.in_flight_hits;
        self.in_doubt_applied += o.in_doubt_applied;
        self.conflicts += o.conflicts;
    }
}

pub(crate) fn json_body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

pub(crate) fn post_json(client: &Client, path: &str, v: &Value) -> std::io::Result<Response> {
    client.try_request(
        "POST",
        path,
        &[("content-type", "application/json")],
        &json_body(v),
    )
}

/// A commit acknowledged with 201.
#[derive(Debug, Clone)]
pub(crate) struct AckedCommit {
    pub(crate) seq: u64,
    pub(crate) sent_epoch: u64,
    pub(crate) message: Vec<u8>,
}

/// A room member with its own openmls state that follows the handshake log; racers also
/// commit (an empty self-update each time) as fast as they can, all for the same epoch.
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) mls: MlsDevice,
    pub(crate) client: Client,
    pub(crate) group: MlsGroup,
    /// The last handshake seq processed.
    pub(crate) cursor: u64,
    /// A commit posted without an answer: whether it won is read from the log.
    pub(crate) pending: Option<Vec<u8>>,
    pub(crate) acked: Vec<AckedCommit>,
    pub(crate) tally: Tally,
}

impl Member {
    /// Processes every handshake after the cursor. A commit of ours found in the log is
    /// merged (it won although its answer was lost); a pending commit of ours that is not the
    /// next one in the log lost and is dropped.
    pub(crate) fn catch_up(&mut self, room: &str) -> std::io::Result<()> {
        loop {
            let r = self.client.try_request(
                "GET",
                &format!(
                    "/v1/rooms/{room}/handshakes?after={}&limit=500",
                    self.cursor
                ),
                &[],
                b"",
            )?;
            assert_eq!(r.status, 200, "{}: handshakes: {}", self.name, r.text());
            let page = r.json();
            let entries = page["entries"].as_array().unwrap();
            if entries.is_empty() {
                break;
            }
            for e in entries {
                let message_b64 = e["message"].as_str().unwrap();
                let message = unb64(message_b64);
                match self.pending.take() {
                    Some(ours) if ours == message => {
                        self.group.merge_pending_commit(&self.mls.provider).unwrap();
                        self.tally.in_doubt_applied += 1;
                    }
                    other => {
                        if other.is_some() {
                            self.group
                                .clear_pending_commit(self.mls.provider.storage())
                                .unwrap();
                        }
                        self.mls.apply(&mut self.group, message_b64);
                    }
                }
                let seq = e["seq"].as_u64().unwrap();
                assert_eq!(
                    seq,
                    self.cursor + 1,
                    "{}: log seqs not contiguous",
                    self.name
                );
                self.cursor = seq;
            }
        }
        if self.pending.take().is_some() {
            // Not in the log: the relay never stored it.
            self.group
                .clear_pending_commit(self.mls.provider.storage())
                .unwrap();
        }
        Ok(())
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.group.epoch().as_u64()
    }

    pub(crate) fn authenticator(&self) -> Vec<u8> {
        self.group.epoch_authenticator().as_slice().to_vec()
    }
}

/// Commits until the kill; returns the member with its state (a commit without answer stays
/// pending until [`Member::catch_up`] after the restart).
pub(crate) fn run_racer(
    mut m: Member,
    room: String,
    killed: Arc<AtomicBool>,
    mut rng: Rng,
) -> Member {
    while !killed.load(Ordering::SeqCst) {
        let epoch = m.epoch();
        let commit = m
            .group
            .self_update(
                &m.mls.provider,
                &m.mls.signer,
                LeafNodeParameters::default(),
            )
            .unwrap()
            .commit()
            .clone();
        let message = bytes(&commit);
        m.pending = Some(message.clone());
        let sent_before_kill = !killed.load(Ordering::SeqCst);
        let r = post_json(
            &m.client,
            &format!("/v1/rooms/{room}/handshakes"),
            &json!({ "message": b64(&message) }),
        );
        match r {
            Err(_) => {
                if sent_before_kill {
                    m.tally.in_flight_hits += 1;
                }
                return m;
            }
            Ok(r) if r.status == 201 => {
                let v = r.json();
                let seq = v["seq"].as_u64().unwrap();
                assert_eq!(v["epoch"], epoch + 1, "{}: {v}", m.name);
                assert_eq!(
                    seq,
                    m.cursor + 1,
                    "{}: a commit for epoch {epoch} was accepted, but the log holds entries \
                     this racer has not processed",
                    m.name
                );
                m.group.merge_pending_commit(&m.mls.provider).unwrap();
                m.pending = None;
                m.cursor = seq;
                m.acked.push(AckedCommit {
                    seq,
                    sent_epoch: epoch,
                    message,
                });
                m.tally.acked += 1;
            }
            Ok(r) if r.status == 409 => {
                assert_eq!(r.code(), "epoch_conflict", "{}: {}", m.name, r.text());
                m.tally.conflicts += 1;
                m.pending = None;
                m.group
                    .clear_pending_commit(m.mls.provider.storage())
                    .unwrap();
                if m.catch_up(&room).is_err() {
                    return m;
                }
            }
            Ok(r) => panic!("{}: commit answered {}: {}", m.name, r.status, r.text()),
        }
        std::thread::sleep(Duration::from_millis(rng.range(0, 10)));
    }
    m
}

/// Posts application messages until the kill.
pub(crate) struct Poster {
    pub(crate) name: String,
    pub(crate) mls: MlsDevice,
    pub(crate) client: Client,
    pub(crate) group: MlsGroup,
    /// (seq, bytes) of every acknowledged message, in posting order.
    pub(crate) acked: Vec<(u64, Vec<u8>)>,
    /// A message sent without an answer.
    pub(crate) in_flight: Option<Vec<u8>>,
    pub(crate) tally: Tally,
}

pub(crate) fn run_poster(
    mut p: Poster,
    room: String,
    killed: Arc<AtomicBool>,
    mut rng: Rng,
) -> Poster {
    while !killed.load(Ordering::SeqCst) {
        let len = rng.range(16, 2048) as usize;
        let payload = rng.bytes(len);
        let out = p
            .group
            .create_message(&p.mls.provider, &p.mls.signer, &payload)
            .unwrap();
        let message = bytes(&out);
        p.in_flight = Some(message.clone());
        let sent_before_kill = !killed.load(Ordering::SeqCst);
        match post_json(
            &p.client,
            &format!("/v1/rooms/{room}/messages"),
            &json!({ "message": b64(&message) }),
        ) {
            Err(_) => {
                if sent_before_kill {
                    p.tally.in_flight_hits += 1;
                }
                return p;
            }
            Ok(r) if r.status == 201 => {
                let seq = r.json()["seq"].as_u64().unwrap();
                if let Some((last, _)) = p.acked.last() {
                    assert!(
                        seq > *last,
                        "{}: message acknowledged with seq {seq} after one with seq {last}",
                        p.name
                    );
                }
                p.acked.push((seq, message));
                p.in_flight = None;
                p.tally.acked += 1;
            }
            Ok(r) => panic!("{}: message answered {}: {}", p.name, r.status, r.text()),
        }
        std::thread::sleep(Duration::from_millis(rng.range(0, 5)));
    }
    p
}

/// One resumable upload in progress.
pub(crate) struct Upload {
    pub(crate) blob_id: String,
    pub(crate) data: Vec<u8>,
    /// The offset the relay acknowledged last.
    pub(crate) acked: u64,
    /// The end of an append sent without an answer (== `acked` when none).
    pub(crate) sent_end: u64,
}

/// Uploads blobs in random chunks until the kill; downloads and checks each finished blob.
pub(crate) struct Uploader {
    pub(crate) name: String,
    pub(crate) client: Client,
    pub(crate) room: String,
    pub(crate) current: Option<Upload>,
    /// (blob id, SHA-256) of every finished upload.
    pub(crate) completed: Vec<(String, [u8; 32])>,
    pub(crate) tally: Tally,
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub(crate) fn run_uploader(mut u: Uploader, killed: Arc<AtomicBool>, mut rng: Rng) -> Uploader {
    let room = u.room.clone();
    while !killed.load(Ordering::SeqCst) {
        let sent_before_kill = !killed.load(Ordering::SeqCst);
        let Some(up) = u.current.as_mut() else {
            let len = rng.range(64 << 10, 512 << 10);
            let data = rng.bytes(len as usize);
            match post_json(
                &u.client,
                &format!("/v1/rooms/{room}/blobs"),
                &json!({ "length": len }),
            ) {
                Err(_) => {
                    if sent_before_kill {
                        u.tally.in_flight_hits += 1;
                    }
                    return u;
                }
                Ok(r) if r.status == 201 => {
                    u.tally.acked += 1;
                    u.current = Some(Upload {
                        blob_id: r.json()["blob_id"].as_str().unwrap().to_owned(),
                        data,
                        acked: 0,
                        sent_end: 0,
                    });
                }
                Ok(r) => panic!(
                    "{}: create blob answered {}: {}",
                    u.name,
                    r.status,
                    r.text()
                ),
            }
            continue;
        };
        let path = format!("/v1/rooms/{room}/blobs/{}", up.blob_id);
        let len = up.data.len() as u64;
        if up.acked == len {
            match u.client.try_request("GET", &path, &[], b"") {
                Err(_) => return u,
                Ok(r) => {
                    assert_eq!(r.status, 200, "{}: download: {}", u.name, r.text());
                    assert!(
                        sha256(&r.body) == sha256(&up.data),
                        "{}: blob {} downloads other bytes than were uploaded",
                        u.name,
                        up.blob_id
                    );
                    u.completed.push((up.blob_id.clone(), sha256(&up.data)));
                    u.current = None;
                }
            }
            continue;
        }
        let end = (up.acked + rng.range(4 << 10, 96 << 10)).min(len);
        let chunk = &up.data[up.acked as usize..end as usize];
        let sum = format!("sha256 {}", b64(&sha256(chunk)));
        let offset = up.acked.to_string();
        up.sent_end = end;
        let r = u.client.try_request(
            "PATCH",
            &path,
            &[
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", &offset),
                ("upload-checksum", &sum),
            ],
            chunk,
        );
        match r {
            Err(_) => {
                if sent_before_kill {
                    u.tally.in_flight_hits += 1;
                }
                return u;
            }
            Ok(r) if r.status == 204 => {
                assert_eq!(
                    r.header("upload-offset"),
                    Some(end.to_string().as_str()),
                    "{}: acknowledged offset",
                    u.name
                );
                up.acked = end;
                u.tally.acked += 1;
            }
            Ok(r) => panic!("{}: append answered {}: {}", u.name, r.status, r.text()),
        }
        std::thread::sleep(Duration::from_millis(rng.range(0, 5)));
    }
    u
}

impl Uploader {
    /// After a restart: the relay's offset covers every acknowledged byte and nothing that was
    /// never sent, and the stored bytes up to it are the sent ones (in the blob file, or in the
    /// S3 bucket: the bytes of its pending tail); the upload resumes there.
    pub(crate) fn resume(&mut self, relay: &Relay) {
        let Some(up) = self.current.as_mut() else {
            return;
        };
        let path = format!("/v1/rooms/{}/blobs/{}", self.room, up.blob_id);
        let r = self.client.try_request("HEAD", &path, &[], b"").unwrap();
        assert_eq!(r.status, 200, "{}: HEAD {}", self.name, up.blob_id);
        let stored: u64 = r.header("upload-offset").unwrap().parse().unwrap();
        assert!(
            stored >= up.acked,
            "{}: blob {}: acknowledged offset {} lost, the relay has {stored}",
            self.name,
            up.blob_id,
            up.acked
        );
        assert!(
            stored == up.acked || stored == up.sent_end,
            "{}: blob {}: the relay's offset {stored} is neither the acknowledged {} nor the \
             end {} of the append in flight",
            self.name,
            up.blob_id,
            up.acked,
            up.sent_end
        );
        if stored > up.acked {
            self.tally.in_doubt_applied += 1;
        }
        let held = relay.stored_upload_of(&up.blob_id);
        let from = held.from.min(stored);
        assert!(
            held.from + held.bytes.len() as u64 >= stored,
            "{}: blob {}: the storage holds bytes {}..{}, the offset says {stored}",
            self.name,
            up.blob_id,
            held.from,
            held.from + held.bytes.len() as u64
        );
        assert!(
            sha256(&held.bytes[..(stored - from) as usize])
                == sha256(&up.data[from as usize..stored as usize]),
            "{}: blob {}: the stored bytes {from}..{stored} differ from the sent ones",
            self.name,
            up.blob_id
        );
        up.acked = stored;
        up.sent_end = stored;
    }
}
