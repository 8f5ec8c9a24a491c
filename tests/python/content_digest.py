"""The content digests of docs/format.md ("Content digest"), written from the text alone, and
the generator of their test vectors (core/tests/vectors/content_digest/pieces.json for kind
sha256-4mib-pieces, sealed_pieces.json for kind sha256-4mib-sealed-pieces).

    python3 tests/python/content_digest.py           # rewrites the vectors
    python3 tests/python/content_digest.py check     # checks them
"""

import hashlib
import json
import pathlib
import sys

PIECE = 4 * 1024 * 1024
LABELS = {
    "sha256-4mib-pieces": b"sealroom/content-digest/v1/sha256-4mib-pieces",
    "sha256-4mib-sealed-pieces": b"sealroom/content-digest/v1/sha256-4mib-sealed-pieces",
}
ROOT = pathlib.Path(__file__).resolve().parents[2]
DIR = ROOT / "core" / "tests" / "vectors" / "content_digest"
VECTORS = {
    "sha256-4mib-pieces": DIR / "pieces.json",
    "sha256-4mib-sealed-pieces": DIR / "sealed_pieces.json",
}
OTHER = {"sha256-4mib-pieces": "sha256-4mib-sealed-pieces",
         "sha256-4mib-sealed-pieces": "sha256-4mib-pieces"}


def piece_digest(kind: str, data: bytes) -> bytes:
    """The digest of `kind` over `data` (the plaintext, or for the sealed kind the sealed
    bytes: the construction is the same, the label differs)."""
    root = hashlib.new("sha512_256")
    root.update(LABELS[kind])
    for start in range(0, len(data), PIECE):
        root.update(hashlib.sha256(data[start:start + PIECE]).digest())
    root.update(len(data).to_bytes(8, "big"))
    return root.digest()


def pieces_digest(plaintext: bytes) -> bytes:
    return piece_digest("sha256-4mib-pieces", plaintext)


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


def cases(kind: str):
    def pieces_digest(data: bytes) -> bytes:
        return piece_digest(kind, data)

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
    # Kind confusion: the whole-file SHA-256, or the other piece kind over the same bytes,
    # announced where this kind is checked.
    out.append({"name": "whole_file_sha256_is_not_a_piece_digest", "plaintext": [seg(0, n)],
                "announced": hashlib.sha256(pattern(0, n)).hexdigest(), "expected": "mismatch"})
    out.append({"name": "other_piece_kind_is_not_this_kind", "plaintext": [seg(0, n)],
                "announced": piece_digest(OTHER[kind], pattern(0, n)).hex(),
                "expected": "mismatch"})
    return out


def suite(kind: str):
    what = "plaintext" if kind == "sha256-4mib-pieces" else "sealed bytes (the stored blob)"
    return {
        "description": f"Content digest, kind {kind} (docs/format.md, 'Content digest'), over "
                       f"the {what}. A case's bytes ('plaintext') are the concatenation of its "
                       "segments; segment {from, length} is bytes from..from+length of the "
                       "stream whose byte i is (i mod 251). 'ok': the digest of the bytes is "
                       "'announced'; 'mismatch': it is not.",
        "kind": kind,
        "piece_size": str(PIECE),
        "cases": cases(kind),
    }


def check(data, kind: str = "sha256-4mib-pieces") -> int:
    """Checks a suite against this implementation; returns the number of cases."""
    assert data.get("kind", kind) == kind
    for case in data["cases"]:
        got = piece_digest(kind, plaintext_of(case["plaintext"])).hex()
        same = got == case["announced"]
        assert same == (case["expected"] == "ok"), case["name"]
    return len(data["cases"])


if __name__ == "__main__":
    for kind, path in VECTORS.items():
        if len(sys.argv) > 1 and sys.argv[1] == "check":
            print(kind, check(json.loads(path.read_text()), kind), "cases agree")
        else:
            path.write_text(json.dumps(suite(kind), indent=1) + "\n")
            print("wrote", path.relative_to(ROOT))
