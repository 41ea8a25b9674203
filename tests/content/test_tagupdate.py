"""update_tag: read-modify-write of one tag, exact under the local store's lock, raced on a real registry:2.

The invariant in every test: a writer's change survives in what the tag names at the end, or that
writer got LostRace. A change is never silently lost.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from modelcrate.content.layout import LocalStore
from modelcrate.content.remote import RegistryClient, RemoteSettings, RetryPolicy, Timeout
from modelcrate.content.tagupdate import LostRace, TagUpdate, update_tag
from modelcrate.content.target import Target
from modelcrate.content.verify import read_all
from modelcrate.format import digest as _digest
from modelcrate.format.descriptor import Descriptor, build_index, build_manifest, parse_index
from modelcrate.format.mediatypes import EMPTY_JSON, MAX_MANIFEST_BYTES, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST

TAG = "members"


def _member(target: Target, label: str) -> Descriptor:
    """A small manifest that stands for one writer's change."""
    target.push(Descriptor.of(OCI_EMPTY, EMPTY_JSON), io.BytesIO(EMPTY_JSON))
    raw = build_manifest(Descriptor.of(OCI_EMPTY, EMPTY_JSON), [], annotations={"member": label})
    desc = Descriptor(OCI_MANIFEST, _digest.of(raw), len(raw))
    target.push(desc, io.BytesIO(raw))
    return desc


def _members(target: Target, desc: Descriptor | None) -> list[Descriptor]:
    if desc is None:
        return []
    with target.fetch(Descriptor(OCI_INDEX, desc.digest, desc.size)) as f:
        return list(parse_index(read_all(f, desc, MAX_MANIFEST_BYTES)).manifests)


def _adding(target: Target, member: Descriptor, calls: list[Descriptor | None] | None = None
            ) -> Callable[[Descriptor | None], Descriptor | None]:
    """The change "``member`` is in the index at TAG", as the referrers index makes it."""

    def change(now: Descriptor | None) -> Descriptor | None:
        if calls is not None:
            calls.append(now)
        entries = _members(target, now)
        if any(e.digest == member.digest for e in entries):
            return None
        raw = build_index([*entries, member])
        desc = Descriptor(OCI_INDEX, _digest.of(raw), len(raw))
        target.push(desc, io.BytesIO(raw))
        return desc

    return change


def _race(target: Target, writers: int, rounds: int) -> tuple[list[Descriptor], list[Descriptor], list[TagUpdate]]:
    """``writers`` threads each add ``rounds`` members, all starting each round together.
    Returns (members that got LostRace, members that did not, the updates that returned)."""
    barrier = threading.Barrier(writers)
    lost: list[Descriptor] = []
    done: list[Descriptor] = []
    updates: list[TagUpdate] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for r in range(rounds):
                member = _member(target, f"w{n}-r{r}")
                barrier.wait(timeout=30)
                try:
                    update = update_tag(target, TAG, _adding(target, member))
                except LostRace:
                    with lock:
                        lost.append(member)
                    continue
                with lock:
                    done.append(member)
                    updates.append(update)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            barrier.abort()

    # The shared empty config goes up once, first: the race under test is the tag's, not two uploads of
    # one blob (registry 2.8.2 can answer "manifest blob unknown" to a manifest PUT racing such uploads).
    target.push(Descriptor.of(OCI_EMPTY, EMPTY_JSON), io.BytesIO(EMPTY_JSON))
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return lost, done, updates


# ---- under the local store's tag lock ---------------------------------------------------------------


def test_local_store_serialises_writers_exactly(tmp_path: Path) -> None:
    repo = LocalStore(tmp_path / "store").repository("team/m")
    lost, done, updates = _race(repo, writers=4, rounds=5)
    assert not lost
    final = {d.digest for d in _members(repo, repo.resolve(TAG))}
    assert final == {d.digest for d in done} and len(final) == 20
    assert all(u.attempts == 1 and u.changed for u in updates)  # the lock leaves no race to retry


def test_nothing_to_change_writes_nothing(tmp_path: Path) -> None:
    repo = LocalStore(tmp_path / "store").repository("team/m")
    member = _member(repo, "one")
    first = update_tag(repo, TAG, _adding(repo, member))
    again = update_tag(repo, TAG, _adding(repo, member))
    assert first.changed and not again.changed and again.descriptor == first.descriptor
    assert update_tag(repo, "absent", lambda now: None) == TagUpdate(None, False, 1)


# ---- a real registry:2, no lock -------------------------------------------------------------------


@pytest.fixture
def remote_target(registry, tmp_path: Path, request: pytest.FixtureRequest) -> Target:
    settings = RemoteSettings(docker_config=tmp_path / "docker-config", retry=RetryPolicy(attempts=3, backoff=0.02),
                              timeout=Timeout(connect=5, read=20))
    name = "tagupdate/" + request.node.name.lower().replace("_", "-")[:60]
    return RegistryClient(registry.host, settings).repository(name, push=True)


@pytest.mark.registry
def test_registry_two_concurrent_writers_lose_nothing(remote_target: Target) -> None:
    lost, done, updates = _race(remote_target, writers=2, rounds=8)
    final = {d.digest for d in _members(remote_target, remote_target.resolve(TAG))}
    # Every change that returned is in the final index; one that is not there must have raised LostRace.
    assert {d.digest for d in done} <= final
    assert len(done) + len(lost) == 16


class _Rival:
    """A real registry Target with another writer that overwrites the tag right after some of our writes."""

    def __init__(self, target: Target, overwrites: int) -> None:
        self._target = target
        self.name = target.name
        self.overwrites = overwrites
        self.rival = _member(target, "rival")

    def __getattr__(self, attr: str):  # fetch, push, exists, resolve: the registry's own
        return getattr(self._target, attr)

    def tag(self, desc: Descriptor, tag: str) -> None:
        self._target.tag(desc, tag)
        if self.overwrites:
            self.overwrites -= 1
            # The rival read the tag before our write and writes its own change after it: ours is gone.
            raw = build_index([self.rival])
            rival_index = Descriptor(OCI_INDEX, _digest.of(raw), len(raw))
            self._target.push(rival_index, io.BytesIO(raw))
            self._target.tag(rival_index, tag)


@pytest.mark.registry
def test_registry_overwritten_write_is_retried_on_the_new_value(remote_target: Target) -> None:
    target = _Rival(remote_target, overwrites=1)
    ours = _member(remote_target, "ours")
    calls: list[Descriptor | None] = []
    update = update_tag(target, TAG, _adding(remote_target, ours, calls), pauses=(0.01, 0.02))  # type: ignore[arg-type]
    assert update.attempts == 2 and update.changed
    assert calls[0] is None and calls[1] is not None  # asked again with what the rival wrote
    final = {d.digest for d in _members(remote_target, remote_target.resolve(TAG))}
    assert final == {ours.digest, target.rival.digest}  # both changes survive


@pytest.mark.registry
def test_registry_writer_that_keeps_losing_raises_lost_race(remote_target: Target) -> None:
    target = _Rival(remote_target, overwrites=99)
    ours = _member(remote_target, "ours")
    with pytest.raises(LostRace, match="concurrent writers kept replacing it") as info:
        update_tag(target, TAG, _adding(remote_target, ours), attempts=3, pauses=(0.01,))  # type: ignore[arg-type]
    assert "run the command again" in info.value.diagnostics()
    assert ours.digest not in {d.digest for d in _members(remote_target, remote_target.resolve(TAG))}
