"""Inputs an attacker could send: well-formed documents with hostile values, then mangled bytes."""

from __future__ import annotations

import base64
import json
import tarfile

from hypothesis import strategies as st

from modelcrate.format.mediatypes import MODEL_CONFIG, OCI_INDEX, OCI_MANIFEST

HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)
TEXT = st.text(max_size=40)
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | TEXT
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4),
                      max_leaves=20)

media_types = st.sampled_from([OCI_MANIFEST, OCI_INDEX, MODEL_CONFIG, "application/vnd.cncf.model.weight.v1.raw",
                               "application/vnd.cncf.model.code.v1.tar", "application/vnd.dev.sigstore.bundle.v0.3+json",
                               "x/y", "", "no-slash", "a/" + "b" * 200]) | TEXT
digests = st.builds(lambda h: "sha256:" + h, HEX64) | st.sampled_from(["sha256:", "sha512:" + "a" * 128, "md5:x"]) | TEXT
sizes = st.integers(-1, 2**64) | values
annotations = st.dictionaries(TEXT, TEXT | values, max_size=4) | values


def descriptors() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"mediaType": media_types, "digest": digests, "size": sizes},
                                 optional={"annotations": annotations, "artifactType": media_types, "urls": values})


def manifests() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"schemaVersion": st.sampled_from([2, 2, 2, 1, "2"]) | values, "config": descriptors() | values,
         "layers": st.lists(descriptors(), max_size=4) | values},
        optional={"mediaType": media_types, "subject": descriptors() | values, "annotations": annotations,
                  "artifactType": media_types})


def indexes() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"schemaVersion": st.sampled_from([2, 2, 1]) | values, "manifests": st.lists(descriptors(), max_size=4) | values},
        optional={"mediaType": media_types, "subject": descriptors() | values, "annotations": annotations})


def statements() -> st.SearchStrategy[dict]:
    subject = st.fixed_dictionaries({"name": TEXT, "digest": st.dictionaries(
        st.sampled_from(["sha256", "sha512", "gitCommit", "x"]), HEX64 | TEXT, max_size=2) | values})
    return st.fixed_dictionaries(
        {"_type": st.sampled_from(["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"]) | TEXT,
         "subject": st.lists(subject, max_size=3) | values,
         "predicateType": st.sampled_from(["https://slsa.dev/provenance/v1", "https://modelcrate.dev/signature/v1"]) | TEXT},
        optional={"predicate": values})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def envelopes() -> st.SearchStrategy[dict]:
    payload = statements().map(lambda s: _b64(json.dumps(s).encode())) | TEXT
    signature = st.fixed_dictionaries({"sig": st.binary(max_size=80).map(_b64) | TEXT}, optional={"keyid": TEXT})
    return st.fixed_dictionaries(
        {"payload": payload, "payloadType": st.just("application/vnd.in-toto+json") | TEXT,
         "signatures": st.lists(signature, max_size=2) | values})


def bundles() -> st.SearchStrategy[dict]:
    material = st.fixed_dictionaries({}, optional={
        "publicKey": st.fixed_dictionaries({"hint": TEXT}), "tlogEntries": values,
        "certificate": st.fixed_dictionaries({"rawBytes": st.binary(max_size=100).map(_b64) | TEXT}),
        "x509CertificateChain": values})
    return st.fixed_dictionaries(
        {"mediaType": st.sampled_from(["application/vnd.dev.sigstore.bundle.v0.3+json",
                                       "application/vnd.dev.sigstore.bundle+json;version=0.2"]) | TEXT},
        optional={"verificationMaterial": material | values, "dsseEnvelope": envelopes() | values,
                  "messageSignature": values})


def _nest(depth: int, inner: bytes) -> bytes:
    return b"[" * depth + inner + b"]" * depth


@st.composite
def mangled(draw: st.DrawFn, documents: st.SearchStrategy[dict]) -> bytes:
    """A document's JSON bytes, then maybe truncated, patched, deepened, or given a huge number or a
    repeated key; or plain random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    data = json.dumps(draw(documents)).encode()
    op = draw(st.sampled_from(["keep", "keep", "truncate", "patch", "insert", "deep", "number", "repeat"]))
    at = draw(st.integers(0, len(data)))
    if op == "truncate":
        return data[:at]
    if op == "patch" and data:
        at = min(at, len(data) - 1)
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    if op == "insert":
        return data[:at] + draw(st.binary(max_size=20)) + data[at:]
    if op == "deep" and data.startswith(b"{"):
        return b'{"x": ' + _nest(draw(st.integers(50, 100_000)), b"1") + b", " + data[1:]
    if op == "number" and data.startswith(b"{"):
        digits = draw(st.integers(90, 100_000))
        return b'{"n": ' + b"9" * digits + draw(st.sampled_from([b"", b".5", b"e999"])) + b", " + data[1:]
    if op == "repeat" and data.startswith(b"{") and len(data) > 2:
        return data[:-1] + b', "schemaVersion": 2, "schemaVersion": 2}'
    return data


# ---- tar headers -----------------------------------------------------------------------------------

_TYPES = [tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
          tarfile.FIFOTYPE, tarfile.GNUTYPE_SPARSE, tarfile.CONTTYPE, b"Z"]
_PAX = st.dictionaries(st.sampled_from(["path", "size", "linkpath", "GNU.sparse.major", "GNU.sparse.minor",
                                        "GNU.sparse.name", "GNU.sparse.realsize", "GNU.sparse.map", "GNU.sparse.size",
                                        "mtime", "comment"]),
                       st.sampled_from(["1", "0", "1073741824", "-5", "x", "d/a", "../e", "9" * 50]) | TEXT, max_size=3)


def _checksummed(header: bytearray) -> bytes:
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header) & 0o777777:06o}".encode() + b"\0 "
    return bytes(header)


@st.composite
def tar_archives(draw: st.DrawFn) -> bytes:
    """A tar of drawn members (names, types, sizes, pax records), some header bytes then patched and the
    checksum recomputed so the patch reaches the parser; or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2048))
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        info = tarfile.TarInfo(draw(st.sampled_from(["d/a", "d/b/c", "d", "e/x", "../d/x", "/d/x", "d/" + "n" * 200])
                                    | st.text(max_size=30)))
        info.type = draw(st.sampled_from(_TYPES))
        data = draw(st.binary(max_size=600))
        info.size = len(data) if draw(st.booleans()) else draw(st.integers(0, 2**33))
        info.mode = 0o644
        info.linkname = draw(st.sampled_from(["", "d/a", "/etc/passwd"]))
        info.pax_headers = draw(_PAX)
        fmt = draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
        try:
            header = bytearray(info.tobuf(format=fmt, encoding="utf-8", errors="surrogateescape"))
        except (ValueError, UnicodeError):
            continue
        for _patch in range(draw(st.integers(0, 3))):
            block = len(header) // 512 - 1  # patch the member's own header, not a pax one before it
            at = block * 512 + draw(st.integers(0, 511))
            header[at] = draw(st.integers(0, 255))
            header[block * 512:] = _checksummed(header[block * 512:])
        out += bytes(header) + data.ljust((len(data) + 511) // 512 * 512, b"\0")
    cut = draw(st.sampled_from([None, None, None]) | st.integers(0, len(out)))
    return out[:cut] if cut is not None else out + b"\0" * 1024


# ---- YAML ------------------------------------------------------------------------------------------

yaml_scalars = st.sampled_from(["1", "1.10", "yes", "~", "''", "2025-01-01", "!!binary aGk=", "*a", "&a x",
                                "9" * 5000, "1e999", ".nan", "!!python/object:os.system x"]) | TEXT


@st.composite
def yaml_texts(draw: st.DrawFn, keys: list[str]) -> str:
    """YAML a user (or a hostile checkout) could hand us: the expected keys with odd values, deep
    nesting, alias bombs, huge integers, or random text."""
    kind = draw(st.sampled_from(["fields", "fields", "deep-flow", "deep-block", "aliases", "random"]))
    if kind == "random":
        return draw(st.text(max_size=300))
    if kind == "deep-flow":
        return f"{draw(st.sampled_from(keys))}: " + "[" * draw(st.integers(50, 50_000)) + "\n"
    if kind == "deep-block":
        depth = draw(st.integers(50, 3000))
        return "".join(f"{' ' * i}k{i}:\n" for i in range(depth)) + " " * depth + "v\n"
    if kind == "aliases":
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
        return "\n".join(lines) + f"\n{draw(st.sampled_from(keys))}: *a8\n"
    lines = []
    for key in draw(st.lists(st.sampled_from(keys), max_size=len(keys), unique=True)):
        value = draw(yaml_scalars)
        shape = draw(st.sampled_from(["{v}", "[{v}]", "{{k: {v}}}", "\n  - {{path: {v}, kind: weight}}",
                                      "\n  - key: {v}"]))
        lines.append(f"{key}: " + shape.format(v=value))
    return "\n".join(lines) + "\n"
