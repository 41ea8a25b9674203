"""The public API of ``import modelcrate``: by reference string, typed, returning small frozen records."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import modelcrate
from modelcrate import results, signatures
from modelcrate.config import DEFAULT_CONCURRENCY, Config
from modelcrate.errors import DigestMismatch, NotFound, SignatureError, UsageError
from modelcrate.signing import keys
from tests.support.artifacts import write_model

PUBLIC = ["attest", "catalog", "copy", "discover", "init", "inspect", "list", "login", "logout", "pack", "pull",
          "push", "resolve", "rm", "sign", "tag", "tags", "unpack", "verify", "verify_attestation"]


@pytest.fixture
def config(home: Path) -> Config:
    return Config(home)


@pytest.fixture
def two_versions(tmp_path: Path, config: Config) -> tuple[str, str]:
    """Digests of team/m:1 and team/m:2, two different models."""
    one = modelcrate.pack(write_model(tmp_path / "a", {"w.bin": b"one"}), "team/m:1", config=config)
    two = modelcrate.pack(write_model(tmp_path / "b", {"w.bin": b"two"}), "team/m:2", config=config)
    return one.digest, two.digest


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_operation_is_documented_and_typed(name: str) -> None:
    fn = getattr(modelcrate, name)
    assert callable(fn) and fn.__doc__ and len(fn.__doc__.strip()) > 20
    sig = inspect.signature(fn)
    assert sig.return_annotation is not inspect.Signature.empty
    assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values())


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError):
        modelcrate.no_such_thing  # noqa: B018
    assert set(PUBLIC) <= set(dir(modelcrate))


def test_result_records_are_frozen() -> None:
    for cls in (results.Packed, results.Listed, results.Resolved, results.TransferResult, results.Signed,
                results.Attested, results.Verification, results.Discovery, results.Unpacked, results.LoginResult):
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]


def test_tag_at_digest_where_the_tag_moved_is_a_mismatch_not_not_found(
        two_versions: tuple[str, str], config: Config) -> None:
    """The registry raised DigestMismatch (exit 1) and the local store NotFound (exit 3): one rule now."""
    one, two = two_versions
    with pytest.raises(DigestMismatch, match=f"team/m:1 is {one}, not {two}") as err:
        modelcrate.resolve(f"team/m:1@{two}", config=config)
    assert not isinstance(err.value, NotFound) and err.value.exit_code == 1
    with pytest.raises(DigestMismatch):
        modelcrate.inspect(f"team/m:1@{two}", config=config)
    # the digest wins when the tag agrees or does not exist
    assert modelcrate.resolve(f"team/m:1@{one}", config=config).digest == one
    assert modelcrate.resolve(f"team/m:gone@{two}", config=config).digest == two


def test_resolve_is_the_one_way_and_pins_name_at_digest(two_versions: tuple[str, str], config: Config) -> None:
    one, _two = two_versions
    found = modelcrate.resolve("team/m:1", config=config)
    assert (found.reference, found.name, found.stage, found.warnings) == (f"team/m@{one}", "team/m", None, ())
    assert found.to_dict()["reference"] == f"team/m@{one}"
    from modelcrate import lifecycle

    assert not hasattr(lifecycle, "resolve")  # a stage resolves with modelcrate.resolve(ref, gate=…)


def test_tag_at_digest_mismatch_exits_1_from_the_cli(two_versions: tuple[str, str], run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    one, two = two_versions
    done = run_cli("inspect", f"team/m:1@{two}")
    assert done.returncode == 1 and "is " + one in done.stderr, done.stderr


def test_sign_verify_discover_attest_by_reference(two_versions: tuple[str, str], config: Config,
                                                  tmp_path: Path) -> None:
    key = keys.generate("ecdsa-p256")
    signer = signatures.KeySigner(key)
    signed = modelcrate.sign("team/m:1", signer, config=config)
    assert signed.digest == two_versions[0] and signed.stored
    pub = tmp_path / "k.pub"
    pub.write_bytes(keys.public_pem(key.public_key()))
    verified = modelcrate.verify("team/m:1", key=pub, config=config)
    assert verified.digest == two_versions[0] and verified.verified[0].predicate_type == signatures.SIGNATURE_TYPE
    with pytest.raises(SignatureError):
        modelcrate.verify("team/m:2", key=pub, config=config)  # signed only team/m:1
    attested = modelcrate.attest("team/m:1", "provenance", signer, workdir=tmp_path, env={}, config=config)
    assert attested.predicate_type == "https://slsa.dev/provenance/v1"
    found = modelcrate.verify_attestation("team/m:1", "provenance", signatures.KeyVerifier(key.public_key()),
                                          config=config)
    assert found.verified[0].predicate_type == attested.predicate_type
    assert found.verified[0].statement is not None
    tree = modelcrate.discover("team/m:1", config=config)
    kinds = {n.kind for n in tree.referrers}
    assert "attestation" in kinds and tree.digest == two_versions[0]
    with pytest.raises(UsageError):
        modelcrate.verify("team/m:1", config=config)  # no verifier named


def test_attest_of_an_unknown_type_needs_a_predicate(two_versions: tuple[str, str], config: Config) -> None:
    with pytest.raises(UsageError, match="needs a predicate"):
        modelcrate.attest("team/m:1", "https://example.com/review/v1", signatures.KeySigner(keys.generate("ed25519")),
                          config=config)


def test_list_tag_rm_unpack(two_versions: tuple[str, str], config: Config, tmp_path: Path) -> None:
    modelcrate.tag("team/m:1", "other/m:prod", config=config)
    assert [(r.name, r.tag) for r in modelcrate.list(config=config)] == [
        ("other/m", "prod"), ("team/m", "1"), ("team/m", "2")]
    out = modelcrate.unpack("other/m:prod", tmp_path / "out", config=config)
    assert out.files == (("w.bin", 3),) and (tmp_path / "out" / "w.bin").read_bytes() == b"one"
    modelcrate.rm("other/m:prod", config=config)
    assert "other/m" not in {r.name for r in modelcrate.list(config=config)}


def test_the_concurrency_default_is_defined_once() -> None:
    assert Config(Path("x")).concurrency == DEFAULT_CONCURRENCY
    from modelcrate.graphcopy import CopyOptions

    assert CopyOptions().concurrency == DEFAULT_CONCURRENCY


def test_config_from_env_reads_only_the_mapping_it_is_given(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SOURCE_DATE_EPOCH": "1700000000", "DOCKER_CONFIG": str(tmp_path / "d")}
    c = Config.from_env(env)
    assert c.home == tmp_path / ".local" / "share" / "modelcrate"
    assert c.source_date_epoch == "1700000000" and c.registry().docker_config == tmp_path / "d"
    assert Config.from_env({**env, "MODELCRATE_HOME": str(tmp_path / "h")}).home == tmp_path / "h"


HEAVY = ("cryptography", "sigstore", "modelcrate.signatures", "modelcrate.transfer", "modelcrate.content.remote")


def _imported_after(code: str, env_home: Path) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={"MODELCRATE_HOME": str(env_home), "PATH": "/usr/bin:/bin", "HOME": str(env_home)})
    assert done.returncode == 0, done.stderr
    import json

    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules for h in HEAVY if m == h or m.startswith(h + ".")}


def test_import_modelcrate_is_cheap(tmp_path: Path) -> None:
    assert not _heavy(_imported_after("import modelcrate", tmp_path))
    assert "modelcrate.api" not in _imported_after("import modelcrate", tmp_path)


@pytest.mark.parametrize("args", [["--help"], ["list"]], ids=["help", "list"])
def test_help_and_list_do_not_import_signing_or_http(args: list[str], tmp_path: Path) -> None:
    code = ("import sys\nfrom modelcrate.cli.main import cli\n"
            f"try:\n    cli({args!r}, prog_name='modelcrate')\nexcept SystemExit as e:\n    assert not e.code, e.code")
    assert not _heavy(_imported_after(code, tmp_path))


def test_an_offline_search_loads_no_http_signing_or_refresh_code(tmp_path: Path) -> None:
    """``search --offline`` answers from the index alone: the registry options it shares with a refresh
    build settings without the HTTP client, and the sync machinery loads only to refresh."""
    code = ("import sys\nfrom modelcrate.cli.main import cli\n"
            "try:\n    cli(['search', '--offline', '--where', 'metrics.accuracy >= 0.9'], prog_name='modelcrate')\n"
            "except SystemExit as e:\n    assert not e.code, e.code")
    loaded = _imported_after(code, tmp_path)
    assert not {"http.client", "ssl", "modelcrate.content.remote.http", "modelcrate.index.sync",
                "modelcrate.signatures", "cryptography"} & loaded
