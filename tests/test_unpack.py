"""unpack: byte-identical round trips and one test per hostile artifact (nothing written on refusal)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tarfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from modelcrate import api
from modelcrate.content.layout import LocalStore
from modelcrate.errors import AlreadyExists, DigestMismatch, InvalidManifest, SizeMismatch, UnsafePath
from modelcrate.settings import Settings
from modelcrate.format.descriptor import Descriptor
from modelcrate.transfer import Watched
from modelcrate.unpacking import _Stage, _Stopped, fetch_model, safe_relpath, unpack, write_files

from tests.support.artifacts import Layer, link, put_model, reg, tar_bytes
from tests.support.progress import Recording


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_round_trip_is_byte_identical_and_keeps_exec_bit(example: Path, tmp_path: Path, settings: Settings) -> None:
    (example / "predict.py").chmod(0o755)
    api.pack(example, "m:1", config=settings)
    out = tmp_path / "out"
    result = api.unpack("m:1", out, config=settings)
    expected = {k: v for k, v in tree(example).items() if k != "modelcrate.yaml"}
    assert tree(out) == expected
    assert os.access(out / "predict.py", os.X_OK) and not os.access(out / "README.md", os.X_OK)
    assert sorted(p for p, _ in result.files) == sorted(expected)


def test_filter_and_include(example: Path, tmp_path: Path, settings: Settings) -> None:
    api.pack(example, "m:1", config=settings)
    api.unpack("m:1", tmp_path / "w", kinds=("weight", "weight.config"), config=settings)
    assert sorted(tree(tmp_path / "w")) == ["config.json", "model.safetensors"]
    api.unpack("m:1", tmp_path / "d", include=("*.md",), config=settings)
    assert sorted(tree(tmp_path / "d")) == ["README.md"]


def test_existing_files_need_force(example: Path, tmp_path: Path, settings: Settings) -> None:
    api.pack(example, "m:1", config=settings)
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("mine")
    with pytest.raises(AlreadyExists, match="README.md exists"):
        api.unpack("m:1", out, config=settings)
    assert tree(out) == {"README.md": b"mine"}  # refused before anything was written
    api.unpack("m:1", out, force=True, config=settings)
    assert (out / "README.md").read_bytes() == (example / "README.md").read_bytes()


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape", "a/../../escape", "a\\..\\b", "", "x\x00y", "C:/win", "./.", "//"])
def test_safe_relpath_refuses(path: str) -> None:
    with pytest.raises(UnsafePath):
        safe_relpath(path)


def test_safe_relpath_normalizes() -> None:
    assert safe_relpath("./a//b/./c") == "a/b/c"


@pytest.fixture
def repo(tmp_path: Path):
    return LocalStore(tmp_path / "store").repository("evil")


def _refused(repo, tmp_path: Path, layers: list[Layer], error: type, match: str) -> Path:
    put_model(repo, layers)
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        unpack(repo, "t", out)
    assert not out.exists() or tree(out) == {}, "nothing may be left at the target"
    assert not (tmp_path / "escape").exists() and not (tmp_path / "evil.txt").exists()
    return out


def test_absolute_path(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer(str(tmp_path / "evil.txt"), b"x")], UnsafePath, "absolute path")


def test_dotdot_path(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("../escape", b"x")], UnsafePath, r"'\.\.'")


def test_duplicate_paths(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("a.bin", b"x"), Layer("./a.bin", b"y")], UnsafePath, "twice")


def test_path_through_existing_symlink(repo, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / "sub").symlink_to(outside)
    put_model(repo, [Layer("sub/evil.txt", b"x")])
    with pytest.raises(UnsafePath, match="symlink"):
        unpack(repo, "t", out)
    assert list(outside.iterdir()) == []


def test_wrong_digest(repo, tmp_path: Path) -> None:
    good = Layer("good.bin", b"fine")
    bad = Layer("w.bin", b"real bytes", declared_digest="sha256:" + "ab" * 32)
    # the store holds bytes under the declared digest that do not hash to it: a tampered blob
    store_path = repo.store.blob_path(bad.declared_digest)
    store_path.write_bytes(b"tampered!!")
    _refused(repo, tmp_path, [good, bad], DigestMismatch, "hashes to")


def test_wrong_size_in_descriptor(repo, tmp_path: Path) -> None:
    layer = Layer("w.bin", b"0123456789", declared_size=5)
    layer.annotations = {"org.cncf.model.filepath": "w.bin"}
    _refused(repo, tmp_path, [layer], SizeMismatch, "longer than")


def test_file_metadata_size_disagrees_with_descriptor(repo, tmp_path: Path) -> None:
    layer = Layer("w.bin", b"0123456789", extra={"org.cncf.model.file.metadata+json": '{"mode":420,"size":99}'})
    _refused(repo, tmp_path, [layer], SizeMismatch, "file metadata says 99")


def _tar_layer(members) -> Layer:
    return Layer("dir", tar_bytes(members), kind="weight.config", fmt="tar")


def test_tar_symlink(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(link("dir/x", "/etc/passwd"), None)])], UnsafePath, "link or special")


def test_tar_symlink_then_write_through_it(repo, tmp_path: Path) -> None:
    members = [(link("dir/l", str(tmp_path)), None), (reg("dir/l/evil.txt"), b"x")]
    _refused(repo, tmp_path, [_tar_layer(members)], UnsafePath, "link or special")


def test_tar_hardlink(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(link("dir/h", "/etc/passwd", tarfile.LNKTYPE), None)])],
             UnsafePath, "link or special")


def test_tar_device_file(repo, tmp_path: Path) -> None:
    dev = tarfile.TarInfo("dir/null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    _refused(repo, tmp_path, [_tar_layer([(dev, None)])], UnsafePath, "link or special")


def test_tar_dotdot_member(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(reg("dir/ok"), b"ok"), (reg("../escape"), b"x")])], UnsafePath, r"'\.\.'")


def test_tar_absolute_member(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(reg(str(tmp_path / "evil.txt")), b"x")])], UnsafePath, "absolute")


def test_tar_duplicate_member(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(reg("dir/a"), b"1"), (reg("dir/a"), b"2")])], UnsafePath, "twice")


def test_tar_member_colliding_with_raw_layer(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("dir/a", b"raw"), _tar_layer([(reg("dir/a"), b"tar")])], UnsafePath, "twice")


def test_truncated_tar(repo, tmp_path: Path) -> None:
    data = tar_bytes([(reg("dir/a"), b"x" * 5000)])
    _refused(repo, tmp_path, [Layer("dir", data[:1024], kind="weight.config", fmt="tar")], InvalidManifest, "malformed")


def test_malformed_compressed_layers_are_refused_clearly(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("dir", b"\x1f\x8b....", fmt="tar+gzip")], InvalidManifest, "malformed")


def test_file_and_directory_with_one_name(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("0", b"0"), Layer("a", b"x"), Layer("a/b", b"y")], UnsafePath,
             "both as a file and as a directory")


def test_tar_member_outside_its_layer_path(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [_tar_layer([(reg("model.safetensors"), b"x")])], UnsafePath, "outside its own path")


def test_tar_member_clashing_with_raw_file_as_directory(repo, tmp_path: Path) -> None:
    _refused(repo, tmp_path, [Layer("dir", b"raw file"), _tar_layer([(reg("dir/a"), b"x")])], UnsafePath,
             "both as a file and as a directory")


# ---- concurrent raw layers ------------------------------------------------------------------------------
WAIT = 20  # seconds: only a guard against a hang when a test fails, never reached when it passes


class Hooked:
    """A Target whose layer streams hand out at most 4 KiB a read and call ``before_fetch(i)`` and
    ``on_read(i, n)`` (``i`` the layer's index, ``n`` the read's number); it counts streams open at once."""

    def __init__(self, inner, layers: list[Descriptor]) -> None:
        self.inner, self.name, self.layers = inner, inner.name, layers
        self.lock = threading.Lock()
        self.open = self.most = 0

    def before_fetch(self, i: int) -> None: ...
    def on_read(self, i: int, n: int) -> None: ...

    def stream(self, i: int, inner) -> io.RawIOBase:  # noqa: ANN001
        return _Reads(inner, lambda n: self.on_read(i, n))

    @contextmanager
    def fetch(self, desc: Descriptor) -> Iterator[object]:
        i = self.layers.index(desc)
        self.before_fetch(i)
        with self.inner.fetch(desc) as inner:
            with self.lock:
                self.open += 1
                self.most = max(self.most, self.open)
            try:
                yield self.stream(i, inner)
            finally:
                with self.lock:
                    self.open -= 1

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class _Reads(io.RawIOBase):
    def __init__(self, inner, on_read: Callable[[int], None]) -> None:  # noqa: ANN001
        super().__init__()
        self.inner, self.on_read, self.n = inner, on_read, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        self.on_read(self.n)
        self.n += 1
        view = memoryview(buffer)[:4096]
        got = self.inner.readinto(view) or 0
        return got


def _layers(n: int, size: int = 20_000) -> list[Layer]:
    return [Layer(f"d{i % 3}/sub/f{i:02d}.bin", os.urandom(size + i)) for i in range(n)]


def _model(repo, layers: list[Layer]):  # noqa: ANN202
    put_model(repo, layers)
    files = fetch_model(repo, repo.resolve("t")).files
    return files, [f.descriptor for f in files]


def _nothing_left(tmp_path: Path, out: Path, before: dict[str, bytes] | None = None) -> None:
    assert (tree(out) if out.exists() else {}) == (before or {}), "nothing may be left at the target"
    if before is None:
        assert not out.exists(), "not even the directories made for it"
    assert not [p for p in tmp_path.rglob("*.partial")]


def test_concurrent_unpack_is_byte_identical_to_sequential_and_in_manifest_order(repo, tmp_path: Path) -> None:
    layers = _layers(12)
    layers[7] = Layer("d1/sub/same-as-f00.bin", layers[0].data)  # one blob named by two paths
    layers.insert(5, Layer("tok", tar_bytes([(reg("tok/vocab.txt"), b"a\nb\n"), (reg("tok/m/merges.txt"), b"ab\n")]),
                           kind="weight.config", fmt="tar"))
    put_model(repo, layers)
    expected = [(layer.path, len(layer.data)) for layer in layers[:5]] + [("tok/vocab.txt", 4), ("tok/m/merges.txt", 3)] \
        + [(layer.path, len(layer.data)) for layer in layers[6:]]
    results = {c: unpack(repo, "t", tmp_path / f"out{c}", concurrency=c) for c in (1, 4, 16)}
    for c, result in results.items():
        assert result.files == expected, c
        assert tree(tmp_path / f"out{c}") == tree(tmp_path / "out1")
    assert tree(tmp_path / "out1")["d1/sub/same-as-f00.bin"] == layers[0].data
    assert not [p for p in tmp_path.rglob("*.partial")]


def test_raw_layers_are_fetched_at_once_and_the_result_keeps_manifest_order(repo, tmp_path: Path) -> None:
    """Layer i is only fetched once layer i+1 has its temp file, so the temp files are made last layer
    first; every stream then waits until all four are open. Sequential fetching would never get past the
    first layer; a result in write order would come out reversed."""
    files, descs = _model(repo, _layers(4))
    started = [threading.Event() for _ in descs]
    barrier = threading.Barrier(len(descs), timeout=WAIT)

    class Reversed(Hooked):
        def before_fetch(self, i: int) -> None:
            if i + 1 < len(descs):
                assert started[i + 1].wait(WAIT), f"layer {i + 1} never started"

        def on_read(self, i: int, n: int) -> None:
            if n == 0:
                started[i].set()
                barrier.wait()

    target = Reversed(repo, descs)
    result = write_files(target, files, tmp_path / "out", concurrency=4)
    assert target.most == 4
    assert [p for p, _ in result.files] == [f.path for f in files]
    assert tree(tmp_path / "out") == {f.path: repo.store.blob_path(f.descriptor.digest).read_bytes() for f in files}


@pytest.mark.parametrize("existing", [False, True], ids=["new-dir", "existing-dir"])
def test_a_tampered_blob_among_concurrent_writes_leaves_nothing(repo, tmp_path: Path, existing: bool) -> None:
    layers = _layers(10)
    layers[2] = Layer("d2/sub/bad.bin", b"real bytes" * 1000, declared_digest="sha256:" + "ab" * 32)
    repo.store.blob_path(layers[2].declared_digest).write_bytes(b"tampered!!" * 1000)  # same size, other bytes
    files, descs = _model(repo, layers)
    barrier = threading.Barrier(4, timeout=WAIT)  # the first four have temp files when the bad one ends

    class AllOpen(Hooked):
        def on_read(self, i: int, n: int) -> None:
            if n == 0 and i < 4:
                barrier.wait()

    out = tmp_path / "deep" / "out"
    before = None
    if existing:
        out.mkdir(parents=True)
        (out / "mine.txt").write_text("kept")
        before = {"mine.txt": b"kept"}
    target = AllOpen(repo, descs)
    with pytest.raises(DigestMismatch, match="hashes to"):
        write_files(target, files, out, concurrency=4)
    assert target.most >= 4
    _nothing_left(tmp_path, out, before)
    assert existing or not (tmp_path / "deep").exists()


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=["oserror", "interrupt"])
def test_an_error_in_one_worker_mid_write_is_raised_as_is_and_nothing_is_left(
        repo, tmp_path: Path, error: BaseException) -> None:
    files, descs = _model(repo, _layers(8))
    barrier = threading.Barrier(4, timeout=WAIT)

    class Failing(Hooked):
        def on_read(self, i: int, n: int) -> None:
            if n == 0 and i < 4:
                barrier.wait()
            if i == 1 and n == 2:  # two blocks already written to its temp file
                raise error

    with pytest.raises(type(error)) as raised:
        write_files(Failing(repo, descs), files, tmp_path / "out", concurrency=4)
    assert raised.value is error
    if isinstance(error, KeyboardInterrupt):  # nothing in place; at most hidden copies that finished whole
        kept = {p.name: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
        assert all(n.startswith(".") and n.endswith(".partial") for n in kept)
        whole = {f.descriptor.digest.split(":")[1]: f for f in files}
        assert all(len(b) == whole[n.split(".")[-2]].descriptor.size for n, b in kept.items())
        return
    _nothing_left(tmp_path, tmp_path / "out")


def test_a_failure_stops_the_other_workers_at_their_next_read(repo, tmp_path: Path) -> None:
    """Layer 1 is 64 MiB served 4 KiB a read; once it is reading, layer 0 fails, and layer 1 must give up
    at its next read instead of reading (and writing) the rest."""
    big = 64 << 20
    layers = [Layer("a.bin", b"a" * 10_000),
              Layer("b.bin", b"b", declared_size=big, annotations={"org.cncf.model.filepath": "b.bin"})]
    files, descs = _model(repo, layers)
    reading, failed = threading.Event(), threading.Event()
    reads: list[int] = []

    class Zeros(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # noqa: ANN001
            view = memoryview(buffer)
            view[:] = bytes(len(view))
            return len(view)

    class OneFails(Hooked):
        def stream(self, i: int, inner) -> io.RawIOBase:  # noqa: ANN001
            return _Reads(Zeros() if i == 1 else inner, lambda n: self.on_read(i, n))

        def on_read(self, i: int, n: int) -> None:
            if i == 0 and n == 1:
                assert reading.wait(WAIT)
                failed.set()
                raise OSError("disk full")
            if i == 1:
                reads.append(n)
                reading.set()
                if n == 1:
                    assert failed.wait(WAIT)

    with pytest.raises(OSError, match="disk full"):
        write_files(OneFails(repo, descs), files, tmp_path / "out", concurrency=2)
    assert len(reads) < big // 4096 // 2, f"the other worker read on ({len(reads)} reads)"
    _nothing_left(tmp_path, tmp_path / "out")


def test_ctrl_c_in_the_main_thread_while_workers_write_leaves_nothing(repo, tmp_path: Path) -> None:
    """SIGINT reaches the main thread while it waits and four workers hold half-written temp files; the
    workers are waited for (no thread is left running) and nothing stays at the target."""
    files, descs = _model(repo, _layers(8))
    barrier = threading.Barrier(4, timeout=WAIT)
    interrupted, returned = threading.Event(), threading.Event()
    late: list[int] = []  # workers still reading after write_files returned
    main = threading.main_thread().ident
    assert main == threading.get_ident()

    class Interrupting(Hooked):
        def on_read(self, i: int, n: int) -> None:
            if n == 1 and i < 4:
                if barrier.wait() == 0:
                    signal.pthread_kill(main, signal.SIGINT)  # type: ignore[arg-type]
                assert interrupted.wait(WAIT)
                if returned.wait(0.2):  # a grace period, not a timing assertion: waited for, it always ends
                    late.append(i)

    def handler(signum: int, frame: object) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            write_files(Interrupting(repo, descs), files, tmp_path / "out", concurrency=4)
    finally:
        signal.signal(signal.SIGINT, previous)
        returned.set()
    running = [t for t in threading.enumerate() if t.name.startswith("modelcrate-unpack")]
    for t in running:
        t.join(WAIT)
    assert interrupted.is_set()
    assert not running and not late, "workers were not waited for"
    _nothing_left(tmp_path, tmp_path / "out")


def test_after_abort_a_late_writer_makes_no_file_and_no_directory(tmp_path: Path) -> None:
    stage = _Stage(tmp_path / "out", force=False)
    stage.abort()
    with pytest.raises(_Stopped):
        stage.write("a/b.bin", io.BytesIO(b"x"), 0o644, slot=0)
    assert not (tmp_path / "out").exists()


def test_progress_never_sees_one_digest_fetched_twice_at_once(repo, tmp_path: Path) -> None:
    """Progress bars key on the digest: paths sharing one blob are fetched one after the other."""
    layers = _layers(4) + [Layer(f"copy{i}.bin", b"same" * 5000) for i in range(4)]
    files, descs = _model(repo, layers)
    barrier = threading.Barrier(2, timeout=WAIT)

    class Slow(Hooked):
        def on_read(self, i: int, n: int) -> None:
            if n == 0 and i in (4, 5):  # would meet if copy0 and copy1 were fetched at once
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(timeout=0.5)

    progress = Recording()
    result = write_files(Watched(Slow(repo, descs), progress), files, tmp_path / "out", concurrency=8)  # type: ignore[arg-type]
    assert progress.clashes == 0 and not progress.active
    assert progress.bytes == sum(size for _p, size in result.files)


def test_a_rerun_keeps_identical_files_raw_and_tar_without_rewriting_them(repo, tmp_path: Path) -> None:
    put_model(repo, [Layer("a.bin", b"raw bytes"), _tar_layer([(reg("dir/x.txt"), b"member bytes")])])
    out = tmp_path / "out"
    unpack(repo, "t", out)
    inodes = {p: (out / p).stat().st_ino for p in ("a.bin", "dir/x.txt")}
    again = unpack(repo, "t", out)
    assert sorted(again.unchanged) == ["a.bin", "dir/x.txt"]
    assert {p: (out / p).stat().st_ino for p in inodes} == inodes  # left as they were, not renamed over
    assert sorted(p.name for p in out.rglob("*")) == ["a.bin", "dir", "x.txt"]  # no temp file left


def test_a_symlink_where_a_file_goes_is_never_followed_even_to_the_same_bytes(repo, tmp_path: Path) -> None:
    put_model(repo, [Layer("a.bin", b"raw bytes")])
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"raw bytes")  # what the layer holds: a digest check through the link would pass
    (out / "a.bin").symlink_to(outside)
    with pytest.raises(AlreadyExists, match="not a regular file"):
        unpack(repo, "t", out)
    unpack(repo, "t", out, force=True)  # replaces the link itself
    assert not (out / "a.bin").is_symlink() and (out / "a.bin").read_bytes() == b"raw bytes"
    assert outside.read_bytes() == b"raw bytes" and not outside.is_symlink()


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_model_file_named_as_another_files_partial_download_is_refused(repo, tmp_path: Path,
                                                                         concurrency: int) -> None:
    """Partial downloads have names of their own beside their files; an artifact that names one of them
    would have its bytes renamed over the other file's."""
    data = os.urandom(5_000)
    partial = f".a.bin.{Descriptor.of('application/octet-stream', data).digest.split(':')[1]}.partial"
    files, _descs = _model(repo, [Layer("a.bin", data), Layer(partial, os.urandom(5_000))])
    with pytest.raises(UnsafePath, match="twice"):
        write_files(repo, files, tmp_path / "out", concurrency=concurrency)
    _nothing_left(tmp_path, tmp_path / "out")


def test_an_empty_file_is_written(repo, tmp_path: Path) -> None:
    files, _descs = _model(repo, [Layer("pkg/__init__.py", b""), Layer("w.bin", os.urandom(3_000))])
    result = write_files(repo, files, tmp_path / "out", concurrency=2)
    assert (tmp_path / "out" / "pkg" / "__init__.py").read_bytes() == b""
    assert sorted(result.files) == [("pkg/__init__.py", 0), ("w.bin", 3_000)]
    assert not [p for p in tmp_path.rglob("*.partial")]
