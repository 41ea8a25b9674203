"""Opening Targets by reference, and the one rule for resolving ``name:tag@digest``."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcrate.config import Config
from modelcrate.content.layout import LocalRepository, LocalStore
from modelcrate.content.memory import MemoryStore
from modelcrate.content.remote import RegistryTarget, RemoteSettings
from modelcrate.errors import DigestMismatch, NotFound, UsageError
from modelcrate.format.descriptor import Descriptor
from modelcrate.targets import Targets, open_target, resolve
from tests.support.artifacts import plain_manifest


@pytest.fixture
def mem() -> tuple[MemoryStore, Descriptor, Descriptor]:
    m = MemoryStore("team/m")
    one, two = plain_manifest(m, {"note": "one"}), plain_manifest(m, {"note": "two"})
    m.tag(one, "1")
    m.tag(two, "2")
    return m, one, two


def test_tag_digest_and_both(mem) -> None:  # type: ignore[no-untyped-def]
    m, one, two = mem
    assert resolve(m, "team/m:1") == one
    assert resolve(m, f"team/m@{two.digest}") == two
    assert resolve(m, f"team/m:1@{one.digest}") == one
    assert resolve(m, f"team/m:absent@{two.digest}") == two  # the digest wins over a tag that is not there


def test_a_moved_tag_is_a_mismatch_and_a_missing_digest_is_not_found(mem) -> None:  # type: ignore[no-untyped-def]
    m, one, two = mem
    with pytest.raises(DigestMismatch, match=f"team/m:1 is {one.digest}, not {two.digest}"):
        resolve(m, f"team/m:1@{two.digest}")
    with pytest.raises(NotFound):
        resolve(m, "team/m:1@sha256:" + "0" * 64)
    with pytest.raises(NotFound):
        resolve(m, "team/m:3")
    with pytest.raises(NotFound):
        resolve(m, "team/m")  # no tag means latest, which is not there
    m.tag(two, "latest")
    assert resolve(m, "team/m") == two


def test_names_without_a_host_open_the_local_store_and_writers_hold_off_gc(tmp_path: Path) -> None:
    config = Config(tmp_path / "home")
    store = LocalStore(config.home)
    with open_target("team/m:1", config, write=True) as target:
        assert isinstance(target, LocalRepository) and target.name == "team/m"
        assert store.gc() is None  # a writer is open: GC waits
    assert store.gc() is not None


def test_registry_references_share_one_client_per_registry_and_close_it(tmp_path: Path) -> None:
    # No request is sent: opening a repository only prepares the client.
    targets = Targets(Config(tmp_path / "home"), remote=RemoteSettings(docker_config=tmp_path / "docker"))
    a = targets.open("localhost:5999/team/a:1", write=True)
    b = targets.open("localhost:5999/team/b:1", write=False)
    c = targets.open("127.0.0.1:5998/team/c", write=False)
    assert isinstance(a, RegistryTarget) and isinstance(b, RegistryTarget) and isinstance(c, RegistryTarget)
    assert a.client is b.client and a.client is not c.client
    assert sorted(targets.clients) == ["127.0.0.1:5998", "localhost:5999"]
    assert targets.bytes_moved() == (0, 0)
    targets.close()
    assert targets.clients == {}
    # --local forces the store for a name with a host
    with Targets(Config(tmp_path / "home")) as local:
        assert isinstance(local.open("localhost:5999/team/a:1", write=False, local=True), LocalRepository)


def test_registry_only_operations_need_no_store(tmp_path: Path) -> None:
    with Targets(None) as targets:
        with pytest.raises(UsageError, match="no local store"):
            targets.open("team/m:1", write=False)
