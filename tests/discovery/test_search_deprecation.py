"""search --deprecated from signed lifecycle records: verified as status verifies them, failing closed,
and cheap to keep up to date (a listing is read again only when its digest changes)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest

from modelcrate import signatures
from modelcrate.config import Config
from modelcrate.content.referrers import attach, fallback_tag
from modelcrate.content.remote import RegistryClient
from modelcrate.index import search as S
from modelcrate.index.db import IndexDB
from modelcrate.lifecycle.deprecation import deprecate
from modelcrate.lifecycle.records import DEPRECATION_V1
from modelcrate.signatures import ANN_PREDICATE_TYPE, BUNDLE_MEDIA_TYPE
from modelcrate.signing import keys
from tests.discovery.conftest import FAST, FAST_CONFIG
from tests.support.models import metadata, push_model

pytestmark = pytest.mark.registry

TRUSTED, OTHER = keys.generate(), keys.generate()
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


class Trace:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def take(self) -> list[str]:
        out = list(self.lines)
        self.lines.clear()
        return out


@pytest.fixture
def world(registry_factory, tmp_path: Path):
    """Five models: one deprecated by a trusted key, one retired after a deprecation, one deprecated by a
    key nobody trusts, one with a forged bundle, one only signed (no deprecation)."""
    reg = registry_factory()
    client = RegistryClient(reg.host, FAST)
    trace = Trace()
    config = Config(FAST_CONFIG.home, remote=dataclasses.replace(FAST, trace=trace.lines.append))
    descs = {}
    try:
        for i, name in enumerate(("good", "retired", "untrusted", "forged", "signed", "plain")):
            repo = client.repository(f"dep/{name}", push=True)
            descs[name] = push_model(repo, metadata(i, version="1.0.0"), ["1.0.0"])
        trusted, other = signatures.KeySigner(TRUSTED), signatures.KeySigner(OTHER)

        def dep(name: str, signer, **kw) -> None:
            deprecate(client.repository(f"dep/{name}", push=True), descs[name], f"dep/{name}", signer,
                      created=kw.pop("created", NOW), **kw)

        dep("good", trusted, reason="superseded by 2.0", successor="dep/good:2.0")
        dep("retired", trusted, reason="old")
        dep("retired", trusted, reason="broken weights", status="retired", created=NOW + dt.timedelta(hours=1))
        dep("untrusted", other, reason="someone else says so")
        attach(client.repository("dep/forged", push=True), descs["forged"], artifact_type=BUNDLE_MEDIA_TYPE,
               blob=b'{"not": "a bundle"}', blob_media_type=BUNDLE_MEDIA_TYPE,
               annotations={ANN_PREDICATE_TYPE: DEPRECATION_V1})
        signatures.sign(client.repository("dep/signed", push=True), descs["signed"], "dep/signed", trusted,
                        created=NOW)
        yield reg, client, config, trace, descs
    finally:
        client.close()


def _deprecated(hits) -> dict[str, str | None]:
    return {m.repository.split("/")[1]: m.deprecation for m in hits}


def test_only_verified_records_deprecate_and_the_rest_is_reported(world, tmp_path: Path) -> None:
    reg, _client, config, _trace, _descs = world
    verifier = signatures.KeyVerifier(TRUSTED.public_key())
    reports = []
    hits = S.search(reg.host, index=tmp_path / "i.sqlite", config=config, verifier=verifier, report=reports.append)
    found = _deprecated(hits)
    assert found == {"good": "deprecated: superseded by 2.0", "retired": "retired: broken weights",
                     "untrusted": None, "forged": None, "signed": None, "plain": None}
    assert [m.repository for m in S.search(reg.host, index=tmp_path / "i.sqlite", config=config, verifier=verifier,
                                           filters=S.Filters(deprecated=True))] == ["dep/good", "dep/retired"]
    stats = reports[0]
    not_counted = "\n".join(stats.not_counted)
    assert "dep/untrusted@" in not_counted and "dep/forged@" in not_counted
    assert "dep/good@" not in not_counted and "dep/signed@" not in not_counted and "dep/plain@" not in not_counted
    # the signed-only model's signature bundle is never opened: its listing names no deprecation
    assert stats.deprecations_read == 5  # every model with a referrers tag; plain has none


def test_without_a_verifier_nothing_counts_and_each_claim_is_said(world, tmp_path: Path) -> None:
    reg, _client, config, _trace, _descs = world
    reports = []
    hits = S.search(reg.host, index=tmp_path / "i.sqlite", config=config, report=reports.append)
    assert not any(m.deprecated for m in hits)
    lines = reports[0].not_counted
    assert {line.split("@")[0] for line in lines} == {f"{reg.host}/dep/{n}" for n in ("good", "retired", "untrusted",
                                                                                     "forged")}
    assert all("no key or policy" in line for line in lines)
    # trusting a key later reads the records again: the answer was kept for "nobody trusted"
    again = S.search(reg.host, index=tmp_path / "i.sqlite", config=config,
                     verifier=signatures.KeyVerifier(TRUSTED.public_key()))
    assert _deprecated(again)["good"] == "deprecated: superseded by 2.0"


def test_a_warm_refresh_heads_each_listing_and_reads_only_what_changed(world, tmp_path: Path) -> None:
    reg, client, config, trace, descs = world
    verifier = signatures.KeyVerifier(TRUSTED.public_key())
    with IndexDB(tmp_path / "i.sqlite") as db:
        scope = S.Scope(reg.host, "dep")
        cold = S.update(db, scope, config=config, verifier=verifier)
        cold_requests = trace.take()
        warm = S.update(db, scope, config=config, verifier=verifier)
        warm_requests = trace.take()
        assert (cold.deprecations_read, warm.deprecations_read) == (5, 0)
        referrer_tags = [r for r in warm_requests if re.search(r"/manifests/sha256-", r)]
        assert len(referrer_tags) == 5 and all(r.startswith("HEAD ") for r in referrer_tags)
        # 1 catalog + 6 tag lists + 1 referrers-API probe + 5 HEADs of referrers tags; nothing fetched again
        assert len(warm_requests) == 13, warm_requests
        assert not any(r.startswith("GET ") and "/manifests/" in r or "/blobs/" in r for r in warm_requests)
        assert len(cold_requests) > len(warm_requests)

        deprecate(client.repository("dep/plain", push=True), descs["plain"], "dep/plain",
                  signatures.KeySigner(TRUSTED), reason="replaced", created=NOW)
        deprecate(client.repository("dep/signed", push=True), descs["signed"], "dep/signed",
                  signatures.KeySigner(TRUSTED), reason="also replaced", created=NOW)
        changed = S.update(db, scope, config=config, verifier=verifier)
        assert changed.deprecations_read == 2
        hits = S.query(db, scope, filters=S.Filters(deprecated=True))
        assert [m.repository for m in hits] == ["dep/good", "dep/plain", "dep/retired", "dep/signed"]


def test_a_hostile_referrers_tag_is_skipped_never_fatal(world, tmp_path: Path) -> None:
    """The referrers tag of a model holds a model manifest instead of an index: reported, not counted."""
    reg, client, config, _trace, descs = world
    repo = client.repository("dep/plain", push=True)
    repo.tag(descs["plain"], fallback_tag(descs["plain"].digest))
    reports = []
    hits = S.search(reg.host, index=tmp_path / "i.sqlite", config=config, report=reports.append,
                    verifier=signatures.KeyVerifier(TRUSTED.public_key()))
    assert _deprecated(hits)["plain"] is None and _deprecated(hits)["good"]
    assert any("dep/plain@" in line and "not an index" in line for line in reports[0].not_counted)


def test_local_store_models_are_deprecated_the_same_way(tmp_path: Path) -> None:
    from modelcrate.content.layout import LocalStore

    config = Config(tmp_path / "store")
    store = LocalStore(config.home)
    target = store.repository("local/dep")
    desc = push_model(target, metadata(7, version="1.0.0"), ["1.0.0"])
    deprecate(target, desc, "local/dep", signatures.KeySigner(TRUSTED), reason="gone", created=NOW)
    hits = S.search(local=True, index=tmp_path / "i.sqlite", config=config,
                    verifier=signatures.KeyVerifier(TRUSTED.public_key()))
    assert [(m.repository, m.deprecation) for m in hits] == [("local/dep", "deprecated: gone")]


def test_cli_search_deprecated_with_a_key_and_the_warning(world, run_cli, tmp_path: Path) -> None:
    reg, *_ = world
    pub = tmp_path / "trusted.pub"
    pub.write_bytes(keys.public_pem(TRUSTED.public_key()))
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = run_cli("search", f"{reg.host}/dep", "--deprecated", "--key", str(pub), env=env)
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == [f"{reg.host}/dep/good:1.0.0",
                                                                       f"{reg.host}/dep/retired:1.0.0"]
    assert "warning: 2 deprecation record(s) not counted" in r.stderr and "dep/untrusted@" in r.stderr
    plain = run_cli("search", f"{reg.host}/dep", "--deprecated", env=env)
    assert plain.returncode == 0 and plain.stdout == "" and "no key or policy" in plain.stderr
