//! The malware scanner end to end (issue 23): the real relay binary, the real
//! `sealroom-scanner` binary (`target/<profile>/sealroom-scanner`, built by the workspace
//! build) and the real clamd of `scripts/services/clamav.sh`, with its own EICAR signature.
//!
//! The scanner reaches clamd through a gate in this test: open, it forwards to clamd; closed,
//! it accepts the scanner's connection and never answers, so the scanner is provably in the
//! middle of a scan when the test kills it (SIGKILL). No sleeps, no timeouts: the test follows
//! the scanner's progress lines on its stdout.
//!
//! Olga (provider staff) and Rita (a customer) are raw devices with their own keys and openmls
//! state: they forge verdicts in the room and releases on the relay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use serde_json::json;

use sealroom_core::client::{
    Classification, ClientEvent, FileAccess, FileVersion, LabelRule, NewFile, Role, ScanState,
    SpacePolicy,
};
use sealroom_core::room::{version_digest, DocumentVersion};

use sealroom_tests::raw_member::RawMember;
use sealroom_tests::relay::Relay;
use sealroom_tests::rooms::{upload_sdk_key_packages, MlsDevice};
pub(crate) use sealroom_tests::runtime;
use sealroom_tests::sdk::SdkDevice as Device;

/// The EICAR test file, built from two halves so that this source is not itself flagged.
pub(crate) fn eicar() -> Vec<u8> {
    let mut out = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-".to_vec();
    out.extend_from_slice(b"ANTIVIRUS-TEST-FILE!$H+H*");
    out
}

/// The name clamd gives our own EICAR signature (scripts/services/clamav/sealroom-test.ndb).
pub(crate) const EICAR_NAME: &str = "Sealroom.Test.EICAR.UNOFFICIAL";

fn new_device(base_url: &str) -> Device {
    Device::new(base_url)
}

pub(crate) fn pdf(marker: &str) -> Vec<u8> {
    let mut out = format!("%PDF-1.7\n% {marker}\n").into_bytes();
    out.extend(std::iter::repeat_n(b'x', 3000));
    out
}

pub(crate) async fn upload(
    device: &Device,
    space_id: &str,
    name: &str,
    data: &[u8],
) -> FileVersion {
    upload_version(device, space_id, name, data, None).await
}

async fn upload_version(
    device: &Device,
    space_id: &str,
    name: &str,
    data: &[u8],
    document_id: Option<String>,
) -> FileVersion {
    device
        .client
        .upload_file(
            space_id,
            &NewFile {
                name: name.to_owned(),
                document_id,
                ..NewFile::default()
            },
            data.len() as u64,
            data,
            |_, _| {},
        )
        .await
        .unwrap()
}

pub(crate) async fn download(
    device: &Device,
    space_id: &str,
    file_id: &str,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    device
        .client
        .download_file(space_id, file_id, &mut out, |_, _| {})
        .await
        .map_err(|e| e.code())?;
    Ok(out)
}

pub(crate) fn file(device: &Device, space_id: &str, file_id: &str) -> FileVersion {
    device
        .client
        .files(space_id)
        .unwrap()
        .into_iter()
        .find(|f| f.file_id == file_id)
        .unwrap()
}

/// Every label open to customers; `confidential` (the default) needs a scan.
fn scanning_policy() -> SpacePolicy {
    let rule = |c, scan_required| LabelRule {
        classification: c,
        customer_download: true,
        scan_required,
        four_eyes: false,
    };
    SpacePolicy {
        labels: vec![
            rule(Classification::Public, false),
            rule(Classification::Confidential, true),
        ],
        default: Classification::Confidential,
        scanner: None,
    }
}

// ----- clamd and its gate ----------------------------------------------------------------------

/// The clamd of `scripts/services/clamav.sh`: `SEALROOM_TEST_CLAMD`, or the script is run to
/// start it. A test that cannot have clamd fails (it never skips).
fn clamd_addr() -> String {
    if let Ok(addr) = std::env::var("SEALROOM_TEST_CLAMD") {
        return addr;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg("-c")
        .arg("source scripts/services/clamav.sh >&2 && printf %s \"$SEALROOM_TEST_CLAMD\"")
        .current_dir(&root)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/services/clamav.sh");
    let addr = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && !addr.is_empty(),
        "clamd is needed: source scripts/services/clamav.sh (SEALROOM_TEST_CLAMD)"
    );
    addr
}

/// A TCP gate in front of clamd: open, it forwards; closed, it holds connections unanswered.
struct Gate {
    addr: String,
    open: Arc<AtomicBool>,
}

impl Gate {
    fn start(clamd: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let open = Arc::new(AtomicBool::new(true));
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let gate_open = open.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                if !gate_open.load(Ordering::SeqCst) {
                    held.lock().unwrap().push(conn);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(&clamd) else {
                    continue;
                };
                let (mut a_read, mut b_write) =
                    (conn.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (mut b_read, mut a_write) = (upstream, conn);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a_read, &mut b_write);
                    let _ = b_write.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut b_read, &mut a_write);
                    let _ = a_write.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Self { addr, open }
    }

    fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }
}

// ----- the scanner process ---------------------------------------------------------------------

fn scanner_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("sealroom-scanner{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "scanner binary not found at {}: run `cargo build -p sealroom-scanner` first",
        bin.display()
    );
    bin
}

/// A running `sealroom-scanner run`, its stdout lines as they come.
pub(crate) struct Scanner {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Scanner {
    fn start(relay_url: &str, state: &Path, clamd: &str) -> Self {
        let mut child = Command::new(scanner_binary())
            .args(["run", "--relay", relay_url, "--clamd", clamd, "--state"])
            .arg(state)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("scanner: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads progress lines until one satisfies `until`; returns the lines read.
    pub(crate) fn read_until(&mut self, until: impl Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let line = self
                .lines
                .recv()
                .unwrap_or_else(|_| panic!("the scanner exited; it said {:?}", self.seen));
            self.seen.push(line.clone());
            out.push(line.clone());
            if until(&line) {
                return out;
            }
        }
    }

    /// SIGKILL.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn register_scanner(relay_url: &str, state: &Path, token: &str) -> String {
    let out = Command::new(scanner_binary())
        .args([
            "register", "--relay", relay_url, "--token", token, "--state",
        ])
        .arg(state)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "scanner registration failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut words = text.split_whitespace();
    assert_eq!(words.next(), Some("registered"), "{text}");
    words.next().unwrap().to_owned()
}

// ----- raw members -------------------------------------------------------------------------------

/// A raw member's forgeries.
trait Forge {
    fn forge_clean(&mut self, relay: &Relay, f: &FileVersion);
}

impl Forge for RawMember {
    /// A "clean" verdict on `f` that names the right file, version and digest.
    fn forge_clean(&mut self, relay: &Relay, f: &FileVersion) {
        let core_room = String::from_utf8(hex::decode(&self.room).unwrap()).unwrap();
        let mut content_digest = [0u8; 32];
        hex::decode_to_slice(&f.digest, &mut content_digest).unwrap();
        let signed = DocumentVersion {
            document_id: f.document_id.clone(),
            version: f.version,
            content_digest,
            file_id: Some(f.file_id.clone()),
            author_signature: Vec::new(),
            classification: f.classification.clone(),
        }
        .signed_bytes(&core_room);
        self.catch_up(relay);
        self.post(
            relay,
            &json!({
                "v": 1, "label": "customer",
                "body": {
                    "type": "scan_verdict", "file_id": f.file_id, "document_id": f.document_id,
                    "version": f.version, "version_digest": hex::encode(version_digest(&signed)),
                    "verdict": "clean",
                }
            }),
        );
    }
}

// ----- the scene ---------------------------------------------------------------------------------

/// The relay, an admin, staff Sam (space owner) and Sue, customers Cara and Carl (SDK devices),
/// the scanner's service user (registered by the scanner binary), and the space with a policy
/// that scans `confidential` files.
pub(crate) struct Scene {
    pub(crate) relay: Relay,
    pub(crate) admin: Device,
    pub(crate) sam: Device,
    pub(crate) sue: Device,
    pub(crate) cara: Device,
    pub(crate) carl: Device,
    pub(crate) space_id: String,
    pub(crate) scanner_user: String,
    pub(crate) scanner_state: tempfile::TempDir,
    gate: Gate,
}

pub(crate) async fn scene() -> Scene {
    let relay = Relay::start();
    let url = relay.base_url();
    let admin = new_device(&url);
    admin
        .client
        .bootstrap(&relay.setup_token(), "Provider", "Ada", None, "laptop")
        .await
        .unwrap();
    let org = admin.client.create_customer_org("Kestrel").await.unwrap();
    let mut staff = Vec::new();
    for name in ["Sam", "Sue"] {
        let d = new_device(&url);
        let invite = admin.client.invite(Role::Staff, None).await.unwrap();
        d.client
            .register(&invite.token, name, None, "laptop")
            .await
            .unwrap();
        staff.push(d);
    }
    let sue = staff.pop().unwrap();
    let sam = staff.pop().unwrap();
    let space_id = sam
        .client
        .create_space(&org.org_id, false)
        .await
        .unwrap()
        .space_id;
    sam.client
        .add_member(&space_id, &sue.client.account().unwrap().user_id)
        .await
        .unwrap();
    let mut customers = Vec::new();
    for name in ["Cara", "Carl"] {
        let d = new_device(&url);
        let invite = sam
            .client
            .invite(Role::Customer, Some(&space_id))
            .await
            .unwrap();
        d.client
            .register(&invite.token, name, None, "phone")
            .await
            .unwrap();
        sam.client
            .add_member(&space_id, &d.client.account().unwrap().user_id)
            .await
            .unwrap();
        customers.push(d);
    }
    let carl = customers.pop().unwrap();
    let cara = customers.pop().unwrap();

    // The scanner: a staff service user, registered by the binary, added like any member.
    let scanner_state = tempfile::tempdir().unwrap();
    let invite = admin.client.invite(Role::Staff, None).await.unwrap();
    let scanner_user = register_scanner(&url, scanner_state.path(), &invite.token);
    sam.client
        .add_member(&space_id, &scanner_user)
        .await
        .unwrap();
    sam.client
        .set_space_policy(&space_id, &scanning_policy())
        .await
        .unwrap();
    sam.client
        .set_space_scanner(&space_id, Some(&scanner_user))
        .await
        .unwrap();
    let s = Scene {
        relay,
        admin,
        sam,
        sue,
        cara,
        carl,
        space_id,
        scanner_user,
        scanner_state,
        gate: Gate::start(clamd_addr()),
    };
    s.sync_all().await;
    s
}

impl Scene {
    pub(crate) async fn sync_all(&self) -> Vec<ClientEvent> {
        let mut out = Vec::new();
        for d in [&self.sam, &self.sue, &self.cara, &self.carl] {
            out.extend(d.client.sync().await.unwrap());
        }
        out
    }

    pub(crate) fn scanner(&self) -> Scanner {
        Scanner::start(
            &self.relay.base_url(),
            self.scanner_state.path(),
            &self.gate.addr,
        )
    }

    /// A raw device of `role` that Sam adds to the space and its customer room.
    pub(crate) async fn add_raw(&self, role: Role, name: &str) -> RawMember {
        let invite = match role {
            Role::Customer => self
                .sam
                .client
                .invite(Role::Customer, Some(&self.space_id))
                .await
                .unwrap(),
            _ => self.admin.client.invite(role, None).await.unwrap(),
        };
        let device = self.relay.register(&invite.token, name);
        self.relay.certify_with_new_identity(&device);
        let mls = MlsDevice::new(&device);
        upload_sdk_key_packages(&self.relay.client(&mls.device), &mls);
        self.sam
            .client
            .add_member(&self.space_id, &device.user_id)
            .await
            .unwrap();
        let raw = RawMember::join_customer_room(&self.relay, device, mls);
        self.sync_all().await;
        raw
    }
}

pub(crate) fn verdict_line(file_id: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| l.starts_with("verdict ") && l.contains(file_id)
}

/// A clean upload ends clean and opens for everyone; one caught mid-scan waits (refused by the
/// SDK and the relay to all but its uploader and the scanner); a scanner killed mid-scan and
/// restarted scans that file and one that arrived while it was down, and never the finished one
/// again; the EICAR file ends infected, refused by every SDK and by the relay, until a staff
/// override (audited) opens it for staff, never customers. Forged verdicts and releases fail.
#[test]
fn scanner_verdicts_restart_and_override() {
    runtime().block_on(async {
        let s = scene().await;
        let me = s.scanner_user.clone();
        let mut scanner = s.scanner();
        scanner.read_until(|l| l == "idle");

        // 1. A clean upload ends clean; every member opens it.
        let a = upload(&s.cara, &s.space_id, "a.pdf", &pdf("a")).await;
        assert_eq!(a.classification, Some(Classification::Confidential));
        let lines = scanner.read_until(verdict_line(&a.file_id));
        assert!(lines.last().unwrap().ends_with(" clean"), "{lines:?}");
        s.sync_all().await;
        for d in [&s.sam, &s.sue, &s.carl] {
            let f = file(d, &s.space_id, &a.file_id);
            assert_eq!(f.scan, ScanState::Clean);
            assert_eq!(f.access, FileAccess::Open);
        }
        assert_eq!(
            download(&s.carl, &s.space_id, &a.file_id).await.unwrap(),
            pdf("a")
        );

        // 2. The gate closes: the next file is caught mid-scan.
        s.gate.set_open(false);
        let b = upload(&s.cara, &s.space_id, "b.pdf", &pdf("b")).await;
        scanner.read_until(|l| l.starts_with("scanning ") && l.contains(&b.file_id));
        s.sync_all().await;
        let f = file(&s.sam, &s.space_id, &b.file_id);
        assert_eq!(f.scan, ScanState::Waiting);
        assert_eq!(f.access, FileAccess::AwaitingScan);
        assert_eq!(
            download(&s.sam, &s.space_id, &b.file_id).await.unwrap_err(),
            "awaiting_scan",
            "staff do not open an unscanned customer file"
        );
        assert_eq!(
            download(&s.carl, &s.space_id, &b.file_id)
                .await
                .unwrap_err(),
            "awaiting_scan"
        );
        // The uploader has it anyway and may open her own file.
        assert_eq!(
            download(&s.cara, &s.space_id, &b.file_id).await.unwrap(),
            pdf("b")
        );
        // A new version of the clean document is a new file: A's verdict does not carry over.
        let a2 = upload_version(
            &s.cara,
            &s.space_id,
            "a.pdf",
            &pdf("a, second version"),
            Some(a.document_id.clone()),
        )
        .await;
        assert_eq!(a2.version, 2);

        // 3. SIGKILL mid-scan; an infected file arrives while the scanner is down.
        scanner.kill();
        let c = upload(&s.cara, &s.space_id, "c.txt", &eicar()).await;
        s.sync_all().await;
        let f = file(&s.sam, &s.space_id, &a2.file_id);
        assert_eq!(
            f.scan,
            ScanState::Waiting,
            "a verdict names one version only"
        );

        // Olga (staff, not the scanner) and Rita (customer) are in the room.
        let mut olga = s.add_raw(Role::Staff, "Olga").await;
        let mut rita = s.add_raw(Role::Customer, "Rita").await;
        // The relay serves the held file to neither, and takes a scan release from neither.
        for raw in [&olga, &rita] {
            let r = raw.get_blob(&s.relay, &b.file_id);
            assert_eq!(r.status, 403, "{}", r.text());
            assert_eq!(r.json()["code"], "awaiting_release", "{}", r.text());
            let r = raw.release(&s.relay, &b.file_id, "scan");
            assert_eq!(r.status, 403, "scan release by a non-scanner: {}", r.text());
        }
        // A four-eyes release statement does not release a scan hold (kinds are signed).
        let r = olga.release(&s.relay, &b.file_id, "four_eyes");
        assert_eq!(r.status, 409, "{}", r.text());
        // Forged "clean" verdicts: Olga's is taken by the room but ignored by every client,
        // Rita's is refused by the room layer.
        let forged_b = file(&s.sam, &s.space_id, &b.file_id);
        olga.forge_clean(&s.relay, &forged_b);
        rita.forge_clean(&s.relay, &forged_b);
        let events = s.sync_all().await;
        assert!(
            events.iter().any(
                |e| matches!(e, ClientEvent::Refused { reason, .. } if reason == "staff_only")
            ),
            "the customer's verdict is refused: {events:?}"
        );
        for d in [&s.sam, &s.sue, &s.carl] {
            assert_eq!(file(d, &s.space_id, &b.file_id).scan, ScanState::Waiting);
        }

        // 4. Restart with the gate open: B, A2 and C are scanned, A is not.
        s.gate.set_open(true);
        let mut scanner = s.scanner();
        let mut lines = Vec::new();
        for id in [&b.file_id, &a2.file_id, &c.file_id] {
            if !lines.iter().any(|l: &String| verdict_line(id)(l.as_str())) {
                lines.extend(scanner.read_until(verdict_line(id)));
            }
        }
        lines.extend(scanner.read_until(|l| l == "idle"));
        assert!(
            !lines.iter().any(|l| l.contains(&a.file_id)),
            "the finished file is not scanned again: {lines:?}"
        );
        let verdict_of = |id: &str| {
            lines
                .iter()
                .find(|l| verdict_line(id)(l.as_str()))
                .unwrap()
                .rsplit(&format!("{id} "))
                .next()
                .unwrap()
                .to_owned()
        };
        assert_eq!(verdict_of(&b.file_id), "clean");
        assert_eq!(verdict_of(&a2.file_id), "clean");
        assert_eq!(verdict_of(&c.file_id), format!("infected {EICAR_NAME}"));
        let audit = s
            .admin
            .client
            .audit(&sealroom_wire::audit::AuditQuery {
                action: Some("blob.download".into()),
                object: Some(a.file_id.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        let by_scanner = audit
            .entries
            .iter()
            .filter(|e| e.entry.actor_user.as_deref() == Some(me.as_str()))
            .count();
        assert!(by_scanner >= 1, "{audit:?}");

        // 5. The infected file: refused by every SDK but the uploader's, and by the relay.
        s.sync_all().await;
        for d in [&s.sam, &s.sue, &s.carl] {
            let f = file(d, &s.space_id, &c.file_id);
            assert_eq!(
                f.scan,
                ScanState::Infected {
                    signature: EICAR_NAME.into()
                }
            );
            assert_eq!(f.access, FileAccess::Infected);
            assert_eq!(
                download(d, &s.space_id, &c.file_id).await.unwrap_err(),
                "infected"
            );
        }
        for raw in [&olga, &rita] {
            let r = raw.get_blob(&s.relay, &c.file_id);
            assert_eq!(r.status, 403, "{}", r.text());
        }
        // B is clean now: the relay serves it to customers.
        assert_eq!(rita.get_blob(&s.relay, &b.file_id).status, 200);
        assert_eq!(
            download(&s.carl, &s.space_id, &b.file_id).await.unwrap(),
            pdf("b")
        );

        // 6. A customer cannot override; staff (Sue) can, audited; staff then open it,
        //    customers still cannot.
        assert_eq!(
            s.carl
                .client
                .override_scan(&s.space_id, &c.file_id)
                .await
                .unwrap_err()
                .code(),
            "not_staff"
        );
        let r = rita.release(&s.relay, &c.file_id, "scan_override");
        assert_eq!(r.status, 403, "{}", r.text());
        s.sue
            .client
            .override_scan(&s.space_id, &c.file_id)
            .await
            .unwrap();
        s.sync_all().await;
        assert_eq!(
            file(&s.sam, &s.space_id, &c.file_id).access,
            FileAccess::Open
        );
        assert_eq!(
            download(&s.sam, &s.space_id, &c.file_id).await.unwrap(),
            eicar()
        );
        assert_eq!(
            download(&s.carl, &s.space_id, &c.file_id)
                .await
                .unwrap_err(),
            "infected"
        );
        assert_eq!(olga.get_blob(&s.relay, &c.file_id).status, 200);
        assert_eq!(rita.get_blob(&s.relay, &c.file_id).status, 403);
        let page = s
            .admin
            .client
            .audit(&sealroom_wire::audit::AuditQuery {
                action: Some("blob.release".into()),
                object: Some(c.file_id.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            page.entries.iter().any(|e| {
                e.entry.actor_user.as_deref()
                    == Some(s.sue.client.account().unwrap().user_id.as_str())
                    && e.entry
                        .detail
                        .as_deref()
                        .is_some_and(|d| d.contains("kind=scan_override"))
            }),
            "{page:?}"
        );
        scanner.kill();
    });
}
