/**
 * Measurement (not a test; it asserts nothing about speed or memory): uploads and downloads one
 * large pseudo-random file through the Kotlin bindings against a real relay, streaming through
 * ByteSource/ByteSink, and prints the throughput and the process's peak resident memory
 * (VmHWM, JVM + Rust library) next to the file size. Run on a small JVM heap
 * (scripts/test-kotlin.sh runs it with -Xmx64m) it shows that the file never sits in memory.
 * It does check that the downloaded bytes hash to what was uploaded, and exits non-zero if not.
 *
 * Environment: SEALROOM_RELAY_URL, SEALROOM_SETUP_TOKEN, SEALROOM_TEST_DIR,
 * SEALROOM_LARGE_FILE_MIB.
 */

import java.io.File
import java.security.MessageDigest
import kotlin.system.exitProcess
import sealroom.*
import sealroom.core.*
import sealroom.wire.*

private fun peakRssMib(): Long {
    val line = File("/proc/self/status").readLines().firstOrNull { it.startsWith("VmHWM:") } ?: return -1
    return line.split(Regex("\\s+"))[1].toLong() / 1024
}

private fun hexOf(bytes: ByteArray) = bytes.joinToString("") { "%02x".format(it) }

private class Generator(private val size: Long) : ByteSource {
    private val random = java.util.Random(1)
    val sha = MessageDigest.getInstance("SHA-256")
    private var sent = 0L

    override fun read(max: UInt): ByteArray {
        val n = minOf(max.toLong(), size - sent).toInt()
        if (n <= 0) return ByteArray(0)
        val piece = ByteArray(n)
        random.nextBytes(piece)
        sha.update(piece)
        sent += n
        return piece
    }
}

private class Hasher : ByteSink {
    val sha = MessageDigest.getInstance("SHA-256")
    var received = 0L

    override fun write(data: ByteArray) {
        sha.update(data)
        received += data.size
    }
}

fun main() {
    val relay = System.getenv("SEALROOM_RELAY_URL")!!
    val token = System.getenv("SEALROOM_SETUP_TOKEN")!!
    val work = File(System.getenv("SEALROOM_TEST_DIR")!!)
    val mib = System.getenv("SEALROOM_LARGE_FILE_MIB")!!.toLong()
    val size = mib * 1024 * 1024
    val key = ByteArray(32).also { java.security.SecureRandom().nextBytes(it) }

    val client = SealroomClient.open(relay, File(work, "large").path, key)
    client.bootstrap(token, "Provider", "Measure", null, "bench")
    val org = client.createCustomerOrg("Bench customer")
    val space = client.createSpace(org.orgId, false)
    val rssBefore = peakRssMib()

    val source = Generator(size)
    var t = System.nanoTime()
    val version = client.uploadFile(space.spaceId, NewFile(name = "large.bin"), size.toULong(), source, null)
    val upSecs = (System.nanoTime() - t) / 1e9
    val sent = hexOf(source.sha.digest())

    val sink = Hasher()
    t = System.nanoTime()
    client.downloadFile(space.spaceId, version.fileId, sink, null)
    val downSecs = (System.nanoTime() - t) / 1e9
    val got = hexOf(sink.sha.digest())
    client.close()

    println("# large file: $mib MiB, JVM max heap ${Runtime.getRuntime().maxMemory() / (1024 * 1024)} MiB")
    println("# upload:   %.1f s, %.1f MiB/s".format(upSecs, mib / upSecs))
    println("# download: %.1f s, %.1f MiB/s".format(downSecs, mib / downSecs))
    println("# peak RSS (VmHWM): before transfers $rssBefore MiB, after ${peakRssMib()} MiB")
    if (sent != got || sink.received != size) {
        println("# digest mismatch: sent $sent, got $got (${sink.received} bytes)")
        exitProcess(1)
    }
    println("# digests match")
}
