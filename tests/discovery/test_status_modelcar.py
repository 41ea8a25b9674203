"""status shows the modelcar images linked to each version: read from the model's referrers, checked,
bounded, verified where signed, and never a reason to fail."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from modelcrate import lifecycle, signatures
from modelcrate.config import Config
from modelcrate.content import referrers
from modelcrate.content.remote import RegistryClient
from modelcrate.format import canonical
from modelcrate.format.descriptor import Descriptor, build_manifest
from modelcrate.format.mediatypes import OCI_MANIFEST
from modelcrate.serving.linked import MAX_OPENED
from modelcrate.serving.modelcar import ANN_MODEL, OCI_CONFIG, export_modelcar
from modelcrate.signing import keys
from tests.discovery.conftest import FAST
from tests.support.images import base_image
from tests.support.models import metadata, push_model

pytestmark = pytest.mark.registry

KEY = keys.generate()
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def pushed(registry_factory, tmp_path: Path):
    reg = registry_factory()
    client = RegistryClient(reg.host, FAST)
    try:
        base_repo = client.repository("st/base", push=True)
        base = base_image(base_repo, {"bin/sh": b"#!not really a shell\n"})
        repo = client.repository("st/model", push=True)
        one = push_model(repo, metadata(1, version="1.0"), ["1.0"])
        two = push_model(repo, metadata(2, version="2.0"), ["2.0"])
        car = export_modelcar(repo, one, base_repo, base, repo, "1.0-modelcar", workdir=tmp_path)
        untagged = export_modelcar(repo, two, base_repo, base, repo, None, workdir=tmp_path, big_file=1)
        yield reg, client, repo, {"one": one, "two": two, "car": car.descriptor, "untagged": untagged.descriptor}
    finally:
        client.close()


def _status(reg, **kw) -> lifecycle.overview.Status:
    ctx = lifecycle.Context(Config(Path("/nonexistent-store"), remote=FAST), FAST)
    return lifecycle.status(f"{reg.host}/st/model", ctx=ctx, **kw)


def test_each_version_lists_its_modelcars_and_where_they_were_pushed(pushed) -> None:
    reg, _client, _repo, d = pushed
    status = _status(reg)
    rows = {v.tag: v for v in status.versions}
    assert set(rows) == {"1.0", "2.0"}, "the modelcar's tag is shown under its model, not as a version"
    [car] = rows["1.0"].modelcars
    assert (car.digest, car.references, car.signatures, car.verified) == (
        d["car"].digest, (f"{reg.host}/st/model:1.0-modelcar",), (), False)
    assert car.layers == 2  # the base layer and one layer of the model's single small file
    [loose] = rows["2.0"].modelcars
    assert loose.references == (f"{reg.host}/st/model@{d['untagged'].digest}",)
    shape = status.to_dict()["versions"][0]["modelcars"][0]
    assert set(shape) == {"digest", "size", "layers", "created", "references", "signatures", "verified"}


def test_a_signed_modelcar_shows_its_verified_signer_and_an_unsigned_one_none(pushed) -> None:
    reg, _client, repo, d = pushed
    signatures.sign(repo, d["car"], "st/model", signatures.KeySigner(KEY), created=NOW)
    other = keys.generate()
    signatures.sign(repo, d["untagged"], "st/model", signatures.KeySigner(other), created=NOW)
    rows = {v.tag: v for v in _status(reg, verifier=signatures.KeyVerifier(KEY.public_key())).versions}
    [car] = rows["1.0"].modelcars
    assert car.verified and len(car.signatures) == 1 and car.signatures[0].startswith("key")
    [loose] = rows["2.0"].modelcars
    assert loose.verified and loose.signatures == (), "a signature by a key nobody trusts shows nothing"


def _fake_image(repo, subject: Descriptor, model_digest: str, *, config_type: str = OCI_CONFIG,
                note: str = "") -> Descriptor:
    config = canonical.dumps({"rootfs": {"type": "layers", "diff_ids": []}, "note": note})
    config_desc = Descriptor.of(config_type, config)
    repo.push(config_desc, io.BytesIO(config))
    raw = build_manifest(config_desc, [], annotations={ANN_MODEL: model_digest},
                         subject=Descriptor(subject.media_type, subject.digest, subject.size))
    desc = Descriptor(OCI_MANIFEST, Descriptor.of(OCI_MANIFEST, raw).digest, len(raw), {ANN_MODEL: model_digest},
                      config_type)
    repo.push(desc, io.BytesIO(raw))
    referrers.register(repo, subject, desc)
    return desc


def test_listing_entries_that_do_not_carry_the_model_are_left_out(pushed) -> None:
    reg, _client, repo, d = pushed
    _fake_image(repo, d["one"], d["two"].digest)  # says it carries another model
    _fake_image(repo, d["one"], d["one"].digest, config_type="application/vnd.example.config+json")
    wrong_size = Descriptor(OCI_MANIFEST, d["car"].digest, d["car"].size + 7, {ANN_MODEL: d["one"].digest}, OCI_CONFIG)
    referrers.register(repo, d["one"], wrong_size)  # listed with a size its bytes do not have
    rows = {v.tag: v for v in _status(reg).versions}
    assert [m.digest for m in rows["1.0"].modelcars] == [d["car"].digest]


def test_a_flood_of_listed_modelcars_is_read_only_so_far(pushed) -> None:
    reg, _client, repo, d = pushed
    for i in range(MAX_OPENED + 4):
        _fake_image(repo, d["two"], d["two"].digest, note=str(i))
    rows = {v.tag: v for v in _status(reg).versions}
    assert len(rows["2.0"].modelcars) == MAX_OPENED  # the real one and the fakes both count: all carry it


def test_status_json_lists_modelcars(pushed, run_cli) -> None:
    reg, *_ = pushed
    r = run_cli("status", f"{reg.host}/st/model", "--json")
    assert r.returncode == 0, r.stderr
    versions = {v["tag"]: v for v in json.loads(r.stdout)["versions"]}
    assert versions["1.0"]["modelcars"][0]["references"] == [f"{reg.host}/st/model:1.0-modelcar"]
    table = run_cli("status", f"{reg.host}/st/model")
    assert "MODELCARS" in table.stdout and "1.0-modelcar" in table.stdout


def test_each_listing_is_read_once_per_version(pushed) -> None:
    """Signatures, approvals, deprecations and modelcars all come from one read of the referrers tag."""
    reg, _client, repo, d = pushed
    signatures.sign(repo, d["one"], "st/model", signatures.KeySigner(KEY), created=NOW)
    lines: list[str] = []
    remote = dataclasses.replace(FAST, trace=lines.append)
    ctx = lifecycle.Context(Config(Path("/nonexistent-store"), remote=remote), remote)
    lifecycle.status(f"{reg.host}/st/model", ctx=ctx, verifier=signatures.KeyVerifier(KEY.public_key()))
    for model in (d["one"], d["two"]):
        tag = "manifests/" + model.digest.replace(":", "-")
        assert sum(1 for line in lines if line.split()[1].endswith(tag)) == 1, model.digest
