"""A corpus of benign checkpoints and malicious pickles, built in memory by the tests.

Torch-style files are made without torch: a stand-in ``torch`` module tree in ``sys.modules`` gives the
pickler the same global names a real ``torch.save`` writes (``torch._utils._rebuild_tensor_v2``,
``torch.FloatStorage``, persistent ids for storages). Malicious samples cover every protocol, GLOBAL,
STACK_GLOBAL, INST, REDUCE, memo tricks, nested pickles, EXT codes, zip-wrapped ``data.pkl``, numpy object
arrays, compressed (joblib-style) pickles, several pickles in one file, and misleading file names.
Nothing here is ever unpickled.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import io
import json
import pickle
import struct
import sys
import types
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    name: str  # file name (its extension matters to name-based tools)
    data: bytes
    malicious: bool
    what: str


# -- stand-in torch ------------------------------------------------------------------------------------
@contextlib.contextmanager
def fake_torch() -> Iterator[types.SimpleNamespace]:
    names = ["torch", "torch._utils", "torch.nn", "torch.nn.modules", "torch.nn.modules.linear"]
    saved = {n: sys.modules.get(n) for n in names}
    mods = {n: types.ModuleType(n) for n in names}

    def fn(module: str, name: str) -> object:
        def f(*args: object) -> None:
            return None
        f.__module__, f.__name__, f.__qualname__ = module, name, name
        setattr(mods[module], name, f)
        return f

    class FloatStorage:
        pass
    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    mods["torch"].FloatStorage = FloatStorage  # type: ignore[attr-defined]

    class Linear:
        def __reduce__(self) -> tuple[object, ...]:
            return (Linear, ())
    Linear.__module__, Linear.__qualname__ = "torch.nn.modules.linear", "Linear"
    mods["torch.nn.modules.linear"].Linear = Linear  # type: ignore[attr-defined]
    ns = types.SimpleNamespace(rebuild=fn("torch._utils", "_rebuild_tensor_v2"), FloatStorage=FloatStorage,
                               Linear=Linear)
    sys.modules.update(mods)
    try:
        yield ns
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class _Tensor:
    def __init__(self, torch: types.SimpleNamespace, key: str, numel: int) -> None:
        self.torch, self.key, self.numel = torch, key, numel

    def __reduce__(self) -> tuple[object, ...]:
        storage = _Storage(self.torch, self.key, self.numel)
        return (self.torch.rebuild, (storage, 0, (self.numel,), (1,), False, collections.OrderedDict()))


class _Storage:
    def __init__(self, torch: types.SimpleNamespace, key: str, numel: int) -> None:
        self.torch, self.key, self.numel = torch, key, numel


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> object:
        if isinstance(obj, _Storage):
            return ("storage", obj.torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def _torch_pickle(obj: object, protocol: int = 2) -> bytes:
    buf = io.BytesIO()
    _TorchPickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def state_dict(torch: types.SimpleNamespace) -> collections.OrderedDict[str, object]:
    return collections.OrderedDict([("fc.weight", _Tensor(torch, "0", 8)), ("fc.bias", _Tensor(torch, "1", 2))])


def torch_zip(data_pkl: bytes, *, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", b"\x80\x02" + b"\x00" * 30)  # storage bytes that begin like a pickle
        z.writestr("archive/data/1", struct.pack("<2f", 0.5, -1.0))
        z.writestr("archive/version", "3\n")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def torch_legacy(main: bytes) -> bytes:
    """The legacy (non-zip) torch.save layout: magic, protocol, sys info, the object, storage keys, data."""
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    proto = pickle.dumps(1001, protocol=2)
    info = pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    keys = pickle.dumps(["0", "1"], protocol=2)
    return magic + proto + info + main + keys + struct.pack("<q", 8) + b"\x01" * 32


def npy(descr: str, payload: bytes, shape: str = "(2,)") -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def safetensors_file() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * 8


# -- malicious ------------------------------------------------------------------------------------------
class _Reduce:
    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, ...]:
        return (self.func, self.args)


def _os_system() -> object:
    import os

    return os.system


def _eval() -> object:
    import builtins

    return builtins.eval


def _s(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def memo_trick() -> bytes:
    """'os' and 'system' memoized first, decoy strings pushed and dropped, then fetched back for
    STACK_GLOBAL: a scanner that only looks at the two strings just before STACK_GLOBAL sees decoys."""
    return (b"\x80\x04" + _s("os") + b"\x94" + _s("system") + b"\x94" + b"0" + b"0"
            + _s("collections") + _s("OrderedDict") + b"0" + b"0"
            + b"h\x00h\x01\x93" + _s("echo pwned") + b"\x85R.")


def dup_trick() -> bytes:
    """The module name arrives through DUP (``builtins`` twice, one popped) before STACK_GLOBAL."""
    return b"\x80\x04" + _s("builtins") + b"2" + b"0" + _s("exec") + b"\x93" + _s("print(1)") + b"\x85R."


def inst_protocol0() -> bytes:
    return b"(S'echo pwned'\nios\nsystem\n."


def global_protocol0() -> bytes:
    return b"cposix\nsystem\n(S'echo pwned'\ntR."


def ext_code() -> bytes:
    return b"\x80\x02\x82\x01)R."


def nested() -> bytes:
    """An outer pickle handing an inner malicious pickle to pickle.loads."""
    inner = pickle.dumps(_Reduce(_os_system(), "echo pwned"), protocol=2)
    return pickle.dumps(_Reduce(pickle.loads, inner), protocol=4)


def truncated_after_reduce() -> bytes:
    return pickle.dumps(_Reduce(_os_system(), "echo pwned"), protocol=2)[:-1] + b"\xff\xfe"


def corpus() -> list[Sample]:
    out: list[Sample] = []
    import builtins
    import runpy
    import subprocess
    import webbrowser

    with fake_torch() as torch:
        sd = state_dict(torch)
        for proto in (2, 3, 4, 5):
            out.append(Sample(f"state_dict_p{proto}.pt", torch_legacy(_torch_pickle(sd, proto)), False,
                              f"legacy torch.save, protocol {proto}"))
        out.append(Sample("pytorch_model.bin", torch_zip(_torch_pickle(sd)), False, "zip torch checkpoint"))
        out.append(Sample("model.ckpt", torch_zip(_torch_pickle({"state_dict": sd, "epoch": 3})), False,
                          "zip checkpoint with a plain dict"))
        evil_zip = torch_zip(_torch_pickle(_Reduce(_os_system(), "echo pwned")))
        out.append(Sample("evil_zip.pt", evil_zip, True, "zip torch, data.pkl calls os.system"))
        out.append(Sample("evil_constants.pt", torch_zip(_torch_pickle(sd), extra={
            "archive/constants.pkl": pickle.dumps(_Reduce(_eval(), "1"), protocol=2)}), True,
            "zip torch, malicious constants.pkl"))
        out.append(Sample("full_module.pt", torch_zip(_torch_pickle(torch.Linear())), True,
                          "whole nn.Module pickled (needs weights_only=False)"))
        out.append(Sample("legacy_second.pt", torch_legacy(pickle.dumps(_Reduce(_os_system(), "x"), protocol=2)),
                          True, "legacy layout, the object pickle runs os.system"))
    for proto in range(6):
        out.append(Sample(f"plain_p{proto}.pkl", pickle.dumps({"a": [1, 2.5, "x"], "b": (True, None), "c": {1, 2},
                                                                "d": b"bytes"}, protocol=proto), False,
                          f"plain data, protocol {proto}"))
        out.append(Sample(f"system_p{proto}.pkl", pickle.dumps(_Reduce(_os_system(), "echo pwned"), protocol=proto),
                          True, f"os.system via REDUCE, protocol {proto}"))
        out.append(Sample(f"eval_p{proto}.pkl", pickle.dumps(_Reduce(builtins.eval, "1+1"), protocol=proto), True,
                          f"builtins.eval, protocol {proto}"))
    out += [
        Sample("popen.pkl", pickle.dumps(_Reduce(subprocess.Popen, ["id"]), protocol=4), True, "subprocess.Popen"),
        Sample("runpy.pkl", pickle.dumps(_Reduce(runpy._run_code, "1", {}), protocol=3), True, "runpy._run_code"),
        Sample("browser.pkl", pickle.dumps(_Reduce(webbrowser.open, "http://x"), protocol=2), True, "webbrowser.open"),
        Sample("memo.pkl", memo_trick(), True, "STACK_GLOBAL operands through the memo, decoys in between"),
        Sample("dup.pkl", dup_trick(), True, "STACK_GLOBAL module through DUP"),
        Sample("inst.pkl", inst_protocol0(), True, "INST opcode, protocol 0"),
        Sample("global0.pkl", global_protocol0(), True, "GLOBAL + REDUCE, protocol 0, posix.system"),
        Sample("ext.pkl", ext_code(), True, "EXT1 copyreg extension code"),
        Sample("obj.pkl", b"(cos\nsystem\nS'echo pwned'\no.", True, "OBJ opcode, protocol 1"),
        Sample("newobj.pkl", b"\x80\x02csubprocess\nPopen\n]\x8c\x02id\x85\x81.", True, "NEWOBJ of subprocess.Popen"),
        Sample("getattr.pkl", pickle.dumps(_Reduce(getattr, _Reduce(__import__, "os"), "system"), protocol=3), True,
               "builtins.getattr(__import__('os'), 'system')"),
        Sample("nested.pkl", nested(), True, "pickle.loads of an embedded malicious pickle"),
        Sample("truncated.pkl", truncated_after_reduce(), True, "os.system, then garbage instead of STOP"),
        Sample("model.safetensors", pickle.dumps(_Reduce(_os_system(), "x"), protocol=4), True,
               "malicious pickle named .safetensors"),
        Sample("model.joblib", zlib.compress(pickle.dumps(_Reduce(_os_system(), "x"), protocol=4)), True,
               "zlib-compressed (joblib) malicious pickle"),
        Sample("model.pkl.gz", gzip.compress(pickle.dumps(_Reduce(_os_system(), "x"), protocol=4)), True,
               "gzip-compressed malicious pickle"),
        Sample("objects.npy", npy("|O", pickle.dumps(_Reduce(_os_system(), "x"), protocol=3)), True,
               "numpy object array whose payload runs os.system"),
        Sample("floats.npy", npy("<f4", struct.pack("<2f", 1.0, 2.0)), False, "numpy float array"),
        Sample("objects_ok.npy", npy("|O", pickle.dumps(["a", "b"], protocol=3)), False,
               "numpy object array of plain strings"),
        Sample("model.safetensors.ok", safetensors_file(), False, "safetensors"),
        Sample("ordered.pkl", pickle.dumps(collections.OrderedDict(a=1), protocol=2), False, "OrderedDict"),
        Sample("README.md", b"In this model card we describe ...\n", False, "text that starts like protocol 0"),
        Sample("tokenizer.json", json.dumps({"version": "1.0"}).encode(), False, "JSON"),
    ]
    with contextlib.suppress(ImportError):
        import numpy as np

        out.append(Sample("array.pkl", pickle.dumps({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, protocol=4),
                          False, "a real numpy array pickle"))
        buf = io.BytesIO()
        np.savez(buf, w=np.zeros(3))
        out.append(Sample("weights.npz", buf.getvalue(), False, "numpy .npz"))
    return out
