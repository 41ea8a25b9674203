"""Fixtures for the lifecycle tests: real keys, a policy file naming them, packed model versions, and a
:class:`~modelcrate.lifecycle.Context` whose clock the test moves."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from modelcrate import api, signatures, transfer
from modelcrate.content.remote import RegistryClient, RemoteSettings, RetryPolicy, Timeout
from modelcrate.content.target import Target
from modelcrate.format.descriptor import Descriptor
from modelcrate.lifecycle import Context
from modelcrate.lifecycle.policy_gate import PolicyGate
from modelcrate.settings import Settings
from modelcrate.signing import keys
from modelcrate.signing.approval import APPROVAL_V1, approval_predicate

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny-classifier"
NAMES = ("release", "alice", "bob", "carol", "mallory")

POLICY = """\
stages:
  staging: {}
  production:
    from: [staging]
    signatures: [{key: keys/release.pub}]
    attestations: [https://modelcrate.dev/evaluation/v1]
    metrics: ["accuracy >= 0.92"]
    approvals: {count: 2, keys: [keys/alice.pub, keys/bob.pub, keys/carol.pub], distinct_from_signer: true}
    promoters: [{key: keys/alice.pub}, {key: keys/bob.pub}]
    licenses: [apache-2.0, mit]
"""


@dataclass
class Clock:
    now: dt.datetime = T0

    def tick(self, minutes: int = 10) -> dt.datetime:
        self.now += dt.timedelta(minutes=minutes)
        return self.now


@dataclass
class World:
    """Keys, the policy, the clock, and where models live (the local store or a registry)."""

    home: Path
    tmp: Path
    keys: dict[str, keys.PrivateKey]
    clock: Clock
    remote: RemoteSettings | None = None
    registry: str | None = None
    repo: str = "life/model"
    counter: list[int] = field(default_factory=lambda: [0])

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repo}" if self.registry else self.repo

    def ctx(self) -> Context:
        return Context(self.config(), self.remote, self.clock.now)

    def config(self) -> Settings:
        return Settings(self.home, remote=self.remote)

    def signer(self, who: str) -> signatures.KeySigner:
        return signatures.KeySigner(self.keys[who])

    def verifier(self, *who: str) -> signatures.Verifier:
        return signatures.AnyOf(tuple(signatures.KeyVerifier(self.keys[w].public_key()) for w in who))

    def gate(self, text: str = POLICY) -> PolicyGate:
        path = self.tmp / f"policy-{self.counter[0]}.yaml"
        self.counter[0] += 1
        path.write_text(text)
        return PolicyGate.load(str(path))

    def target(self) -> Target:
        if self.registry is None:
            return api.open_store(Settings(self.home)).repository(self.repo)
        return RegistryClient(self.registry, self.remote).repository(self.repo, push=True)

    def pack(self, version: str, accuracy: float = 0.95, license_: str = "Apache-2.0") -> Descriptor:
        """Pack (and push) the example model as VERSION with the given accuracy; its descriptor."""
        src = self.tmp / f"model-{version}"
        shutil.copytree(EXAMPLE, src)
        yaml = (src / "modelcrate.yaml").read_text()
        yaml = yaml.replace("version: 1.0.0", f"version: {version}").replace("license: Apache-2.0",
                                                                               f"license: {license_}")
        yaml = re.sub(r"name: accuracy, value: [0-9.]+", f"name: accuracy, value: {accuracy}", yaml)
        (src / "modelcrate.yaml").write_text(yaml)
        ref = f"{self.name}:{version}"
        packed = api.pack(src, ref, config=Settings(self.home))
        if self.registry is not None:
            transfer.push(ref, config=Settings(self.home), remote=self.remote)
        return packed.descriptor

    def sign(self, desc: Descriptor, who: str = "release") -> None:
        signatures.sign(self.target(), desc, self.name, self.signer(who), created=self.clock.now)

    def attest_evaluation(self, desc: Descriptor, accuracy: float, who: str = "release") -> None:
        predicate = {"metrics": [{"name": "accuracy", "value": accuracy, "dataset": "toy-sentiment"}],
                     "created": "2026-03-01T08:00:00Z"}
        signatures.attest(self.target(), desc, self.name, self.signer(who), "evaluation", predicate,
                          created=self.clock.now)

    def approve(self, desc: Descriptor, who: str, stage: str = "production", decision: str = "approve") -> None:
        predicate = approval_predicate(stage=stage, decision=decision, subject_digest=desc.digest,
                                       actor=self.signer(who).description, time=self.clock.tick(1))
        signatures.attach_record(self.target(), desc, self.name, self.signer(who), APPROVAL_V1, predicate,
                                 created=self.clock.now)

    def ready(self, version: str, accuracy: float = 0.95) -> Descriptor:
        """A version that meets the production rules: signed, attested, approved by bob and carol."""
        desc = self.pack(version, accuracy)
        self.sign(desc)
        self.attest_evaluation(desc, accuracy)
        self.approve(desc, "bob")
        self.approve(desc, "carol")
        return desc


@pytest.fixture(scope="session")
def key_set() -> dict[str, keys.PrivateKey]:
    return {n: keys.generate("ecdsa-p256") for n in NAMES}


def _world(tmp_path: Path, home: Path, key_set: dict[str, keys.PrivateKey]) -> World:
    (tmp_path / "keys").mkdir()
    for n, k in key_set.items():
        (tmp_path / "keys" / f"{n}.pub").write_bytes(keys.public_pem(k))
    return World(home, tmp_path, key_set, Clock())


@pytest.fixture
def local_world(tmp_path: Path, home: Path, key_set: dict[str, keys.PrivateKey]) -> World:
    return _world(tmp_path, home, key_set)


@pytest.fixture
def registry_world(tmp_path: Path, home: Path, key_set, registry, request, monkeypatch) -> World:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    w = _world(tmp_path, home, key_set)
    w.registry = registry.host
    w.remote = RemoteSettings(docker_config=tmp_path / "docker-config", retry=RetryPolicy(attempts=3, backoff=0.02),
                              timeout=Timeout(connect=5, read=20))
    w.repo = "life/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:60].strip("-")
    return w


@pytest.fixture(params=["local", "registry"])
def world(request) -> World:
    """The same test on the local store and on a real registry:2."""
    if request.param == "registry":
        request.applymarker(pytest.mark.registry)
    return request.getfixturevalue(f"{request.param}_world")


WorldFactory = Callable[[], World]
