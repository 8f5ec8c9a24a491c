//! Files through the Rust SDK client against the real relay binary over real HTTP: a document
//! uploaded in two versions (the other side sees version 2 as latest and downloads identical
//! bytes), a ranged download, a media type refused by the space policy on the device (sniffed
//! from the content, not the name), a large upload through a TCP proxy that cuts the connection
//! twice while the client is also dropped and reopened from its encrypted on-disk store, a
//! member added later who opens the documents posted before they joined, deletion, and finally
//! a scan of the relay's data directory and log for every file name and content marker used.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use sealroom_core::client::{
    ClientErrorKind, ClientEvent, FilePolicy, NewFile, Role, UPLOAD_CHUNK,
};

use sealroom_tests::relay::Relay;
use sealroom_tests::sdk::{open_at, SdkDevice as Device, StaffSpace};

const DOC_NAME_V1: &str = "Kestrel-Q3-forecast-draft.pdf";
const DOC_NAME_V2: &str = "Kestrel-Q3-forecast-final.pdf";
const BIG_NAME: &str = "Kestrel-archive-scans-2025.pdf";
const REFUSED_NAME: &str = "disguised-archive-77.pdf";
const MARKER_V1: &str = "CONFIDENTIAL forecast marker v1 93811";
const MARKER_V2: &str = "CONFIDENTIAL forecast marker v2 40277";

/// Size of the large upload (MiB, default 200 as in issue 5); `SEALROOM_FILES_TEST_MIB` overrides.
fn big_len() -> u64 {
    std::env::var("SEALROOM_FILES_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200u64)
        << 20
}

fn new_device(url: &str) -> Device {
    Device::new(url)
}

/// A PDF-looking document: `%PDF-` header, a marker line, then deterministic filler.
fn document(marker: &str, len: usize) -> Vec<u8> {
    let mut out = format!("%PDF-1.7\n% {marker}\n").into_bytes();
    let mut gen = Gen::new(len as u64, 0x5eed_0001 ^ len as u64);
    gen.skip_header = true;
    let mut rest = vec![0u8; len - out.len()];
    gen.read_exact(&mut rest).unwrap();
    out.extend_from_slice(&rest);
    out
}

/// Deterministic pseudo-random content of a given length, starting with a PDF header; can be
/// told to fail after some bytes (an app killed mid-upload).
struct Gen {
    state: u64,
    remaining: u64,
    pos: u64,
    fail_at: Option<u64>,
    skip_header: bool,
}

const PDF_HEAD: &[u8] = b"%PDF-1.4\n";

impl Gen {
    fn new(len: u64, seed: u64) -> Self {
        Self {
            state: seed | 1,
            remaining: len,
            pos: 0,
            fail_at: None,
            skip_header: false,
        }
    }
}

impl Read for Gen {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(f) = self.fail_at {
            if self.pos >= f {
                return Err(std::io::Error::other("the app was killed"));
            }
        }
        let mut n = buf.len().min(self.remaining as usize).min(64 * 1024);
        if let Some(f) = self.fail_at {
            n = n.min((f - self.pos) as usize);
        }
        for b in &mut buf[..n] {
            let p = self.pos as usize;
            *b = if !self.skip_header && p < PDF_HEAD.len() {
                PDF_HEAD[p]
            } else {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                self.state as u8
            };
            self.pos += 1;
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A writer that only hashes (a large download never sits in memory).
struct HashWriter(Sha256, u64);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A TCP proxy in front of the relay that cuts a connection when the total client-to-relay
/// byte count crosses an armed threshold.
struct Proxy {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    cuts: Arc<Mutex<Vec<u64>>>,
    done: Arc<AtomicU64>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        let cuts: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicU64::new(0));
        let (s, c, d) = (sent.clone(), cuts.clone(), done.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let (s, c, d) = (s.clone(), c.clone(), d.clone());
                let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // relay -> client: plain copy.
                std::thread::spawn(move || {
                    let (mut from, mut to) = (server2, client2);
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                });
                // client -> relay: counted, cut at thresholds.
                std::thread::spawn(move || {
                    let (mut from, mut to) = (client, server);
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let before = s.fetch_add(n as u64, Ordering::SeqCst);
                        let cut = {
                            let mut cuts = c.lock().unwrap();
                            match cuts.first().copied() {
                                Some(t) if t <= before + n as u64 => {
                                    cuts.remove(0);
                                    Some(t.saturating_sub(before) as usize)
                                }
                                _ => None,
                            }
                        };
                        if let Some(keep) = cut {
                            let _ = to.write_all(&buf[..keep.min(n)]);
                            d.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                });
            }
        });
        Self {
            addr,
            sent,
            cuts,
            done,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts the connection after `after` more client bytes, for each entry.
    fn arm(&self, after: &[u64]) {
        let now = self.sent.load(Ordering::SeqCst);
        *self.cuts.lock().unwrap() = after.iter().map(|a| now + a).collect();
    }
}

fn sha(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

#[test]
fn documents_versions_resumable_uploads_history_and_delete() {
    let relay = Relay::start();
    let rt = sealroom_tests::runtime();
    let url = relay.base_url();
    let proxy = Proxy::start(relay.addr());
    rt.block_on(async {
        // A provider admin (Ada), one staff member (Sam) and Sam's space for the customer
        // organisation, whose member is behind the proxy.
        let StaffSpace {
            admin: _admin,
            sam: staff,
            space_id,
            ..
        } = StaffSpace::new(&url, &relay.setup_token()).await;
        let cust = new_device(&proxy.url());
        let invite = staff
            .client
            .invite(Role::Customer, Some(&space_id))
            .await
            .unwrap();
        cust.client
            .register(&invite.token, "Cara Customer", None, "phone")
            .await
            .unwrap();
        let cust_user = cust.client.account().unwrap().user_id;
        staff
            .client
            .add_member(&space_id, &cust_user)
            .await
            .unwrap();
        cust.client.sync().await.unwrap();

        // Version 1 and version 2 of a document.
        let v1 = document(MARKER_V1, 150_000);
        let v2 = document(MARKER_V2, 400_000);
        let first = staff
            .client
            .upload_file(
                &space_id,
                &NewFile {
                    name: DOC_NAME_V1.into(),
                    ..NewFile::default()
                },
                v1.len() as u64,
                v1.as_slice(),
                |_, _| {},
            )
            .await
            .unwrap();
        assert_eq!(
            (first.version, first.media_type.as_str()),
            (1, "application/pdf")
        );
        let mut last_progress = (0, 0);
        let second = staff
            .client
            .upload_file(
                &space_id,
                &NewFile {
                    name: DOC_NAME_V2.into(),
                    document_id: Some(first.document_id.clone()),
                    ..NewFile::default()
                },
                v2.len() as u64,
                v2.as_slice(),
                |done, total| last_progress = (done, total),
            )
            .await
            .unwrap();
        assert_eq!(second.version, 2);
        assert_eq!(second.document_id, first.document_id);
        assert!(last_progress.0 == last_progress.1 && last_progress.1 > v2.len() as u64);

        // The customer sees both versions, version 2 as latest, and downloads identical bytes.
        let events = cust.client.sync().await.unwrap();
        let versions: Vec<(&str, u64)> = events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::NewFile { version, .. } => Some(("new", *version)),
                ClientEvent::NewVersion { version, .. } => Some(("version", *version)),
                _ => None,
            })
            .collect();
        assert_eq!(versions, vec![("new", 1), ("version", 2)], "{events:?}");
        cust.client.refresh_files(&space_id).await.unwrap();
        let docs = cust.client.documents(&space_id).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].versions.len(), 2);
        assert_eq!(docs[0].latest.version, 2);
        assert!(docs[0].latest.latest && !docs[0].versions[0].latest);
        assert_eq!(docs[0].latest.name, DOC_NAME_V2);
        assert_eq!(docs[0].versions[0].name, DOC_NAME_V1);
        let mut got = Vec::new();
        let info = cust
            .client
            .download_file(&space_id, &docs[0].latest.file_id, &mut got, |_, _| {})
            .await
            .unwrap();
        assert_eq!(sha(&got), sha(&v2));
        assert_eq!(info.name, DOC_NAME_V2);

        // The pull API hands out the same bytes piece by piece, with the sealed name at the end.
        let mut pull = cust
            .client
            .start_download(&space_id, &docs[0].latest.file_id, None)
            .await
            .unwrap();
        let mut pulled = Vec::new();
        while let Some(piece) = cust.client.download_next(&mut pull).await.unwrap() {
            assert!(!piece.is_empty() && piece.len() <= UPLOAD_CHUNK);
            pulled.extend_from_slice(&piece);
        }
        assert!(pull.is_finished());
        assert_eq!(pull.done(), v2.len() as u64);
        assert_eq!(pull.total(), Some(v2.len() as u64));
        assert_eq!(pull.version().name, DOC_NAME_V2);
        assert_eq!(pulled, v2);
        assert!(cust
            .client
            .download_next(&mut pull)
            .await
            .unwrap()
            .is_none());
        let mut pull = cust
            .client
            .start_download(&space_id, &second.file_id, Some((70_000, 5)))
            .await
            .unwrap();
        assert_eq!(
            cust.client.download_next(&mut pull).await.unwrap().unwrap(),
            v2[70_000..70_005]
        );
        assert!(cust
            .client
            .download_next(&mut pull)
            .await
            .unwrap()
            .is_none());

        // A plaintext range across chunk boundaries, fetched with HTTP ranges.
        let (from, len) = (65_000u64, 140_000u64);
        let mut part = Vec::new();
        cust.client
            .download_range(&space_id, &second.file_id, from, len, &mut part, |_, _| {})
            .await
            .unwrap();
        assert_eq!(part, v2[from as usize..(from + len) as usize]);
        let err = cust
            .client
            .download_range(
                &space_id,
                &second.file_id,
                399_000,
                2_000,
                Vec::new(),
                |_, _| {},
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ClientErrorKind::InvalidInput);

        // The space's policy refuses a ZIP named like a PDF, before anything is uploaded.
        staff
            .client
            .set_file_policy(
                &space_id,
                &FilePolicy {
                    allowed_media_types: vec!["application/pdf".into(), "text/plain".into()],
                    max_size: None,
                },
            )
            .unwrap();
        let zip = b"PK\x03\x04\x14\0\0\0\x08\0payroll.csv....".to_vec();
        let err = staff
            .client
            .upload_file(
                &space_id,
                &NewFile {
                    name: REFUSED_NAME.into(),
                    ..NewFile::default()
                },
                zip.len() as u64,
                zip.as_slice(),
                |_, _| {},
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "policy", "{err}");
        assert!(staff.client.pending_uploads().unwrap().is_empty());
        // The push API (what the bindings drive): the first bytes decide the type.
        let text = b"plain notes are fine".to_vec();
        let mut upload = staff
            .client
            .start_upload(
                &space_id,
                &NewFile {
                    name: "notes.bin".into(),
                    ..NewFile::default()
                },
                text.len() as u64,
                &text,
            )
            .await
            .unwrap();
        let mut none = |_: u64, _: u64| {};
        for part in text.chunks(7) {
            staff
                .client
                .upload_push(&mut upload, part, &mut none)
                .await
                .unwrap();
        }
        let note = staff.client.upload_finish(upload, &mut none).await.unwrap();
        assert_eq!(note.media_type, "text/plain");

        // A large upload by the customer: the proxy cuts the connection twice, and the app is
        // "killed" (the source fails) part-way; the reopened client resumes from the relay's
        // offset with the same source.
        let big = big_len();
        let expected = {
            let mut h = HashWriter(Sha256::new(), 0);
            std::io::copy(&mut Gen::new(big, 42), &mut h).unwrap();
            h.0.finalize().to_vec()
        };
        proxy.arm(&[big / 5, big / 5 * 2]);
        let mut killed = Gen::new(big, 42);
        killed.fail_at = Some(big / 4 * 3);
        let err = cust
            .client
            .upload_file(
                &space_id,
                &NewFile {
                    name: BIG_NAME.into(),
                    ..NewFile::default()
                },
                big,
                killed,
                |_, _| {},
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "io", "{err}");
        assert_eq!(proxy.done.load(Ordering::SeqCst), 2, "both cuts happened");
        let Device {
            client,
            dir: cust_dir,
            key: cust_key,
        } = cust;
        drop(client);
        let cust = open_at(&proxy.url(), cust_dir.path(), cust_key);
        let pending = cust.pending_uploads().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].name, BIG_NAME);
        assert!(pending[0].uploaded > big / 2, "{pending:?}");
        // A different source is refused before anything new is sent.
        let err = cust
            .resume_upload(&pending[0].upload_id, Gen::new(big, 1000), |_, _| {})
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ClientErrorKind::InvalidInput, "{err}");
        let mut first_report = None;
        let big_file = cust
            .resume_upload(&pending[0].upload_id, Gen::new(big, 42), |done, total| {
                first_report.get_or_insert((done, total));
            })
            .await
            .unwrap();
        let (resumed_at, total) = first_report.unwrap();
        assert!(resumed_at >= pending[0].uploaded && resumed_at < total);
        assert!(cust.pending_uploads().unwrap().is_empty());
        assert_eq!(big_file.size, big);

        // Staff download it and the SHA-256 matches.
        staff.client.sync().await.unwrap();
        staff.client.refresh_files(&space_id).await.unwrap();
        let mut h = HashWriter(Sha256::new(), 0);
        staff
            .client
            .download_file(&space_id, &big_file.file_id, &mut h, |_, _| {})
            .await
            .unwrap();
        assert_eq!(h.1, big);
        assert_eq!(h.0.finalize().to_vec(), expected);

        // A member added later opens the documents posted before they joined.
        let late = new_device(&url);
        let invite = staff
            .client
            .invite(Role::Customer, Some(&space_id))
            .await
            .unwrap();
        late.client
            .register(&invite.token, "Lee Later", None, "tablet")
            .await
            .unwrap();
        let late_user = late.client.account().unwrap().user_id;
        staff
            .client
            .add_member(&space_id, &late_user)
            .await
            .unwrap();
        late.client.sync().await.unwrap();
        assert!(late.client.files(&space_id).unwrap().is_empty());
        let found = late.client.refresh_files(&space_id).await.unwrap();
        assert_eq!(found.len(), 4, "{found:?}");
        let docs = late.client.documents(&space_id).unwrap();
        let doc = docs
            .iter()
            .find(|d| d.document_id == first.document_id)
            .unwrap();
        assert_eq!(doc.latest.version, 2);
        let mut old = Vec::new();
        late.client
            .download_file(&space_id, &doc.versions[0].file_id, &mut old, |_, _| {})
            .await
            .unwrap();
        assert_eq!(sha(&old), sha(&v1));

        // Delete version 1: the bytes are gone from the relay and from every listing.
        staff
            .client
            .delete_file(&space_id, &first.file_id)
            .await
            .unwrap();
        let err = late
            .client
            .download_file(&space_id, &first.file_id, Vec::new(), |_, _| {})
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ClientErrorKind::NotFound, "{err}");
        late.client.refresh_files(&space_id).await.unwrap();
        let versions: Vec<u64> = late
            .client
            .files(&space_id)
            .unwrap()
            .iter()
            .filter(|f| f.document_id == first.document_id)
            .map(|f| f.version)
            .collect();
        assert_eq!(versions, vec![2]);
        assert!(staff
            .client
            .files(&space_id)
            .unwrap()
            .iter()
            .all(|f| f.file_id != first.file_id));
        drop(cust);
        drop(cust_dir);
    });

    // The relay never saw a file name or a content marker.
    let needles = [
        DOC_NAME_V1,
        DOC_NAME_V2,
        BIG_NAME,
        REFUSED_NAME,
        "notes.bin",
        MARKER_V1,
        MARKER_V2,
        "Kestrel-Q3",
        "application/pdf",
    ];
    relay.assert_no_plaintext(&needles);
}
