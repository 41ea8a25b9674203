"""search --local: the embedded store is one more source for the same index."""

from __future__ import annotations

import json
from pathlib import Path

from modelcrate.content.layout import LocalStore
from modelcrate.index import search as S
from modelcrate.settings import Settings
from tests.support.models import metadata, push_model


def test_local_store_search(store: LocalStore, settings: Settings, tmp_path: Path, run_cli) -> None:
    for i in range(6):
        push_model(store.repository(f"local/m{i}"), metadata(i), [f"1.{i}", *(["production"] if i < 2 else [])])
    index = tmp_path / "index.sqlite"
    hits = S.search(local=True, index=index, settings=settings,
                    where="stages = 'production' or license = 'gpl-3.0-only'")
    assert sorted(m.reference for m in hits) == ["local/m0:1.0", "local/m1:1.1", "local/m4:1.4"]
    assert S.search("local/m", local=True, index=index, settings=settings, offline=True, filters=S.Filters(
        name="model-000[23]")) and len(S.search(local=True, index=index, settings=settings, offline=True)) == 6
    # a model removed from the store disappears from the next refresh
    store.remove_ref("local/m5:1.5")
    assert len(S.search(local=True, index=index, settings=settings)) == 5
    r = run_cli("search", "--local", "--framework", "pytorch", "--json",
                env={"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert r.returncode == 0, r.stderr
    assert sorted(m["reference"] for m in json.loads(r.stdout)) == ["local/m0:1.0", "local/m4:1.4"]
