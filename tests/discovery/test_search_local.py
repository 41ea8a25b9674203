"""search --local: the embedded store is one more source for the same index."""

from __future__ import annotations

import json
from pathlib import Path

from modelcrate.content.layout import LocalStore
from modelcrate.index import search as S
from modelcrate.config import Config as Settings
from tests.support.models import metadata, push_model


def test_local_store_search(store: LocalStore, settings: Settings, tmp_path: Path, run_cli) -> None:
    for i in range(6):
        push_model(store.repository(f"local/m{i}"), metadata(i), [f"1.{i}", *(["production"] if i < 2 else [])])
    index = tmp_path / "index.sqlite"
    hits = S.search(local=True, index=index, config=settings,
                    where="stages = 'production' or license = 'gpl-3.0-only'")
    assert sorted(m.reference for m in hits) == ["local/m0:1.0", "local/m1:1.1", "local/m4:1.4"]
    assert S.search("local/m", local=True, index=index, config=settings, offline=True, filters=S.Filters(
        name="model-000[23]")) and len(S.search(local=True, index=index, config=settings, offline=True)) == 6
    # a model removed from the store disappears from the next refresh
    store.remove_ref("local/m5:1.5")
    assert len(S.search(local=True, index=index, config=settings)) == 5
    r = run_cli("search", "--local", "--framework", "pytorch", "--json",
                env={"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert r.returncode == 0, r.stderr
    assert sorted(m["reference"] for m in json.loads(r.stdout)) == ["local/m0:1.0", "local/m4:1.4"]


def test_hostile_and_foreign_manifests(store: LocalStore, settings: Settings, tmp_path: Path) -> None:
    """A manifest that is not a model is remembered as such (not fetched again, never listed); metadata
    nested absurdly deep is bounded; a model whose metadata fails the schema is listed without fields."""
    import io

    from modelcrate.format.descriptor import Descriptor, build_manifest
    from modelcrate.format.mediatypes import OCI_MANIFEST
    from modelcrate.index.db import IndexDB

    repo = store.repository("odd/image")
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    config_desc = Descriptor.of("application/vnd.oci.image.config.v1+json", config)
    repo.push(config_desc, io.BytesIO(config))
    raw = build_manifest(config_desc, [])
    image = Descriptor.of(OCI_MANIFEST, raw)
    repo.push(image, io.BytesIO(raw))
    repo.tag(image, "1")
    deep: dict = {}
    node = deep
    for _ in range(50):  # deeper than the index searches (32), within what the metadata parser accepts (64)
        node["x"] = {}
        node = node["x"]
    push_model(store.repository("odd/deep"), metadata(1, extra={"wide": list(range(30_000)), "deep": deep}), ["1"])
    index = tmp_path / "index.sqlite"
    with IndexDB(index) as db:
        first = S.update(db, S.Scope("local"), config=settings)
        again = S.update(db, S.Scope("local"), config=settings)
        rows = db.conn.execute("SELECT COUNT(*) FROM fields").fetchone()[0]
    assert (first.fetched, again.fetched) == (2, 0)
    assert rows <= 20_000 + 100
    hits = S.search(local=True, index=index, config=settings, offline=True)
    assert [m.repository for m in hits] == ["odd/deep"]
    assert S.search(local=True, index=index, config=settings, offline=True, where="extra.wide = 5")
