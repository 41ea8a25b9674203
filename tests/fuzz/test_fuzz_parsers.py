"""Every parser of untrusted input, fed hostile input: the only failure is a ModelcrateError with a one-line
message, within bounded time and memory (bounds.py). ``make fuzz`` runs the same tests much longer."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings, strategies as st

from modelcrate import signatures
from modelcrate._internal.untrusted_tar import regular_files
from modelcrate.content.memory import MemoryStore
from modelcrate.content.referrers import fallback_tag, list_referrers
from modelcrate.content.remote.auth import Authenticator, Reply, Request, parse_challenges
from modelcrate.content.remote.credentials import Credentials
from modelcrate.content.remote.http import error_detail
from modelcrate.content.remote.listing import next_link
from modelcrate.content.verify import drain
from modelcrate.format import modelfile, untrusted_json
from modelcrate.format.descriptor import Descriptor, parse_index, parse_manifest, successors
from modelcrate.format.mediatypes import MODEL_CONFIG, OCI_INDEX, OCI_MANIFEST
from modelcrate.format.model import read_model
from modelcrate.format.reference import Reference
from modelcrate.signing import keys
from modelcrate.signing.bundle import unverified_statement_of, verify_with_key
from modelcrate.signing.dsse import Envelope
from modelcrate.signing.statement import parse_statement

from .bounds import only_modelcrate_errors
from .strategies import (HEX64, TEXT, bundles, descriptors, envelopes, indexes, mangled, manifests, media_types,
                         statements, tar_archives, values, yaml_texts)

KEY = keys.generate("ed25519").public_key()
SUBJECT = Descriptor(OCI_MANIFEST, "sha256:" + "a" * 64, 100)


@given(st.text(max_size=300) | st.from_regex(r"([a-z0-9.:-]{1,20}/){0,3}[a-z0-9._-]{1,40}(:[\w.-]{0,130})?(@[a-z0-9]+:\w{0,70})?",
                                                fullmatch=True))
def test_references(text: str) -> None:
    def parse() -> None:
        ref = Reference.parse(text)
        str(ref.or_latest())
    only_modelcrate_errors(parse)


@given(mangled(manifests()), st.sampled_from([None, OCI_MANIFEST, OCI_INDEX, "x/y"]))
def test_manifests(data: bytes, media_type: str | None) -> None:
    only_modelcrate_errors(parse_manifest, data, media_type)
    only_modelcrate_errors(read_model, data)
    only_modelcrate_errors(successors, Descriptor(media_type or OCI_MANIFEST, "sha256:" + "0" * 64, len(data)), data)


@given(mangled(indexes()))
def test_indexes(data: bytes) -> None:
    only_modelcrate_errors(parse_index, data)


@given(descriptors() | values)
def test_descriptors(obj: object) -> None:
    only_modelcrate_errors(Descriptor.from_dict, obj)


def _push(store: MemoryStore, media_type: str, data: bytes) -> Descriptor:
    desc = Descriptor.of(media_type, data)
    store.push(desc, io.BytesIO(data))
    return desc


@given(st.lists(mangled(manifests()), max_size=3), mangled(indexes()), st.booleans(), st.data())
def test_referrers_indexes(referrers: list[bytes], index: bytes, fallback_is_index: bool, data: st.DataObject) -> None:
    """A fallback tag holding any index (entries pointing at any manifests, with any sizes) or no index."""
    store = MemoryStore()
    pushed = [_push(store, OCI_MANIFEST, raw) for raw in referrers]
    try:
        obj = untrusted_json.loads(index, max_bytes=1 << 22, what="index")
    except ValueError:
        obj = None
    if isinstance(obj, dict) and pushed:
        obj["manifests"] = [{**d.to_dict(), "size": data.draw(st.sampled_from([d.size, d.size + 1, 0]))} for d in pushed]
        index = json.dumps(obj).encode()
    tagged = _push(store, OCI_INDEX if fallback_is_index else OCI_MANIFEST, index)
    store.tag(tagged, fallback_tag(SUBJECT.digest))
    only_modelcrate_errors(list_referrers, store, SUBJECT)


@given(mangled(bundles()))
def test_sigstore_bundles(data: bytes) -> None:
    only_modelcrate_errors(unverified_statement_of, data)
    result = only_modelcrate_errors(verify_with_key, data, KEY)
    assert not isinstance(result, bytes), "a bundle no one signed verified"


@given(mangled(envelopes()))
def test_dsse_envelopes(data: bytes) -> None:
    only_modelcrate_errors(Envelope.from_json, data)


@given(mangled(statements()), st.booleans())
def test_in_toto_statements(data: bytes, require_predicate: bool) -> None:
    only_modelcrate_errors(parse_statement, data, require_predicate=require_predicate)


@settings(max_examples=max(10, settings().max_examples // 3))  # each example builds a tar: the slowest here
@given(tar_archives(), st.integers(0, 1 << 20))
def test_tar_headers(archive: bytes, declared: int) -> None:
    def read_all_members() -> None:
        for _name, _member, data in regular_files(io.BytesIO(archive), "d", max(declared, len(archive))):
            drain(data)
    only_modelcrate_errors(read_all_members)


_MODELFILE_KEYS = ["name", "version", "files", "description", "license", "authors", "metrics", "lineage",
                   "created", "framework", "unknown"]


@given(yaml_texts(_MODELFILE_KEYS))
def test_modelcrate_yaml(text: str) -> None:
    only_modelcrate_errors(modelfile.parse, text.encode("utf-8", "surrogatepass"))


@given(yaml_texts(["version", "signers", "require", "key", "ca", "keyless"]) | st.binary(max_size=200).map(repr))
def test_policy_files(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "k.pub").write_bytes(keys.public_pem(KEY))
        path = Path(tmp) / "policy.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        only_modelcrate_errors(signatures.load_policy, path)


_CHALLENGES = st.sampled_from(['Bearer realm="https://auth.example/token",service="reg",scope="repository:x:pull"',
                               'Basic realm="r"', "Bearer", 'Bearer realm="ftp://x"', 'Bearer realm="http://127.0.0.1/t"'])


def _drive(challenge: str, body: bytes) -> None:
    """The sans-I/O auth flow answered by a registry that sends ``challenge`` and a token service that
    answers ``body``."""
    auth = Authenticator("registry.example", Credentials("u", "p"))
    flow = auth.flow(Request("GET", "https://registry.example/v2/x/manifests/1"), ["repository:x:pull"])
    request = next(flow)
    try:
        for _ in range(4):
            if request.kind == "token":
                request = flow.send(Reply(200, (), body))
            else:
                request = flow.send(Reply(401, (challenge,)))
    except StopIteration:
        pass


@given(_CHALLENGES, mangled(st.fixed_dictionaries({}, optional={
    "token": TEXT | values, "access_token": TEXT | values, "expires_in": st.integers(-(2**70), 2**70) | values})))
def test_token_responses(challenge: str, body: bytes) -> None:
    only_modelcrate_errors(_drive, challenge, body)


@given(st.lists(_CHALLENGES | st.text(max_size=200), max_size=3))
def test_www_authenticate_headers(values_: list[str]) -> None:
    only_modelcrate_errors(parse_challenges, values_)
    for value in values_:
        only_modelcrate_errors(_drive, value, b'{"token": "t"}')


@given(st.lists(st.text(max_size=200) | st.builds(lambda t, r: f"<{t}>; rel={r}", TEXT, TEXT), max_size=3))
def test_link_headers(values_: list[str]) -> None:
    target = only_modelcrate_errors(next_link, values_)
    assert target is None or isinstance(target, str)


@given(mangled(st.fixed_dictionaries({"errors": st.lists(st.fixed_dictionaries(
    {"code": TEXT | values, "message": TEXT | values}), max_size=3) | values})))
def test_registry_error_bodies(body: bytes) -> None:
    result = only_modelcrate_errors(error_detail, body)
    assert isinstance(result, tuple)


@given(mangled(manifests()) | st.binary(max_size=200), st.integers(1, 200))
def test_untrusted_json_itself(data: bytes, depth: int) -> None:
    only_modelcrate_errors(untrusted_json.loads, data, max_bytes=1 << 22, max_depth=depth, what="doc")


# keep the import of otherwise unused strategies honest: these names are part of the suite's vocabulary
_ = (HEX64, MODEL_CONFIG, media_types)
