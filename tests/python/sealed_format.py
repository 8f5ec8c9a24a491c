"""A decryptor for the Sealroom sealed-file format, versions 1 and 2, written from
docs/format.md alone (not from the Rust code), on the Python `cryptography` package.

It reads the whole input from a byte string but walks it the way the specification's streaming
decryptor does (never looking at the total size), and records the plaintext it would have
released before an error, so a test can compare that with a vector's `released` field.
Section names below are those of docs/format.md.
"""

import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"SEALROOM"
C = 65536  # chunk size
SEALED_CHUNK = C + 16
METADATA_LENS = (528, 1040, 2064)
BUCKETS = (512, 1024, 2048)
NAME_MAX, MEDIA_TYPE_MAX, CLASSIFICATION_MAX = 1024, 255, 255
END_CHUNK = 24  # Seal of u64(L)
KIND_DATA, KIND_END, KIND_PADDING = 0x00, 0x01, 0x02
U64_MAX = 2**64 - 1


class FormatError(Exception):
    """A decryption failure; `name` is the error name of the table in "Error names"."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name


def fail(name):
    raise FormatError(name)


def hkdf(salt, file_key, info, length=32):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(file_key)


def nonce(i, last_or_kind):
    """`0x00 0x00 0x00 || u64(i) || flag` (v1 last-chunk flag, v2 chunk kind)."""
    return b"\x00\x00\x00" + struct.pack(">Q", i) + bytes([last_or_kind])


def aead_open(key, nonce_bytes, aad, sealed):
    """ChaCha20-Poly1305 open; None when the tag does not verify."""
    try:
        return ChaCha20Poly1305(key).decrypt(nonce_bytes, sealed, aad)
    except InvalidTag:
        return None


def padme(length):
    """Padmé of "Payload (v2)": the padded length of an L-byte plaintext."""
    n = max(length, 256)
    e = n.bit_length() - 1  # floor(log2(n))
    s = e.bit_length()  # floor(log2(E)) + 1
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def is_padme_value(p):
    return p >= 256 and padme(p) == p


class Metadata:
    def __init__(self, name, media_type, classification, created, length):
        self.name = name
        self.media_type = media_type
        self.classification = classification
        self.created = created
        self.length = length  # None when not declared

    def __eq__(self, other):
        return vars(self) == vars(other)

    def __repr__(self):
        return f"Metadata({vars(self)})"


def parse_metadata(padded):
    """"Metadata": every violation is invalid_header."""
    if len(padded) < 23:
        fail("invalid_header")
    flags = padded[0]
    if flags & ~0x01:
        fail("invalid_header")  # reserved flag bit set
    (length,) = struct.unpack(">Q", padded[1:9])
    (created,) = struct.unpack(">Q", padded[9:17])
    if not flags & 0x01 and length != 0:
        fail("invalid_header")  # length must be 0 when not declared
    at = 17
    strings = []
    for limit in (NAME_MAX, MEDIA_TYPE_MAX, CLASSIFICATION_MAX):
        if at + 2 > len(padded):
            fail("invalid_header")
        (n,) = struct.unpack(">H", padded[at:at + 2])
        at += 2
        if n > limit or at + n > len(padded):
            fail("invalid_header")  # over its limit, or runs past the padded metadata
        try:
            strings.append(padded[at:at + n].decode("utf-8", errors="strict"))
        except UnicodeDecodeError:
            fail("invalid_header")
        at += n
    if any(padded[at:]):
        fail("invalid_header")  # non-zero padding
    # The bucket must be the smallest that fits the encoding (one encoding per plaintext).
    if min(b for b in BUCKETS if b >= at) != len(padded):
        fail("invalid_header")
    return Metadata(*strings, created, length if flags & 0x01 else None)


class Decryptor:
    """Opens `data` under `file_key`; `released` collects plaintext as it would be released."""

    def __init__(self, file_key, data):
        self.key = file_key
        self.data = data
        self.at = 0
        self.released = bytearray()

    def left(self):
        return len(self.data) - self.at

    def take(self, n):
        if self.left() < n:
            fail("truncated")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def open(self):
        """Returns (metadata, plaintext) or raises FormatError."""
        d = self.data
        # "Version dispatch" / step 1.
        head = d[:8]
        if head != MAGIC[:len(head)]:
            fail("not_sealed")
        if len(d) < 9:
            fail("truncated")
        version = d[8]
        if version == 1:
            return self.open_v1()
        if version == 2:
            return self.open_v2()
        fail("unsupported_version")

    def header(self, prefix_len, labels, commitment_label=None):
        """Steps 3-6: returns (metadata, payload_key)."""
        if len(self.data) < prefix_len:
            fail("truncated")
        (metadata_len,) = struct.unpack(">H", self.data[prefix_len - 2:prefix_len])
        if metadata_len not in METADATA_LENS:
            fail("invalid_header")  # before reading or allocating the block
        self.at = prefix_len
        block = self.take(metadata_len)
        prefix = self.data[:prefix_len]
        salt = prefix[9:41]
        if commitment_label is not None:
            # "Key commitment": checked in constant time before anything is decrypted.
            if not hmac.compare_digest(hkdf(salt, self.key, commitment_label), prefix[41:73]):
                fail("decrypt")
        metadata_key = hkdf(salt, self.key, labels[0])
        payload_key = hkdf(salt, self.key, labels[1])
        padded = aead_open(metadata_key, bytes(12), prefix, block)
        if padded is None:
            fail("decrypt")
        return parse_metadata(padded), payload_key

    # ---- version 1 ------------------------------------------------------------------------

    def open_v1(self):
        meta, key = self.header(
            43, (b"sealroom/file/v1/metadata-key", b"sealroom/file/v1/payload-key"))
        if meta.length is not None:
            # Step 7, declared length: the layout follows from L.
            n = max(1, -(-meta.length // C))
            for i in range(n):
                final = i == n - 1
                size = meta.length - (n - 1) * C + 16 if final else SEALED_CHUNK
                plain = aead_open(key, nonce(i, 1 if final else 0), b"", self.take(size))
                if plain is None:
                    fail("decrypt")
                self.released += plain
        else:
            i = 0
            while True:
                if self.left() > SEALED_CHUNK:
                    plain = aead_open(key, nonce(i, 0), b"", self.take(SEALED_CHUNK))
                    if plain is None:
                        fail("decrypt")
                    self.released += plain
                    i += 1
                    continue
                # The remaining (held-back) bytes are the final chunk.
                if self.left() < 16:
                    fail("truncated")
                if self.left() == 16 and i > 0:
                    fail("decrypt")  # empty final chunk only for an empty file
                plain = aead_open(key, nonce(i, 1), b"", self.take(self.left()))
                if plain is None:
                    fail("decrypt")
                self.released += plain
                break
        if self.left() > 0:
            fail("decrypt")  # step 9: trailing data
        return meta, bytes(self.released)

    # ---- version 2 ------------------------------------------------------------------------

    def open_v2(self):
        meta, key = self.header(
            75, (b"sealroom/file/v2/metadata-key", b"sealroom/file/v2/payload-key"),
            b"sealroom/file/v2/key-commitment")
        if meta.length is not None:
            self.payload_v2_declared(key, meta.length)
        else:
            self.payload_v2_undeclared(key)
        return meta, bytes(self.released)

    def open_chunk(self, key, i, kind, sealed):
        plain = aead_open(key, nonce(i, kind), b"", sealed)
        if plain is None:
            fail("decrypt")
        return plain

    def payload_v2_declared(self, key, length):
        p = padme(length)
        if p > U64_MAX:
            fail("invalid_header")  # padded size does not fit in 64 bits
        m = -(-p // C)
        d = max(1, -(-length // C))
        for i in range(m):
            size = (p - (m - 1) * C if i == m - 1 else C) + 16
            kind = KIND_DATA if i < d else KIND_PADDING
            plain = self.open_chunk(key, i, kind, self.take(size))
            data_bytes = max(0, min(C, length - C * i)) if kind == KIND_DATA else 0
            if any(plain[data_bytes:]):
                fail("invalid_payload")
            self.released += plain[:data_bytes]
        end = self.open_chunk(key, m, KIND_END, self.take(END_CHUNK))
        if struct.unpack(">Q", end)[0] != length:
            fail("invalid_payload")
        if self.left() > 0:
            fail("decrypt")  # trailing data

    def payload_v2_undeclared(self, key):
        i = 0
        padded = 0
        data_chunks = 0
        seen_padding = False
        held = None  # plaintext of the last data chunk, not yet released

        unreleased = bytearray()  # step 3: all data stays back until the end chunk verified

        def open_either(sealed, last=False):
            nonlocal seen_padding, data_chunks, held
            if not seen_padding:
                plain = aead_open(key, nonce(i, KIND_DATA), b"", sealed)
                if plain is not None:
                    if held is not None:
                        # The held chunk was all data: released (step 2), or at the end of the
                        # input kept until the end chunk verified (step 3).
                        (unreleased if last else self.released).extend(held)
                    held = plain
                    data_chunks += 1
                    return
                if i == 0:
                    fail("decrypt")
            plain = aead_open(key, nonce(i, KIND_PADDING), b"", sealed)
            if plain is None:
                fail("decrypt")
            if any(plain):
                fail("invalid_payload")
            seen_padding = True

        # Step 1: while more than one full chunk plus the end chunk is left.
        while self.left() > SEALED_CHUNK + END_CHUNK:
            open_either(self.take(SEALED_CHUNK))
            padded += C
            i += 1
        # Step 3: the rest is the last padded chunk and the end chunk.
        r = self.left()
        if r < 16 + 1 + END_CHUNK:
            fail("truncated")
        padded += r - END_CHUNK - 16
        if not is_padme_value(padded):
            fail("invalid_payload")
        open_either(self.take(r - END_CHUNK), last=True)
        i += 1
        end = self.open_chunk(key, i, KIND_END, self.take(END_CHUNK))
        (length,) = struct.unpack(">Q", end)
        # Step 4.
        if padme(length) != padded or max(1, -(-length // C)) != data_chunks:
            fail("invalid_payload")
        keep = length - C * (data_chunks - 1)
        if any(held[keep:]):
            fail("invalid_payload")
        self.released += unreleased + held[:keep]


def open_sealed(file_key, data):
    """Opens a sealed file: (metadata, plaintext), or raises FormatError."""
    return Decryptor(file_key, data).open()
