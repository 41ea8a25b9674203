"""A private registry:2 filled with a few dozen generated models (versions, stages, lineage)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from modelcrate.config import Config
from modelcrate.content.remote import RegistryClient, RemoteSettings, RetryPolicy
from modelcrate.format.descriptor import Descriptor
from tests.support.models import metadata, push_model
from tests.support.registry import RegistryProcess, require_registry

FAST = RemoteSettings(retry=RetryPolicy(attempts=2, backoff=0.01, cap=0.05))
# For operations that only talk to registries: the local store is never opened.
FAST_CONFIG = Config(Path(tempfile.gettempdir()) / "modelcrate-tests-no-store", remote=FAST)
COUNT = 36
STAGED = {0: ["production"], 1: ["production"], 2: ["staging"], 3: ["staging", "dev"], 4: ["dev"]}


@dataclass
class Populated:
    registry: RegistryProcess
    models: dict[str, tuple[dict[str, Any], Descriptor, list[str]]] = field(default_factory=dict)  # repo → …

    @property
    def host(self) -> str:
        return self.registry.host

    def client(self) -> RegistryClient:
        return RegistryClient(self.host, FAST)


def repo_of(i: int) -> str:
    return f"{'team-a' if i % 2 else 'team-b'}/model-{i:04d}"


@pytest.fixture(scope="module")
def populated() -> Iterator[Populated]:
    reg = RegistryProcess(binary=require_registry()).start()
    out = Populated(reg)
    client = RegistryClient(reg.host, FAST)
    try:
        for i in range(COUNT):
            meta = metadata(i)
            tags = [meta["version"], *STAGED.get(i, [])]
            desc = push_model(client.repository(repo_of(i), push=True), meta, tags)
            out.models[repo_of(i)] = (meta, desc, tags)
        # lineage: base ← ft (by tag) ← ft2 (by digest)
        base_meta = metadata(100, name="base")
        base = push_model(client.repository("lineage/base", push=True), base_meta, ["1.0"])
        ft_meta = metadata(101, name="ft", lineage={"base_model": f"{reg.host}/lineage/base:1.0",
                                                    "base_model_relation": "finetune"})
        ft = push_model(client.repository("lineage/ft", push=True), ft_meta, ["1.0", "production"])
        ft2_meta = metadata(102, name="ft2", lineage={"base_model": f"{reg.host}/lineage/ft@{ft.digest}",
                                                      "base_model_relation": "quantized",
                                                      "datasets": [{"name": "incident-data",
                                                                    "uri": "s3://bucket/incident.parquet"}]})
        ft2 = push_model(client.repository("lineage/ft2", push=True), ft2_meta, ["1.0"])
        for repo, meta, desc, tags in (("lineage/base", base_meta, base, ["1.0"]),
                                       ("lineage/ft", ft_meta, ft, ["1.0", "production"]),
                                       ("lineage/ft2", ft2_meta, ft2, ["1.0"])):
            out.models[repo] = (meta, desc, tags)
        yield out
    finally:
        client.close()
        reg.stop()
