"""The content digest of docs/format.md ("Content digest"), written from the text alone, and
the generator of its test vectors (core/tests/vectors/content_digest/pieces.json).

    python3 tests/python/content_digest.py           # rewrites the vectors
"""

import hashlib
import json
import pathlib
import sys

PIECE = 4 * 1024 * 1024
LABEL = b"sealroom/content-digest/v1/sha256-4mib-pieces"
ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = ROOT / "core" / "tests" / "vectors" / "content_digest" / "pieces.json"


def pieces_digest(plaintext: bytes) -> bytes:
    root = hashlib.new("sha512_256")
    root.update(LABEL)
    for start in range(0, len(plaintext), PIECE):
        root.update(hashlib.sha256(plaintext[start:start + PIECE]).digest())
    root.update(len(plaintext).to_bytes(8, "big"))
    return root.digest()


def pattern(start: int, length: int) -> bytes:
    """Bytes start..start+length of the stream whose byte i is i mod 251."""
    period = bytes(range(251))
    reps = (start % 251 + length) // 251 + 2
    stream = period * reps
    return stream[start % 251:start % 251 + length]


def plaintext_of(segments) -> bytes:
    return b"".join(pattern(int(s["from"]), int(s["length"])) for s in segments)


def seg(start: int, length: int):
    return {"from": str(start), "length": str(length)}


def cases():
    out = []
    for name, length in [
        ("empty", 0),
        ("one_byte", 1),
        ("piece_minus_one", PIECE - 1),
        ("one_piece", PIECE),
        ("piece_plus_one", PIECE + 1),
        ("two_pieces_and_some", 2 * PIECE + 1000),
    ]:
        segments = [seg(0, length)] if length else []
        digest = pieces_digest(plaintext_of(segments)).hex()
        out.append({"name": name, "plaintext": segments, "announced": digest, "expected": "ok"})
    # The announced digest is the one of the original 2 * PIECE + 1000 bytes; the plaintext a
    # key holder re-sealed differs by whole pieces. None may match.
    n = 2 * PIECE + 1000
    original = pieces_digest(pattern(0, n)).hex()
    for name, segments in [
        ("pieces_swapped", [seg(PIECE, PIECE), seg(0, PIECE), seg(2 * PIECE, 1000)]),
        ("piece_duplicated", [seg(0, PIECE), seg(0, PIECE), seg(2 * PIECE, 1000)]),
        ("last_piece_dropped", [seg(0, 2 * PIECE)]),
        ("first_piece_dropped", [seg(PIECE, PIECE + 1000)]),
        ("one_byte_more", [seg(0, n + 1)]),
        ("one_byte_less", [seg(0, n - 1)]),
    ]:
        out.append({"name": name, "plaintext": segments, "announced": original,
                    "expected": "mismatch"})
    # Kind confusion: the whole-file SHA-256 announced where a piece digest is checked.
    out.append({"name": "whole_file_sha256_is_not_a_piece_digest", "plaintext": [seg(0, n)],
                "announced": hashlib.sha256(pattern(0, n)).hexdigest(), "expected": "mismatch"})
    return out


def suite():
    return {
        "description": "Content digest, kind sha256-4mib-pieces (docs/format.md, 'Content "
                       "digest'). A case's plaintext is the concatenation of its segments; "
                       "segment {from, length} is bytes from..from+length of the stream whose "
                       "byte i is (i mod 251). 'ok': the piece digest of the plaintext is "
                       "'announced'; 'mismatch': it is not.",
        "piece_size": str(PIECE),
        "cases": cases(),
    }


def check(data) -> int:
    """Checks a suite against this implementation; returns the number of cases."""
    for case in data["cases"]:
        got = pieces_digest(plaintext_of(case["plaintext"])).hex()
        same = got == case["announced"]
        assert same == (case["expected"] == "ok"), case["name"]
    return len(data["cases"])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "check":
        print(check(json.loads(VECTORS.read_text())), "cases agree")
    else:
        VECTORS.write_text(json.dumps(suite(), indent=1) + "\n")
        print("wrote", VECTORS.relative_to(ROOT))
