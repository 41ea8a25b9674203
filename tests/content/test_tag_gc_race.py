"""``tag m:1 m:keep`` racing ``rm m:1``: whichever wins, m:keep never names content GC removed. Tagging holds
the store's GC lock (shared), as every writer does, so GC either runs before it (and the tag is refused:
the manifest is gone) or after it (and keeps what m:keep reaches)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from modelcrate import api
from modelcrate.config import Config
from modelcrate.content.layout import LocalStore
from modelcrate.errors import NotFound
from modelcrate.format.descriptor import successors
from tests.support.artifacts import Layer, put_model

ATTEMPTS = 30


def _complete(store: LocalStore, name: str, tag: str) -> bool:
    """Every blob the tag reaches is in the store."""
    desc = store.repository(name).resolve(tag)
    if not store.has_blob(desc.digest):
        return False
    raw = store.read_small(desc)
    return all(store.has_blob(d.digest) for d in successors(desc, raw))


def test_tag_racing_rm_never_leaves_a_dangling_tag(tmp_path: Path) -> None:
    config = Config(tmp_path / "store")
    store = LocalStore(config.home)
    dangling = tagged = 0
    for attempt in range(ATTEMPTS):
        # Many small blobs make GC's sweep long enough for the tag to land in the middle of it.
        put_model(store.repository("m"), [Layer(f"f{i}.bin", os.urandom(64)) for i in range(12)], tag="1")
        start = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def tag() -> None:
            start.wait()
            try:
                outcome["tag"] = api.tag("m:1", "m:keep", config=config)
            except NotFound as exc:  # rm (and GC) ran first: a clear refusal is a correct outcome
                outcome["tag"] = exc

        def rm() -> None:
            start.wait()
            api.remove("m:1", config=config)

        threads = [threading.Thread(target=tag), threading.Thread(target=rm)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        if not isinstance(outcome.get("tag"), NotFound):
            tagged += 1
            if not _complete(store, "m", "keep"):
                dangling += 1
                break
            api.remove("m:keep", config=config)
    assert dangling == 0, f"m:keep named collected content (attempt {attempt + 1}, {tagged} tagged)"
