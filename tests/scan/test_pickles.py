"""The pickle walker and content sniffing on the corpus, plus hostile pickles and archives."""

from __future__ import annotations

import io
import pickle
import struct
import tracemalloc
import zipfile

import pytest

from modelcrate.scan import ERROR, NOT_PICKLE, SAFE_PICKLE, UNSAFE, ScanResult, policy_gate, predicate, scan_stream
from modelcrate.scan.pickles import Source, walk

from .corpus import Sample, corpus, npy, torch_zip

SAMPLES = corpus()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_corpus_verdicts(sample: Sample) -> None:
    found = scan_stream(sample.name, io.BytesIO(sample.data))
    assert any(f.refused for f in found) == sample.malicious, (sample.what, [f.to_dict() for f in found])


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_non_seekable_streams_give_the_same_verdict(sample: Sample) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b):  # type: ignore[no-untyped-def]
            data = self.inner.read(min(len(b), 7))  # short reads too
            b[: len(data)] = data
            return len(data)

    seekable = scan_stream(sample.name, io.BytesIO(sample.data))
    piped = scan_stream(sample.name, io.BufferedReader(Pipe(sample.data)))  # type: ignore[arg-type]
    raw = scan_stream(sample.name, Pipe(sample.data))  # type: ignore[arg-type]  # short reads reach the sniffer
    assert [(f.path, f.status, f.unsafe) for f in piped] == [(f.path, f.status, f.unsafe) for f in seekable]
    assert [(f.path, f.status, f.unsafe) for f in raw] == [(f.path, f.status, f.unsafe) for f in seekable]


def test_globals_are_named_with_protocol() -> None:
    [found] = scan_stream("x.pkl", io.BytesIO(next(s.data for s in SAMPLES if s.name == "memo.pkl")))
    assert (found.status, found.unsafe, found.protocol) == (UNSAFE, ("os.system",), 4)
    assert found.to_dict()["dangerous"] == ["os.system"]


def test_torch_zip_reports_each_pickle_member() -> None:
    found = scan_stream("m.pt", io.BytesIO(next(s.data for s in SAMPLES if s.name == "evil_constants.pt")))
    assert [(f.path, f.status) for f in found] == [("m.pt:archive/data.pkl", SAFE_PICKLE),
                                                   ("m.pt:archive/constants.pkl", UNSAFE)]
    assert "torch._utils._rebuild_tensor_v2" in found[0].globals and "torch.FloatStorage" in found[0].globals


def test_a_huge_bytes_length_is_skipped_not_allocated() -> None:
    data = b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"x" * 100
    tracemalloc.start()
    try:
        [found] = scan_stream("big.pkl", io.BytesIO(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found.status == ERROR and "truncated" in (found.error or "")
    assert peak < 4 * 1024 * 1024


@pytest.mark.parametrize("data, message", [
    (b"\x80\x02h\x05.", "memo entry never stored"),
    (b"\x80\x02R.", "stack too short"),
    (b"\x80\x02e.", "without a MARK"),
    (b"\x80\x02\xff", "unknown opcode 0xff"),
    (b"\x80\x02N", "no STOP"),
    (b"\x80\x02c" + b"a" * 70_000, "longer than"),
])
def test_malformed_pickles_are_errors_and_refused(data: bytes, message: str) -> None:
    [found] = scan_stream("bad.pkl", io.BytesIO(data))
    assert found.status == ERROR and message in (found.error or "")
    reasons = policy_gate(ScanResult("t", (found,)))
    assert len(reasons) == 1 and "could not be checked" in reasons[0]


def test_stack_global_on_an_empty_stack_is_refused() -> None:
    [found] = scan_stream("bad.pkl", io.BytesIO(b"\x80\x02\x93."))
    assert found.refused and "stack too short" in (found.error or "")


def test_stack_global_with_computed_operands_fails_closed() -> None:
    # STACK_GLOBAL whose module comes out of a REDUCE (its value cannot be known without running it)
    data = b"\x80\x04\x8c\x08builtins\x8c\x03str\x93)R\x8c\x04eval\x93."
    [found] = scan_stream("x.pkl", io.BytesIO(data))
    assert found.status == UNSAFE and any("computed operands" in u for u in found.unsafe)


def test_deeply_nested_pickles_stop_at_the_nesting_limit() -> None:
    inner = pickle.dumps(b"payload", protocol=3)
    for _ in range(10):
        inner = pickle.dumps(inner, protocol=3)
    out = walk(Source(io.BytesIO(inner)))
    assert out.globals == [] and out.unresolved == []


def test_zip_member_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelcrate.scan import sniff

    monkeypatch.setattr(sniff, "MAX_ZIP_MEMBERS", 3)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(5):
            z.writestr(f"m{i}", b"x")
    [found] = scan_stream("many.zip", io.BytesIO(buf.getvalue()))
    assert found.status == ERROR and "over 3" in (found.error or "")


def test_npy_headers_that_lie() -> None:
    huge = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b"{}"
    [found] = scan_stream("x.npy", io.BytesIO(huge))
    assert found.status == ERROR and "claims" in (found.error or "")
    code = npy("|O", b"")[:10] + b"__import__('os').system('x')\n"
    [found] = scan_stream("y.npy", io.BytesIO(code))
    assert found.status == ERROR  # the header is parsed as a literal, never evaluated


def test_storage_bytes_that_look_like_a_pickle_are_not_reported() -> None:
    found = scan_stream("ok.pt", io.BytesIO(torch_zip(pickle.dumps({"a": 1}, protocol=2))))
    assert [f.path for f in found] == ["ok.pt:archive/data.pkl"]


def test_result_predicate_and_gate() -> None:
    files = tuple(f for s in SAMPLES if s.name in ("plain_p2.pkl", "system_p2.pkl", "README.md")
                  for f in scan_stream(s.name, io.BytesIO(s.data)))
    result = ScanResult("m:1", files)
    assert result.verdict == UNSAFE
    body = predicate(result, scanner_version="0.1.0", scanned_at="2026-01-01T00:00:00Z")
    assert body["summary"] == {"files": 3, "pickles": 2, "unsafe": 1, "errors": 0}
    assert [f["status"] for f in body["files"]] == [SAFE_PICKLE, UNSAFE, NOT_PICKLE]
    assert policy_gate(result) == ["system_p2.pkl: unpickling imports posix.system"]
    assert policy_gate(result, deny_unsafe_pickle=False) == []
    assert ScanResult("clean", files[:1]).verdict == SAFE_PICKLE and ScanResult("x", files[2:]).verdict == "clean"
