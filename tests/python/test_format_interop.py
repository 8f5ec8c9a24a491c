"""Interop: a second, independent decryptor (sealed_format.py, written from docs/format.md on the
Python `cryptography` package) opens every test vector of both format versions and files the
SDK seals during the test (the native `sealfile` binary, target/debug/sealfile).

Run: python3 tests/python/test_format_interop.py (scripts/test.sh runs it in its own step, with
the pinned `cryptography` of target/py). Prints "# pass N" / "# fail N" at the end. Without the
`cryptography` package it skips with a message, except under CI=true, where that fails.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "core" / "tests" / "vectors"

try:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sealed_format as sf
except ImportError as e:  # the cryptography package is missing
    if os.environ.get("CI") == "true":
        raise
    print(f"SKIP: {e} (scripts/setup.sh installs the pinned cryptography into target/py)")
    print("# pass 0\n# fail 0")
    sys.exit(0)


def u64(value):
    """A vector's u64: a JSON number (v1) or a decimal string (v2)."""
    return None if value is None else int(value)


def expected_metadata(m):
    return sf.Metadata(m["name"], m["media_type"], m["classification"], u64(m["created"]),
                       u64(m["length"]))


def cases(sub):
    paths = sorted((VECTORS / sub).glob("*.json"))
    return [(p, json.loads(p.read_text())) for p in paths]


class Vectors(unittest.TestCase):
    def check_dir(self, sub, version, at_least):
        found = cases(sub)
        self.assertGreaterEqual(len(found), at_least, f"vectors in {sub}")
        outcomes = {"ok": 0, "fail": 0}
        for path, case in found:
            with self.subTest(vector=path.name):
                self.assertEqual(path.stem, case["name"])
                key = bytes.fromhex(case["file_key"])
                sealed = bytes.fromhex(case["sealed"])
                if len(sealed) > 8 and sealed[:8] == sf.MAGIC and sealed[8] in (1, 2):
                    self.assertEqual(sealed[8], version, "version byte of a well-formed case")
                dec = sf.Decryptor(key, sealed)
                if case["expected"] == "ok":
                    meta, plaintext = dec.open()
                    self.assertEqual(meta, expected_metadata(case["metadata"]))
                    self.assertEqual(plaintext, bytes.fromhex(case["plaintext"]))
                    outcomes["ok"] += 1
                else:
                    with self.assertRaises(sf.FormatError) as caught:
                        dec.open()
                    self.assertEqual(caught.exception.name, case["expected"])
                    if "released" in case:
                        # What was released before the failure is a prefix of `released`.
                        allowed = bytes.fromhex(case["released"])
                        self.assertEqual(len(allowed), int(case["max_released"]))
                        self.assertLessEqual(len(dec.released), len(allowed))
                        self.assertEqual(bytes(dec.released), allowed[:len(dec.released)])
                    outcomes["fail"] += 1
        print(f"{sub}: {outcomes['ok']} valid and {outcomes['fail']} failing vectors agree",
              file=sys.stderr)

    def test_v1_vectors(self):
        self.check_dir(".", 1, 44)

    def test_v2_vectors(self):
        self.check_dir("v2", 2, 58)

    def test_every_vector_has_its_own_key_and_salt(self):
        for sub in (".", "v2"):
            keys, salts = set(), set()
            for path, case in cases(sub):
                keys.add(case["file_key"])
                if "salt" in case:
                    salts.add(case["salt"])
            with self.subTest(sub=sub):
                self.assertEqual(len(keys), len(cases(sub)), f"distinct file keys in {sub}")
                self.assertEqual(len(salts), len(cases(sub)), f"distinct salts in {sub}")


class ContentDigest(unittest.TestCase):
    """The piece digests of docs/format.md ("Content digest", both kinds), computed by
    content_digest.py from the text, agree with every case of the vectors the SDK checks too."""

    def test_piece_digest_vectors(self):
        import content_digest
        for kind, path in content_digest.VECTORS.items():
            with self.subTest(kind=kind):
                data = json.loads(path.read_text())
                self.assertGreaterEqual(content_digest.check(data, kind), 14)


class SealedBySdk(unittest.TestCase):
    """Files the SDK seals now (native sealfile: format v2, declared length) open here."""

    def test_sdk_sealed_files_open(self):
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        binary = target / "debug" / "sealfile"
        self.assertTrue(binary.exists(),
                        f"{binary} not built; run cargo build -p sealroom-tests --bins")
        with tempfile.TemporaryDirectory() as tmp:
            # 4 MiB + 1 pads to 4 MiB + 128 KiB = 66 chunks, 65 of them data: chunk 65 is a
            # padding-only chunk (Padmé rounds by more than 64 KiB only from 4 MiB on, so no
            # vector is that big).
            for size in (0, 1, 255, 256, 257, 65535, 65536, 65537, 3 * 65536 + 1234,
                         4 * 1024 * 1024 + 1):
                with self.subTest(size=size):
                    key = os.urandom(32)
                    plaintext = os.urandom(size)
                    src, out = Path(tmp) / "in", Path(tmp) / "out.sealed"
                    src.write_bytes(plaintext)
                    subprocess.run([str(binary), "seal", key.hex(), "résumé/../x.pdf",
                                    "application/pdf", "confidential", "1700000123", str(src),
                                    str(out)], check=True)
                    sealed = out.read_bytes()
                    self.assertEqual(sealed[8], 2, "new files are written as version 2")
                    meta, back = sf.open_sealed(key, sealed)
                    self.assertEqual(back, plaintext)
                    self.assertEqual(meta, sf.Metadata("résumé/../x.pdf", "application/pdf",
                                                       "confidential", 1700000123, size))
                    if size == 4 * 1024 * 1024 + 1:
                        header = 75 + int.from_bytes(sealed[73:75], "big")
                        padded = 4 * 1024 * 1024 + 128 * 1024
                        self.assertEqual(sf.padme(size), padded)
                        self.assertEqual(len(sealed) - header, padded + 16 * 66 + 24)
                        # A bit flipped in the first padding chunk (index 65) is refused.
                        bad = bytearray(sealed)
                        bad[header + 65 * sf.SEALED_CHUNK + 7] ^= 1
                        with self.assertRaises(sf.FormatError) as caught:
                            sf.open_sealed(key, bytes(bad))
                        self.assertEqual(caught.exception.name, "decrypt")
                    # Another key and a flipped payload bit both fail as the spec says.
                    with self.assertRaises(sf.FormatError) as caught:
                        sf.open_sealed(os.urandom(32), sealed)
                    self.assertEqual(caught.exception.name, "decrypt")
                    flipped = bytearray(sealed)
                    flipped[-30] ^= 1
                    with self.assertRaises(sf.FormatError) as caught:
                        sf.open_sealed(key, bytes(flipped))
                    self.assertEqual(caught.exception.name, "decrypt")


def agrees(module, sub):
    """Whether decryptor `module` agrees with every vector in `sub` (error names included)."""
    for _, case in cases(sub):
        dec = module.Decryptor(bytes.fromhex(case["file_key"]), bytes.fromhex(case["sealed"]))
        try:
            dec.open()
            got = "ok"
        except module.FormatError as e:
            got = e.name
        if got != case["expected"]:
            return False
    return True


# Each MUST of docs/format.md a decryptor can break, switched off in a copy of sealed_format.py,
# with the versions whose vectors must then disagree.
RULES = {
    "reserved flag bits": ('if flags & ~0x01:', 'if False:', (".", "v2")),
    "length 0 when undeclared": ('if not flags & 0x01 and length != 0:', 'if False:', (".", "v2")),
    "string limits": ('if n > limit or at + n', 'if at + n', (".", "v2")),
    # (A string running past padded_metadata has its vectors too, but here the next length
    # read or the bucket check fails as well, so switching off that one check shows nothing.)
    "UTF-8": ('errors="strict"', 'errors="replace"', (".", "v2")),
    "zero metadata padding": ('if any(padded[at:]):', 'if False:', (".", "v2")),
    "smallest bucket": ('if min(b for b in BUCKETS if b >= at) != len(padded):', 'if False:',
                        (".", "v2")),
    "v1 declared length drives the layout": ('if meta.length is not None:\n            # Step 7',
                                             'if False:\n            # Step 7', (".",)),
    "v1 no trailing data": ('fail("decrypt")  # step 9: trailing data', 'pass', (".",)),
    "short input not a magic prefix": ('if head != MAGIC[:len(head)]:',
                                       'if len(head) == 8 and head != MAGIC:', (".", "v2")),
    "metadata_len bucket": ('if metadata_len not in METADATA_LENS:', 'if False:', (".", "v2")),
    "v2 key commitment": ('if not hmac.compare_digest(', 'if False and not hmac.compare_digest(',
                          ("v2",)),
    "v2 no trailing data (declared)": ('fail("decrypt")  # trailing data', 'pass', ("v2",)),
    "v2 padding is zero": ('if any(plain[data_bytes:]):', 'if False:', ("v2",)),
    "v2 end chunk says L": ('if struct.unpack(">Q", end)[0] != length:', 'if False:', ("v2",)),
    "v2 Padme size": ('if not is_padme_value(padded):', 'if False:', ("v2",)),
}


class EveryRuleHasAVector(unittest.TestCase):
    """Switching off any one rule in the Python decryptor makes a vector of each version it
    applies to disagree: the vectors check every MUST, not only the happy path."""

    def test_each_rule_switched_off_is_caught(self):
        import types
        source = Path(sf.__file__).read_text()
        for rule, (old, new, subs) in RULES.items():
            with self.subTest(rule=rule):
                self.assertIn(old, source)
                module = types.ModuleType(f"mutant_{len(rule)}")
                exec(compile(source.replace(old, new, 1), "mutant", "exec"), module.__dict__)
                for sub in subs:
                    self.assertFalse(agrees(module, sub), f"{rule}: no vector in {sub} notices")


class Padme(unittest.TestCase):
    def test_examples_from_the_spec(self):
        self.assertEqual(sf.padme(0), 256)
        self.assertEqual(sf.padme(257), 272)
        self.assertEqual(sf.padme(65537), 67584)
        self.assertEqual(sf.padme(1000), 1024)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    print(f"# pass {result.testsRun - failed}\n# fail {failed}")
    sys.exit(0 if failed == 0 else 1)
