"""Facts from weight headers: safetensors, GGUF (by hand and by the gguf package), ONNX; hostile headers
are one InvalidWeights naming the file, never a crash or a large allocation."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from modelcrate.errors import InvalidWeights
from modelcrate.facts import facts_for, gguf, onnx, param_size, safetensors


def st_bytes(tensors: dict[str, tuple[str, list[int], int]], *, lie: int | None = None) -> bytes:
    """A safetensors file: ``name -> (dtype, shape, bytes per element)``; ``lie`` replaces the length."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, (dtype, shape, width) in tensors.items():
        size = width
        for d in shape:
            size *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    return struct.pack("<Q", lie if lie is not None else len(raw)) + raw + b"\0" * offset


def refused_cheaply(read: Callable[[], object], name: str, match: str) -> None:
    """``read`` raises one InvalidWeights naming the file, having allocated under a megabyte."""
    tracemalloc.start()
    try:
        with pytest.raises(InvalidWeights, match=match) as err:
            read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value).startswith(f"{name}: ") and peak < 1024 * 1024


def test_safetensors_header_gives_counts_dtypes_and_metadata() -> None:
    data = st_bytes({"a": ("BF16", [4, 8], 2), "b": ("BF16", [8], 2), "c": ("F32", [3], 4)})
    found = facts_for(io.BytesIO(data), "model.safetensors")
    assert found is not None
    assert (found.format, found.tensors, found.parameters) == ("safetensors", 3, 43)
    assert found.dtypes == {"bfloat16": 40, "float32": 3}
    assert found.metadata() == {"format": "safetensors", "paramSize": "43", "precision": "bfloat16"}


def test_param_size_is_modelpack_style() -> None:
    assert [param_size(n) for n in (999, 1_500, 124_439_808, 7_241_732_096)] == ["999", "1.5k", "124m", "7.24b"]


@pytest.mark.parametrize("data, match", [
    (st_bytes({"a": ("F32", [2], 4)}, lie=2**60), "claims 1152921504606846976 bytes"),
    (st_bytes({"a": ("F32", [2], 4)})[:20], "claims"),
    (struct.pack("<Q", 4) + b"{no}", "not valid JSON"),
    (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    (b"\x01\x02", "truncated safetensors length prefix"),
])
def test_lying_or_truncated_safetensors_headers(data: bytes, match: str) -> None:
    refused_cheaply(lambda: safetensors.read(io.BytesIO(data), "bad.safetensors"), "bad.safetensors", match)


def test_safetensors_offsets_outside_the_file_are_refused() -> None:
    good = st_bytes({"a": ("F32", [4], 4)})
    with pytest.raises(InvalidWeights, match="data offsets outside the file"):
        safetensors.read(io.BytesIO(good[:-4]), "short.safetensors")


def test_sharded_index_adds_up_the_shards(tmp_path: Path) -> None:
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(st_bytes({"a": ("F16", [10], 2)}))
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(st_bytes({"b": ("F16", [5, 2], 2)}))
    index = {"metadata": {"total_size": 40}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                                             "b": "model-00002-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    found = safetensors.read_sharded(tmp_path / "model.safetensors.index.json")
    assert (found.parameters, found.tensors, found.extra["shards"]) == (20, 2, 2)
    index["weight_map"]["c"] = "../escape.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidWeights, match="not a file beside the index"):
        safetensors.read_sharded(tmp_path / "model.safetensors.index.json")


# -- GGUF --------------------------------------------------------------------------------------------
def _gstr(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_by_hand(*, tensors: int | None = None, kvs: int | None = None) -> bytes:
    """GGUF v3 as the spec lays it out: three key/values (one a string array) and two tensor infos."""
    kv = [
        _gstr("general.architecture") + struct.pack("<I", 8) + _gstr("llama"),
        _gstr("general.file_type") + struct.pack("<I", 4) + struct.pack("<I", 15),
        _gstr("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 4096),
        _gstr("tokenizer.ggml.tokens") + struct.pack("<I", 9) + struct.pack("<IQ", 8, 2) + _gstr("a") + _gstr("b"),
    ]
    infos = [_gstr("tok_embd") + struct.pack("<I", 2) + struct.pack("<QQ", 32, 4) + struct.pack("<IQ", 12, 0),
             _gstr("out") + struct.pack("<I", 1) + struct.pack("<Q", 32) + struct.pack("<IQ", 0, 128)]
    head = b"GGUF" + struct.pack("<I", 3) + struct.pack("<QQ", tensors if tensors is not None else len(infos),
                                                        kvs if kvs is not None else len(kv))
    return head + b"".join(kv) + b"".join(infos) + b"\0" * 256


def test_gguf_written_by_hand() -> None:
    found = gguf.read(io.BytesIO(gguf_by_hand()), "m.gguf")
    assert (found.architecture, found.quantization, found.context_length) == ("llama", "q4_k_m", 4096)
    assert (found.tensors, found.parameters) == (2, 32 * 4 + 32)
    assert found.metadata() == {"format": "gguf", "paramSize": "160", "architecture": "llama",
                                "quantization": "q4_k_m"}


@pytest.mark.parametrize("data, match", [
    (gguf_by_hand(tensors=2**40), "tensor count is 1099511627776"),
    (gguf_by_hand(kvs=2**40), "key/value count is 1099511627776"),
    (gguf_by_hand()[:60], "truncated|more than"),
    (b"GGUF" + struct.pack("<I", 3) + struct.pack("<QQ", 0, 1) + struct.pack("<Q", 2**60) + b"x" * 20,
     "key 0 length is 1152921504606846976"),
    (b"GGUF" + struct.pack("<I", 1), "version 1 is not supported"),
])
def test_hostile_gguf_headers(data: bytes, match: str) -> None:
    refused_cheaply(lambda: gguf.read(io.BytesIO(data), "bad.gguf"), "bad.gguf", match)


def test_gguf_agrees_with_the_gguf_package(tmp_path: Path) -> None:
    gguf_pkg = pytest.importorskip("gguf")
    np = pytest.importorskip("numpy")
    path = tmp_path / "ref.gguf"
    w = gguf_pkg.GGUFWriter(str(path), "qwen2")
    w.add_context_length(32768)
    w.add_file_type(gguf_pkg.LlamaFileType.MOSTLY_Q8_0)
    w.add_token_list(["<s>", "</s>", "hello"])
    w.add_tensor("a", np.zeros((16, 8), np.float32))
    w.add_tensor("b", np.zeros((8,), np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    ours = gguf.read(open(path, "rb"), "ref.gguf")
    reader = gguf_pkg.GGUFReader(str(path))
    arch = reader.fields["general.architecture"]
    assert ours.architecture == bytes(arch.parts[arch.data[0]]).decode()
    assert ours.tensors == len(reader.tensors)
    assert ours.parameters == sum(int(t.n_elements) for t in reader.tensors)
    ftype = reader.fields["general.file_type"]
    assert ours.quantization == gguf_pkg.LlamaFileType(int(ftype.parts[ftype.data[0]][0])).name.removeprefix(
        "MOSTLY_").lower()
    assert ours.context_length == 32768


# -- ONNX --------------------------------------------------------------------------------------------
def _tiny_onnx() -> bytes:
    onnx_pkg = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])
    w = numpy_helper.from_array(np.ones((4, 2), np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    onnx_pkg.checker.check_model(model)
    return model.SerializeToString()


def test_onnx_facts_agree_with_the_onnx_package() -> None:
    import onnx as onnx_pkg

    data = _tiny_onnx()
    ref = onnx_pkg.load_from_string(data)
    found = onnx.read(io.BytesIO(data), "m.onnx")
    assert found.extra["ir_version"] == ref.ir_version
    assert found.extra["opsets"] == {"ai.onnx": ref.opset_import[0].version}
    assert [i["name"] for i in found.extra["inputs"]] == ["x"]
    assert found.extra["inputs"][0]["shape"] == ["batch", 4]
    assert found.extra["outputs"][0] == {"name": "y", "dtype": "float32", "shape": ["batch", 2]}
    assert (found.parameters, found.dtypes) == (8, {"float32": 8})


def test_truncated_or_lying_onnx() -> None:
    data = _tiny_onnx()
    with pytest.raises(InvalidWeights, match="m.onnx: "):
        onnx.read(io.BytesIO(data[: len(data) // 2]), "m.onnx")
    lying = b"\x08\x07" + b"\x3a" + b"\xff\xff\xff\xff\x0f" + b"x" * 10  # graph field claiming 4 GiB
    with pytest.raises(InvalidWeights, match="claims 4294967295 bytes"):
        onnx.read(io.BytesIO(lying), "m.onnx")
