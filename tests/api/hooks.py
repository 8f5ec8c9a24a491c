"""Schemathesis hooks for the Sealroom relay API fuzzing (scripts/test-api.sh).

Every route with the `deviceSignature` security scheme needs an Ed25519 signature of a registered
device over the canonical string of scheme `SEALROOM-V2` (docs/api/signing.md, wire/src/auth.rs):
method, authority (the `Host`), path, query, timestamp, nonce, the `Content-Type`, `Range`,
`Upload-Offset` and `Upload-Checksum` headers when present, and the body digest. Schemathesis
serialises the generated body, query and headers itself, so the signature is computed on the
final prepared request (a `requests` auth object), over the exact bytes that go on the wire.

The fixtures (devices with their keys, ids of a space, a room, a blob...) come from the JSON file
named by SEALROOM_API_FIXTURES, written by `sealroom-api-fixtures` (tests/src/bin/api-fixtures.rs).

Which device signs, whether a request stays unsigned (to exercise the 401 path) and whether a path
parameter is replaced by a fixture id (to get past 404 into the handlers) is decided from a hash
of the generated case, so Hypothesis sees the same behaviour when it replays or shrinks a case.
"""

import hashlib
import json
import os
import time
from collections.abc import Mapping, MutableMapping
from urllib.parse import urlsplit

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

with open(os.environ["SEALROOM_API_FIXTURES"], encoding="utf-8") as _f:
    FIXTURES = json.load(_f)

# Share of signed-route requests sent without signature (they must get 401), in percent.
UNSIGNED_PERCENT = int(os.environ.get("SEALROOM_API_UNSIGNED_PERCENT", "5"))
# Share of path parameters replaced by a fixture id that exists, in percent.
FIXTURE_PATH_PERCENT = int(os.environ.get("SEALROOM_API_FIXTURE_PATH_PERCENT", "60"))


class Device:
    """A registered device and its Ed25519 key (test material only)."""

    def __init__(self, entry):
        self.device_id = entry["device_id"]
        self.user_id = entry["user_id"]
        self.key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(entry["secret_key"]))


DEVICES = {name: Device(entry) for name, entry in FIXTURES["devices"].items()}
# The signing identities: provider admin, staff (owner of the space, member of the room) and
# the customer member of the space and room.
SIGNERS = ["admin", "staff", "customer"]


# The request headers the signature covers, in signing order (wire::auth::SIGNED_HEADERS).
SIGNED_HEADERS = ["content-type", "range", "upload-offset", "upload-checksum"]


def _authority(url):
    """The authority a request to `url` is signed for: lower-case host, `:port` unless default,
    exactly what `requests` puts in the Host header."""
    split = urlsplit(url)
    host = (split.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(split.scheme.lower())
    if split.port is not None and split.port != default:
        return f"{host}:{split.port}"
    return host


class DeviceSignature(requests.auth.AuthBase):
    """Signs the prepared request exactly as sent (path and query as on the request line)."""

    def __init__(self, device):
        self.device = device

    def __call__(self, request):
        parts = urlsplit(request.path_url)
        body = request.body
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, (bytes, bytearray)):
            # Streams and iterables never come from schemathesis' serialisers; refuse loudly.
            raise TypeError(f"cannot sign a body of type {type(body).__name__}")
        timestamp = str(int(time.time()))
        nonce = os.urandom(16).hex()
        lines = [
            "SEALROOM-V2",
            request.method.upper(),
            _authority(request.url),
            parts.path,
            parts.query,
            timestamp,
            nonce,
        ]
        for name in SIGNED_HEADERS:
            value = request.headers.get(name)
            if value is not None:
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                lines.append(name + ":" + value.strip(" \t"))
        lines.append(hashlib.sha256(bytes(body)).hexdigest())
        text = "\n".join(lines)
        signature = self.device.key.sign(text.encode("utf-8"))
        request.headers["x-sealroom-device"] = self.device.device_id
        request.headers["x-sealroom-timestamp"] = timestamp
        request.headers["x-sealroom-nonce"] = nonce
        request.headers["x-sealroom-signature"] = signature.hex()
        return request


def _case_digest(case):
    """A stable digest of what was generated for this case (not of its random id)."""
    material = repr(
        (
            case.method,
            case.path,
            sorted((case.path_parameters or {}).items()) if isinstance(case.path_parameters, MutableMapping) else case.path_parameters,
            repr(case.query),
            repr(case.headers),
            repr(case.body),
        )
    )
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).digest()


SIGNATURE_HEADER = "x-sealroom-signature"
SIGNER_USERS = {d.user_id for d in DEVICES.values()}
SIGNER_DEVICES = {d.device_id for d in DEVICES.values()}

# Blob appends are raw bytes; schemathesis serialises them like application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


def _fixture_value(case, name):
    """An existing id for path parameter `name` of this operation, or None."""
    ids = FIXTURES["ids"]
    if name == "user_id":
        if _destroys_user(case):
            return ids["victim_user_id"]
        return DEVICES["customer"].user_id
    if name == "device_id":
        return ids["victim_device_id"]
    if name == "blob_id" and case.method.upper() == "DELETE":
        return ids["victim_blob_id"]
    return ids.get(name)


def _destroys_user(case):
    """Erasing a user or removing them from the space (only the sacrificial user may go)."""
    path = case.operation.path
    return path.endswith("/erase") or path.startswith("/v1/spaces/{space_id}/members/")


def _protect_signers(case):
    """Never let a request revoke, erase or remove one of the signing identities.

    The stateful phase feeds ids it saw in responses (e.g. the caller's own device id from
    GET /v1/me) into other operations; revoking the signing device would turn every later
    request into a 401 and end the run's coverage. Such ids are swapped for the sacrificial ones.
    """
    params = case.path_parameters
    if not isinstance(params, MutableMapping):
        return
    ids = FIXTURES["ids"]
    path = case.operation.path
    if path == "/v1/devices/{device_id}" and params.get("device_id") in SIGNER_DEVICES:
        params["device_id"] = ids["victim_device_id"]
    if _destroys_user(case) and params.get("user_id") in SIGNER_USERS:
        params["user_id"] = ids["victim_user_id"]


def _requires_signature(case):
    return bool(case.operation.definition.raw.get("security"))


def _has_signature_header(case):
    headers = case.headers if isinstance(case.headers, Mapping) else {}
    return any(name.lower() == SIGNATURE_HEADER for name in headers)


# GET /v1/events may hold a request up to 30 s when nothing is new (a long poll); schemathesis
# gives up on a response after 10 s. Valid waits above this are sent as this many seconds, so the
# route is fuzzed in full (every other value, and invalid ones, unchanged) without timing out.
LONG_POLL_MAX_FUZZ_WAIT = 2


def _shorten_long_poll(case):
    if case.path != "/v1/events" or not isinstance(case.query, MutableMapping):
        return
    wait = case.query.get("wait")
    if isinstance(wait, int) and not isinstance(wait, bool) and wait > LONG_POLL_MAX_FUZZ_WAIT:
        case.query["wait"] = LONG_POLL_MAX_FUZZ_WAIT
    elif isinstance(wait, str) and wait.isdigit() and int(wait) > LONG_POLL_MAX_FUZZ_WAIT and int(wait) <= 30:
        case.query["wait"] = str(LONG_POLL_MAX_FUZZ_WAIT)


@schemathesis.hook
def before_call(context, case, kwargs):
    digest = _case_digest(case)
    _shorten_long_poll(case)
    if isinstance(case.path_parameters, MutableMapping) and case.path_parameters:
        for i, name in enumerate(sorted(case.path_parameters)):
            if digest[1 + i] % 100 < FIXTURE_PATH_PERCENT:
                value = _fixture_value(case, name)
                if value is not None:
                    case.path_parameters[name] = value
    _protect_signers(case)
    # Schemathesis puts a (random) value of the security scheme's header on every case that is
    # meant to be authenticated and leaves it out of the negative cases that test a missing
    # credential: sign the former (replacing the random value), send the latter unsigned.
    if not _requires_signature(case) or not _has_signature_header(case):
        return
    if digest[0] % 100 < UNSIGNED_PERCENT:
        case.headers.pop(SIGNATURE_HEADER, None)
        return
    device = DEVICES[SIGNERS[digest[8] % len(SIGNERS)]]
    kwargs["auth"] = DeviceSignature(device)
    # The credentials come from outside the generated data: tell the `ignored_auth` check, which
    # then probes the operation without them and with a wrong signature (both must be refused).
    object.__setattr__(case, "_has_explicit_auth", True)


def _valid_field_value(value):
    """RFC 9110 5.5: a field value is visible characters, spaces and tabs (no NUL, CR, LF...)."""
    text = str(value)
    return all(c == "\t" or " " <= c <= "~" or c >= "\x80" for c in text)


@schemathesis.hook
def filter_headers(context, headers):
    # A request carrying a control character in a header is not an HTTP message: the HTTP layer
    # (hyper) answers it with a bare 400 before any route runs, so it says nothing about the API.
    return headers is None or all(_valid_field_value(v) for v in headers.values())
