/**
 * Kotlin tests of the Sealroom SDK bindings (uniffi, JNA) against a real relay started by
 * scripts/test-kotlin.sh: bootstrap a provider admin, invite and register a customer, create a
 * space, add the member, exchange messages both ways, upload and download a few MiB with
 * progress and streaming callbacks (SHA-256 compared), remove the member (who then cannot read
 * later messages), and trigger each error kind a caller must handle for real, checking the
 * typed exception and its stable code.
 *
 * Output is TAP-like: `ok N name` / `not ok N name # reason`, then `# pass N` and `# fail N`;
 * the exit status is non-zero when a test failed.
 *
 * Environment: SEALROOM_RELAY_URL, SEALROOM_SETUP_TOKEN, SEALROOM_TEST_DIR (an empty scratch
 * directory), SEALROOM_MAX_SPACE_BYTES (the relay's per-space quota, to exceed it on purpose).
 */

import com.sun.net.httpserver.HttpServer
import java.io.File
import java.net.InetSocketAddress
import java.security.MessageDigest
import kotlin.system.exitProcess
import sealroom.*
import sealroom.core.*
import sealroom.wire.*

// ----- a tiny TAP runner -----------------------------------------------------------------

private var testNumber = 0
private var passed = 0
private var failed = 0

private fun test(name: String, body: () -> Unit) {
    testNumber += 1
    try {
        body()
        passed += 1
        println("ok $testNumber $name")
    } catch (e: Throwable) {
        failed += 1
        val reason = "${e::class.simpleName}: ${e.message}".replace('\n', ' ')
        println("not ok $testNumber $name # $reason")
    }
    System.out.flush()
}

private class AssertionFailed(message: String) : Exception(message)

private fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionFailed(message())
}

private fun <T> checkEq(expected: T, actual: T, what: String) {
    check(expected == actual) { "$what: expected $expected, got $actual" }
}

/** Runs [block], which must throw exactly [T]; returns it for further checks. */
private inline fun <reified T : SealroomException> expectError(block: () -> Unit): T {
    try {
        block()
    } catch (e: SealroomException) {
        if (e is T) return e
        throw AssertionFailed("expected ${T::class.simpleName}, got ${e::class.simpleName}: ${e.message}")
    }
    throw AssertionFailed("expected ${T::class.simpleName}, but the call succeeded")
}

private fun hex(bytes: ByteArray): String = bytes.joinToString("") { "%02x".format(it) }

// ----- streaming callbacks ---------------------------------------------------------------

/** The plaintext piece digest of docs/format.md ("Content digest", kind sha256-4mib-pieces,
 *  which earlier SDKs announced): SHA-512/256 over the SHA-256 of each 4 MiB piece and the
 *  length. */
private class PieceDigest(kind: String = "sha256-4mib-pieces") {
    private val root = MessageDigest.getInstance("SHA-512/256").apply {
        update("sealroom/content-digest/v1/$kind".toByteArray())
    }
    private var piece = MessageDigest.getInstance("SHA-256")
    private var inPiece = 0
    private var length = 0L

    fun update(bytes: ByteArray) {
        var at = 0
        while (at < bytes.size) {
            val take = minOf(PIECE - inPiece, bytes.size - at)
            piece.update(bytes, at, take)
            inPiece += take
            length += take
            at += take
            if (inPiece == PIECE) {
                root.update(piece.digest())
                piece = MessageDigest.getInstance("SHA-256")
                inPiece = 0
            }
        }
    }

    fun hex(): String {
        if (inPiece > 0) root.update(piece.digest())
        root.update(java.nio.ByteBuffer.allocate(8).putLong(length).array())
        return hex(root.digest())
    }

    companion object {
        const val PIECE = 4 * 1024 * 1024
    }
}

/** A file of [size] pseudo-random bytes produced on demand (never held whole in memory). */
private class RandomSource(private val size: Long, seed: Long) : ByteSource {
    private val random = java.util.Random(seed)
    private val sha = MessageDigest.getInstance("SHA-256")
    private val pieces = PieceDigest()
    var sent = 0L
        private set
    var largestPiece = 0
        private set

    override fun read(max: UInt): ByteArray {
        val n = minOf(max.toLong(), size - sent).toInt()
        if (n <= 0) return ByteArray(0)
        val piece = ByteArray(n)
        random.nextBytes(piece)
        sha.update(piece)
        pieces.update(piece)
        sent += n
        largestPiece = maxOf(largestPiece, n)
        return piece
    }

    fun digest(): String = hex(sha.digest())

    /** The piece digest of these bytes (kind sha256-4mib-pieces), which earlier SDKs announced. */
    fun plaintextPieceDigest(): String = pieces.hex()
}

/** A small in-memory source (for policy tests). */
private class BytesSource(private val bytes: ByteArray) : ByteSource {
    private var pos = 0

    override fun read(max: UInt): ByteArray {
        val n = minOf(max.toInt(), bytes.size - pos)
        val piece = bytes.copyOfRange(pos, pos + n)
        pos += n
        return piece
    }
}

/** A source whose storage fails (a revoked content URI, an unmounted card...). */
private class FailingSource : ByteSource {
    override fun read(max: UInt): ByteArray = throw StreamException.Failed("the source went away")
}

/** Hashes what is written to it; keeps only the first [keep] bytes. */
private class HashSink(private val keep: Int = 0) : ByteSink {
    private val sha = MessageDigest.getInstance("SHA-256")
    val kept = java.io.ByteArrayOutputStream()
    var received = 0L
        private set
    var largestPiece = 0
        private set

    override fun write(data: ByteArray) {
        sha.update(data)
        received += data.size
        largestPiece = maxOf(largestPiece, data.size)
        val room = keep - kept.size()
        if (room > 0) kept.write(data, 0, minOf(room, data.size))
    }

    fun digest(): String = hex(sha.digest())
}

private class ProgressRecorder : ProgressListener {
    val calls = java.util.Collections.synchronizedList(mutableListOf<Pair<ULong, ULong>>())

    override fun onProgress(done: ULong, total: ULong) {
        calls.add(done to total)
    }
}

// ----- a fake relay for the failures a real one does not produce on request --------------

/** An HTTP server answering every request with [status] and [body]. */
private fun fakeRelay(status: Int, body: String): HttpServer {
    val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
    server.createContext("/") { exchange ->
        exchange.requestBody.readAllBytes()
        val bytes = body.toByteArray()
        exchange.responseHeaders.add("Content-Type", "application/json")
        exchange.sendResponseHeaders(status, bytes.size.toLong())
        exchange.responseBody.use { it.write(bytes) }
    }
    server.start()
    return server
}

private fun url(server: HttpServer) = "http://127.0.0.1:${server.address.port}"

// ----- the suite -------------------------------------------------------------------------

private fun env(name: String): String =
    System.getenv(name) ?: throw IllegalStateException("$name is not set (run scripts/test-kotlin.sh)")

fun main() {
    val relay = env("SEALROOM_RELAY_URL")
    val setupToken = env("SEALROOM_SETUP_TOKEN")
    val work = File(env("SEALROOM_TEST_DIR"))
    val quota = env("SEALROOM_MAX_SPACE_BYTES").toLong()
    val random = java.security.SecureRandom()
    fun newKey() = ByteArray(32).also { random.nextBytes(it) }
    fun dir(name: String) = File(work, name).path

    val aliceKey = newKey()
    val bobKey = newKey()
    var alice: SealroomClient? = null
    var bob: SealroomClient? = null
    var orgId = ""
    var spaceId = ""
    var bobUserId = ""
    var usedToken = ""
    val fileSize = 3L * 1024 * 1024 + 12_345
    var uploadedFileId = ""
    var uploadedDigest = ""

    test("a storage key must be exactly 32 bytes (InvalidInput)") {
        val e = expectError<SealroomException.InvalidInput> {
            SealroomClient.open(relay, dir("short-key"), ByteArray(16))
        }
        checkEq("invalid_storage_key", e.code, "code")
    }

    test("relay unreachable gives Network") {
        // Port 9 (discard) on loopback: nothing listens there in the test environment.
        val offline = SealroomClient.open("http://127.0.0.1:9", dir("offline"), newKey())
        val e = expectError<SealroomException.Network> {
            offline.bootstrap(setupToken, "Nobody", "Nobody", null, "phone")
        }
        checkEq("network", e.code, "code")
        check(!offline.isRegistered()) { "a failed bootstrap must not register the device" }
        offline.close()
    }

    test("a wrong setup token gives Unauthenticated, and the client stays usable") {
        val c = SealroomClient.open(relay, dir("alice"), aliceKey)
        val e = expectError<SealroomException.Unauthenticated> {
            c.bootstrap("not-the-setup-token", "Provider", "Alice", null, "alice-phone")
        }
        checkEq("relay_unauthenticated", e.code, "code")
        alice = c
    }

    test("bootstrap creates the provider admin") {
        val c = alice!!
        val account = c.bootstrap(setupToken, "Provider", "Alice", "alice@example.invalid", "alice-phone")
        checkEq(Role.ADMIN, account.role, "role")
        check(c.isRegistered()) { "registered" }
        checkEq(64, c.devicePublicKey().length, "public key hex length")
        checkEq(account, c.account(), "account")
        checkEq(1, c.myDevices().size, "devices")
    }

    test("a second bootstrap gives Conflict") {
        val c = SealroomClient.open(relay, dir("second-admin"), newKey())
        val e = expectError<SealroomException.Conflict> {
            c.bootstrap(setupToken, "Provider 2", "Mallory", null, "phone")
        }
        checkEq("relay_conflict", e.code, "code")
        c.close()
    }

    test("staff creates a customer organisation and a space") {
        val c = alice!!
        val org = c.createCustomerOrg("Acme")
        checkEq(OrgKind.CUSTOMER, org.kind, "org kind")
        orgId = org.orgId
        val space = c.createSpace(orgId, true)
        check(space.joined && space.internalRoom) { "creator is in both rooms: $space" }
        checkEq(orgId, space.customerOrgId, "customer org")
        spaceId = space.spaceId
        check(c.spaces().any { it.spaceId == spaceId }) { "space listed" }
    }

    test("a bad invitation token gives Unauthenticated") {
        val c = SealroomClient.open(relay, dir("bad-invite"), newKey())
        val e = expectError<SealroomException.Unauthenticated> {
            c.register("no-such-invitation-token", "Eve", null, "phone")
        }
        checkEq("relay_unauthenticated", e.code, "code")
        c.close()
    }

    test("invite and register a customer") {
        val invitation = alice!!.invite(Role.CUSTOMER, spaceId)
        checkEq(Role.CUSTOMER, invitation.role, "role")
        checkEq(spaceId, invitation.spaceId, "space")
        usedToken = invitation.token
        val c = SealroomClient.open(relay, dir("bob"), bobKey)
        val account = c.register(invitation.token, "Bob", null, "bob-phone")
        checkEq(Role.CUSTOMER, account.role, "role")
        checkEq(orgId, account.orgId, "customer org")
        bobUserId = account.userId
        bob = c
    }

    test("a used invitation gives NotFound (gone)") {
        val c = SealroomClient.open(relay, dir("reuse-invite"), newKey())
        val e = expectError<SealroomException.NotFound> {
            c.register(usedToken, "Bob again", null, "phone")
        }
        checkEq("relay_gone", e.code, "code")
        c.close()
    }

    test("an unknown space gives NotFound") {
        expectError<SealroomException.NotFound> { alice!!.space("no-such-space") }
    }

    test("a customer may not create organisations (Forbidden)") {
        val e = expectError<SealroomException.Forbidden> { bob!!.createCustomerOrg("Not mine") }
        checkEq("relay_forbidden", e.code, "code")
    }

    test("add the customer; sync reports JoinedSpace") {
        alice!!.addMember(spaceId, bobUserId)
        val events = bob!!.sync()
        check(events.any { it is ClientEvent.JoinedSpace && it.spaceId == spaceId && !it.internal }) {
            "JoinedSpace in $events"
        }
        val space = bob!!.space(spaceId)
        check(space.joined && !space.internalRoom) { "customer in the customer room only: $space" }
        val members = space.members.map { it.userId }.toSet()
        check(bobUserId in members && alice!!.account().userId in members) { "members $members" }
        // Devices vouched for by their user: Alice's first device holds her identity key and
        // shows verified to Bob, with a safety number over her identity key.
        check(alice!!.canVouch() && !alice!!.allowUnverifiedInternal()) { "Alice vouches" }
        val aliceSeen = space.members.first { it.userId == alice!!.account().userId }
        check(aliceSeen.verifiedDevices == listOf(alice!!.account().deviceId)) { "verified $aliceSeen" }
        check(aliceSeen.safetyNumber != null && !aliceSeen.identityKeyChanged) { "number $aliceSeen" }
    }

    test("unverified-device policy and identity-key acceptance") {
        check(!alice!!.allowUnverifiedCustomer()) { "customer rooms refuse unverified devices by default" }
        alice!!.setAllowUnverifiedCustomer(true)
        check(alice!!.allowUnverifiedCustomer()) { "policy kept" }
        alice!!.setAllowUnverifiedCustomer(false)
        // No key change of Bob is pending: nothing to accept.
        val e = expectError<SealroomException.InvalidInput> {
            alice!!.acceptIdentityKey(bobUserId, "0".repeat(60))
        }
        checkEq("invalid_input", e.code, "code")
        // Only an administrator of the user's (or the provider's) organisation may reset an
        // identity key; to customer Bob, Alice's account does not exist.
        val f = expectError<SealroomException.NotFound> { bob!!.resetIdentity(alice!!.account().userId) }
        checkEq("relay_not_found", f.code, "code")
    }

    test("live events: a post arrives without sync") {
        bob!!.setLiveOptions(
            LiveOptions(waitSecs = 5UL, fullSyncSecs = 3600UL, minBackoffMs = 100UL, maxBackoffMs = 1000UL),
        )
        expectError<SealroomException.InvalidInput> {
            bob!!.setLiveOptions(LiveOptions(waitSecs = 31UL, fullSyncSecs = 0UL, minBackoffMs = 100UL, maxBackoffMs = 1000UL))
        }
        // The first call catches up in full and stores the cursor; with nothing new it times out
        // empty.
        bob!!.nextEvents(2_000UL)
        val posted = alice!!.postMessage(spaceId, NewMessage(body = "Live, Bob"))
        val seen = mutableListOf<ClientEvent>()
        var calls = 0
        while (seen.none { it is ClientEvent.NewMessage && it.message.messageId == posted.messageId }) {
            check(calls++ < 5) { "no live event for the post in $seen" }
            seen += bob!!.nextEvents(60_000UL)
        }
        check(bob!!.messages(spaceId, posted.threadId).any { it.body == "Live, Bob" }) { "indexed" }
    }

    test("messages both ways") {
        val posted = alice!!.postMessage(spaceId, NewMessage(body = "Welcome, Bob"))
        val events = bob!!.sync()
        val received = events.filterIsInstance<ClientEvent.NewMessage>().map { it.message }
        check(received.any { it.body == "Welcome, Bob" && it.messageId == posted.messageId }) {
            "Bob received $received"
        }
        val reply = bob!!.postMessage(
            spaceId,
            NewMessage(threadId = posted.threadId, body = "Thanks, Alice", replyTo = posted.messageId),
        )
        alice!!.sync()
        val thread = alice!!.messages(spaceId, posted.threadId)
        checkEq(listOf("Welcome, Bob", "Thanks, Alice"), thread.map { it.body }, "thread")
        checkEq(posted.messageId, thread[1].replyTo, "reply_to")
        checkEq(reply.messageId, thread[1].messageId, "reply id")
        checkEq(bobUserId, thread[1].senderUserId, "sender")
        check(alice!!.threads(spaceId).any { it.threadId == posted.threadId && it.messages == 2UL }) {
            "thread summary"
        }
    }

    test("internal messages never reach the customer") {
        alice!!.postMessage(spaceId, NewMessage(body = "staff only", internal = true))
        bob!!.sync()
        check(bob!!.messages(spaceId, null).none { it.body == "staff only" }) { "customer saw internal" }
        check(alice!!.messages(spaceId, null).any { it.body == "staff only" && it.internal }) { "staff copy" }
    }

    test("upload a few MiB from a ByteSource with progress; download into a ByteSink; SHA-256 equal") {
        val source = RandomSource(fileSize, 42)
        val up = ProgressRecorder()
        val version = alice!!.uploadFile(spaceId, NewFile(name = "scan.bin"), fileSize.toULong(), source, up)
        checkEq(fileSize, source.sent, "bytes read from the source")
        uploadedDigest = source.digest()
        // The announced digest is the sealed piece digest (docs/format.md, "Content digest"),
        // over the sealed bytes: not the plaintext's (its value against the bytes sent is
        // checked in tests/node/client.test.mjs and tests/tests/client_files_tamper.rs; the
        // download below checks it).
        check(Regex("[0-9a-f]{64}").matches(version.digest)) { "digest ${version.digest}" }
        check(source.plaintextPieceDigest() != version.digest) { "the plaintext's piece digest was announced" }
        checkEq(1UL, version.version, "version")
        checkEq(fileSize.toULong(), version.size, "size")
        check(up.calls.isNotEmpty()) { "no upload progress" }
        check(up.calls.zipWithNext().all { (a, b) -> b.first >= a.first }) { "upload progress goes back" }
        checkEq(up.calls.last().second, up.calls.last().first, "upload progress ends at total")
        check(source.largestPiece <= 1 shl 20) { "source pieces are bounded: ${source.largestPiece}" }
        uploadedFileId = version.fileId

        val events = bob!!.sync()
        check(events.any { it is ClientEvent.NewFile && it.fileId == uploadedFileId }) { "NewFile in $events" }
        val sink = HashSink()
        val down = ProgressRecorder()
        val got = bob!!.downloadFile(spaceId, uploadedFileId, sink, down)
        checkEq(fileSize, sink.received, "bytes received")
        checkEq(uploadedDigest, sink.digest(), "SHA-256 of the download")
        checkEq("scan.bin", got.name, "name")
        check(down.calls.isNotEmpty() && down.calls.last().first == down.calls.last().second) {
            "download progress ${down.calls.takeLast(3)}"
        }
        check(sink.largestPiece <= 8 shl 20) { "sink pieces are bounded: ${sink.largestPiece}" }
        check(bob!!.files(spaceId).any { it.fileId == uploadedFileId && it.latest }) { "file listed" }
        checkEq(1, bob!!.documents(spaceId).size, "documents")
    }

    test("download_range returns exactly the requested plaintext bytes") {
        val whole = HashSink(keep = Int.MAX_VALUE)
        bob!!.downloadFile(spaceId, uploadedFileId, whole, null)
        val all = whole.kept.toByteArray()
        val offset = 1_000_000L
        val len = 70_000L
        val part = HashSink(keep = Int.MAX_VALUE)
        bob!!.downloadRange(spaceId, uploadedFileId, offset.toULong(), len.toULong(), part, null)
        val expected = all.copyOfRange(offset.toInt(), (offset + len).toInt())
        check(expected.contentEquals(part.kept.toByteArray())) { "range bytes differ (${part.received} received)" }
    }

    test("a second version of the document arrives as NewVersion") {
        val first = alice!!.files(spaceId).first { it.fileId == uploadedFileId }
        val text = "version two of the scan\n".toByteArray()
        val v2 = alice!!.uploadFile(
            spaceId,
            NewFile(name = "scan-v2.txt", documentId = first.documentId),
            text.size.toULong(),
            BytesSource(text),
            null,
        )
        checkEq(2UL, v2.version, "version")
        val events = bob!!.sync()
        check(events.any { it is ClientEvent.NewVersion && it.fileId == v2.fileId && it.version == 2UL }) {
            "NewVersion in $events"
        }
        val doc = bob!!.documents(spaceId).single()
        checkEq(listOf(1UL, 2UL), doc.versions.map { it.version }, "versions")
        checkEq(v2.fileId, doc.latest.fileId, "latest")
        val sink = HashSink(keep = 1024)
        bob!!.downloadFile(spaceId, v2.fileId, sink, null)
        check(text.contentEquals(sink.kept.toByteArray())) { "version 2 bytes" }
    }

    test("a file refused by the space's policy gives InvalidInput (code policy)") {
        alice!!.setFilePolicy(spaceId, FilePolicy(allowedMediaTypes = listOf("application/pdf")))
        checkEq(listOf("application/pdf"), alice!!.filePolicy(spaceId).allowedMediaTypes, "policy")
        val text = "just some plain text, not a PDF\n".repeat(10).toByteArray()
        val e = expectError<SealroomException.InvalidInput> {
            alice!!.uploadFile(spaceId, NewFile(name = "contract.pdf"), text.size.toULong(), BytesSource(text), null)
        }
        checkEq("policy", e.code, "code")
        alice!!.setFilePolicy(spaceId, FilePolicy(allowedMediaTypes = emptyList()))
    }

    test("a failing ByteSource gives Storage (code io)") {
        val e = expectError<SealroomException.Storage> {
            alice!!.uploadFile(spaceId, NewFile(name = "gone.bin"), 1000UL, FailingSource(), null)
        }
        checkEq("io", e.code, "code")
        check(e.detail.contains("the source went away")) { "detail: ${e.detail}" }
    }

    test("exceeding the space quota gives TooLarge") {
        val size = quota - fileSize + 1024 * 1024
        val e = expectError<SealroomException.TooLarge> {
            alice!!.uploadFile(spaceId, NewFile(name = "huge.bin"), size.toULong(), RandomSource(size, 7), null)
        }
        checkEq("relay_too_large", e.code, "code")
    }

    test("recovery backup: short and wrong passphrases are InvalidInput; the right one restores") {
        val short = expectError<SealroomException.InvalidInput> { bob!!.createRecoveryBackup("short") }
        checkEq("invalid_input", short.code, "code")
        check(!bob!!.hasRecoveryBackup()) { "no backup yet" }
        val made = bob!!.createRecoveryBackup("kotlin recovery passphrase")
        check(made.keys >= 1UL && made.messages >= 1UL) { "backup $made" }
        check(bob!!.hasRecoveryBackup()) { "backup stored" }
        val wrong = expectError<SealroomException.InvalidInput> {
            bob!!.restoreRecoveryBackup("not the passphrase!")
        }
        checkEq("wrong_passphrase", wrong.code, "code")
        val restored = bob!!.restoreRecoveryBackup("kotlin recovery passphrase")
        checkEq(made.keys, restored.keys, "keys")
        bob!!.deleteRecoveryBackup()
        check(!bob!!.hasRecoveryBackup()) { "backup deleted" }
    }

    test("classification labels, the space policy and a four-eyes hold") {
        val policy = SpacePolicy(
            labels = listOf(
                LabelRule(classification = "public", customerDownload = true, scanRequired = false, fourEyes = false),
                LabelRule(classification = "confidential", customerDownload = true, scanRequired = false, fourEyes = false),
                LabelRule(classification = "restricted", customerDownload = true, scanRequired = false, fourEyes = true),
            ),
            default = "confidential",
        )
        alice!!.setSpacePolicy(spaceId, policy)
        bob!!.sync()
        checkEq(policy, bob!!.spacePolicy(spaceId), "the policy at the customer")
        val text = "labelled text\n".toByteArray()
        val pub = alice!!.uploadFile(
            spaceId, NewFile(name = "brochure.txt", classification = "public"), text.size.toULong(), BytesSource(text), null,
        )
        checkEq("public", pub.classification, "label")
        val held = alice!!.uploadFile(
            spaceId, NewFile(name = "terms.txt", classification = "restricted"), text.size.toULong(), BytesSource(text), null,
        )
        bob!!.sync()
        val listed = bob!!.files(spaceId)
        checkEq("public", listed.first { it.fileId == pub.fileId }.classification, "label at the customer")
        checkEq(FileAccess.OPEN, listed.first { it.fileId == pub.fileId }.access, "public access")
        checkEq(FileAccess.AWAITING_RELEASE, listed.first { it.fileId == held.fileId }.access, "held access")
        val refused = expectError<SealroomException.Forbidden> {
            bob!!.downloadFile(spaceId, held.fileId, HashSink(), null)
        }
        checkEq("awaiting_release", refused.code, "code")
        val self = expectError<SealroomException.Forbidden> { alice!!.approveRelease(spaceId, held.fileId) }
        checkEq("self_release", self.code, "code")
        val notStaff = expectError<SealroomException.Forbidden> { bob!!.setSpacePolicy(spaceId, policy) }
        checkEq("not_staff", notStaff.code, "code")
    }

    test("audit export: wire's AuditQuery with a page size; CSV header plus that many rows") {
        val csv = String(alice!!.auditExport(AuditQuery(limit = 2u), AuditFormat.CSV)).trim().lines()
        checkEq(3, csv.size, "header and two records")
    }

    test("scan state: an ordinary upload needs none; only an infected or failed one is overridden") {
        val text = "nothing to scan here\n".toByteArray()
        val plain = alice!!.uploadFile(
            spaceId, NewFile(name = "notice.txt", classification = "public"), text.size.toULong(), BytesSource(text), null,
        )
        checkEq(ScanState.NotRequired, plain.scan, "scan state at the uploader")
        bob!!.sync()
        val listed = bob!!.files(spaceId).first { it.fileId == plain.fileId }
        checkEq(ScanState.NotRequired, listed.scan, "scan state at the customer")
        checkEq(FileAccess.OPEN, listed.access, "access at the customer")
        val notOverridable = expectError<SealroomException.Forbidden> { alice!!.overrideScan(spaceId, plain.fileId) }
        checkEq("not_overridable", notOverridable.code, "code")
        val customer = expectError<SealroomException.Forbidden> { bob!!.setSpaceScanner(spaceId, null) }
        checkEq("relay_forbidden", customer.code, "code")
    }

    test("revokeDevice: a lost second device is refused, removed by commit, reads nothing later") {
        val tablet = SealroomClient.open(relay, dir("bob-tablet"), newKey())
        val request = tablet.requestDeviceLink(bobUserId, "bob-tablet")
        bob!!.approveDevice(request.requestId, request.publicKey)
        val linked = tablet.finishDeviceLink()
        check(linked != null) { "the approved tablet finishes its link" }
        val tabletId = linked!!.deviceId
        alice!!.addMember(spaceId, bobUserId)
        check(tablet.sync().any { it is ClientEvent.JoinedSpace && it.spaceId == spaceId }) { "tablet joined" }
        bob!!.sync()

        checkEq(1u, bob!!.revokeDevice(tabletId), "rooms the revoking device removed it from")
        val refused = expectError<SealroomException.Unauthenticated> { tablet.sync() }
        checkEq("relay_unauthenticated", refused.code, "code")
        val removed = alice!!.sync()
        check(removed.any { it is ClientEvent.MemberRemoved && it.deviceId == tabletId }) {
            "staff see the tablet removed: $removed"
        }
        alice!!.postMessage(spaceId, NewMessage(body = "after the tablet was revoked"))
        val events = bob!!.sync()
        check(events.filterIsInstance<ClientEvent.NewMessage>().any { it.message.body == "after the tablet was revoked" }) {
            "Bob's phone still reads: $events"
        }
        expectError<SealroomException.Unauthenticated> { tablet.sync() }
        check(tablet.messages(spaceId, null).none { it.body == "after the tablet was revoked" }) { "the tablet read it" }
        check(bob!!.myDevices().any { it.deviceId == tabletId && it.status == DeviceState.REVOKED }) { "listed as revoked" }
        val security = bob!!.securityEvents(0UL)
        check(security.any { it.kind == SecurityEventKind.DEVICE_REVOKED && it.deviceId == tabletId }) { "security events $security" }
        tablet.close()
    }

    test("removal: the removed member is told and cannot read or post later messages") {
        alice!!.removeMember(spaceId, bobUserId)
        alice!!.postMessage(spaceId, NewMessage(body = "after Bob left"))
        val events = bob!!.sync()
        check(events.any { it is ClientEvent.RemovedFromSpace && it.spaceId == spaceId }) {
            "RemovedFromSpace in $events"
        }
        checkEq(listOf<ClientEvent>(), bob!!.sync(), "a second sync after removal")
        check(bob!!.messages(spaceId, null).none { it.body == "after Bob left" }) { "removed member read it" }
        expectError<SealroomException.Forbidden> {
            bob!!.postMessage(spaceId, NewMessage(body = "still here?"))
        }
        check(alice!!.space(spaceId).members.none { it.userId == bobUserId }) { "still a member" }
    }

    test("state persists in the directory: reopen with the right key") {
        val account = alice!!.account()
        alice!!.close()
        alice = null
        val c = SealroomClient.open(relay, dir("alice"), aliceKey)
        alice = c
        check(c.isRegistered()) { "registered after reopen" }
        checkEq(account, c.account(), "account")
        check(c.messages(spaceId, null).any { it.body == "Thanks, Alice" }) { "messages kept" }
        check(c.files(spaceId).any { it.fileId == uploadedFileId }) { "files kept" }
        c.postMessage(spaceId, NewMessage(body = "still works after reopen"))
    }

    test("a wrong storage key gives Storage") {
        bob!!.close()
        bob = null
        val e = expectError<SealroomException.Storage> { SealroomClient.open(relay, dir("bob"), newKey()) }
        check(e.code == "storage" || e.code.startsWith("room_")) { "code ${e.code}" }
    }

    test("an unregistered client gives InvalidInput (not_registered)") {
        val c = SealroomClient.open(relay, dir("fresh"), newKey())
        val e = expectError<SealroomException.InvalidInput> { c.spaces() }
        checkEq("not_registered", e.code, "code")
        c.close()
    }

    test("a malformed relay answer gives Corrupt") {
        val fake = fakeRelay(200, "this is not JSON")
        try {
            val c = SealroomClient.open(url(fake), dir("fake-corrupt"), newKey())
            val e = expectError<SealroomException.Corrupt> {
                c.bootstrap("token", "Org", "User", null, "phone")
            }
            checkEq("protocol", e.code, "code")
            c.close()
        } finally {
            fake.stop(0)
        }
    }

    test("a relay failure (500) gives Internal") {
        val fake = fakeRelay(500, """{"code":"internal","message":"internal error"}""")
        try {
            val c = SealroomClient.open(url(fake), dir("fake-internal"), newKey())
            val e = expectError<SealroomException.Internal> {
                c.bootstrap("token", "Org", "User", null, "phone")
            }
            checkEq("relay_internal", e.code, "code")
            c.close()
        } finally {
            fake.stop(0)
        }
    }

    alice?.close()
    bob?.close()
    println("1..$testNumber")
    println("# pass $passed")
    println("# fail $failed")
    exitProcess(if (failed == 0) 0 else 1)
}
