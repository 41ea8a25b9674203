"""Globals a pickle may import and still be only data: tensor and array rebuilds, containers, dtypes.

The list follows what ``torch.load(weights_only=True)`` accepts, plus numpy's array and dtype rebuilds and
the helpers the pickle protocol itself emits (``copyreg._reconstructor``, ``_codecs.encode``). Anything else
(a model class, ``os.system``, ``builtins.eval``) means loading the file runs code it names.
"""

from __future__ import annotations

_TORCH_DTYPES = ("float16", "float32", "float64", "bfloat16", "half", "float", "double", "int8", "int16", "int32",
                 "int64", "uint8", "bool", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2", "long", "int",
                 "short", "uint16", "uint32", "uint64", "cfloat", "cdouble")
_TORCH_STORAGES = ("FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage",
                   "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage", "ComplexFloatStorage",
                   "ComplexDoubleStorage", "UntypedStorage", "QInt8Storage", "QUInt8Storage", "QInt32Storage")

SAFE_GLOBALS: frozenset[str] = frozenset(
    [
        "collections.OrderedDict", "collections.defaultdict", "collections.Counter", "collections.deque",
        "builtins.set", "builtins.frozenset", "builtins.slice", "builtins.range", "builtins.complex",
        "builtins.bytearray", "builtins.dict", "builtins.list", "builtins.tuple", "builtins.int", "builtins.float",
        "builtins.bool", "builtins.str", "builtins.bytes",
        "__builtin__.set", "__builtin__.frozenset", "__builtin__.slice", "__builtin__.complex",
        "copyreg._reconstructor", "copy_reg._reconstructor", "_codecs.encode",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_device_tensor_from_numpy", "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._utils._rebuild_wrapper_subclass", "torch._tensor._rebuild_from_type_v2",
        "torch.Size", "torch.device", "torch.memory_format", "torch.contiguous_format", "torch.channels_last",
        "torch.preserve_format", "torch.per_tensor_affine", "torch.per_channel_affine",
        "torch.serialization._get_layout",
        "torch.strided", "torch.sparse_coo", "torch.nn.parameter.Parameter", "torch.storage.UntypedStorage",
        "torch.storage.TypedStorage",
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.ndarray", "numpy.dtype",
        "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
    ]
    + [f"torch.{d}" for d in _TORCH_DTYPES]
    + [f"torch.{s}" for s in _TORCH_STORAGES]
    + [f"numpy.dtypes.{t}DType" for t in ("Float16", "Float32", "Float64", "Int8", "Int16", "Int32", "Int64",
                                           "UInt8", "UInt16", "UInt32", "UInt64", "Bool", "Complex64",
                                           "Complex128")]
)

# Not needed for the verdict (everything outside SAFE_GLOBALS is unsafe); named so reports can say
# "runs a shell command" rather than only "imports something unknown".
KNOWN_DANGEROUS_MODULES = frozenset(["os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "runpy", "pty",
                                     "webbrowser", "importlib", "ctypes", "marshal", "pickle", "_pickle", "dill",
                                     "code", "commands", "asyncio", "multiprocessing", "http", "urllib",
                                     "requests", "types", "operator", "functools", "pip", "setuptools"])
KNOWN_DANGEROUS_GLOBALS = frozenset(["builtins.eval", "builtins.exec", "builtins.compile", "builtins.open",
                                     "builtins.getattr", "builtins.setattr", "builtins.__import__",
                                     "builtins.globals", "builtins.breakpoint", "builtins.input", "__builtin__.eval",
                                     "__builtin__.execfile", "__builtin__.open", "__builtin__.__import__",
                                     "torch.load", "torch.storage._load_from_bytes", "numpy.load",
                                     "numpy.testing._private.utils.runstring", "joblib.load"])


def is_safe(qualified: str) -> bool:
    return qualified in SAFE_GLOBALS


def is_known_dangerous(qualified: str) -> bool:
    module = qualified.split(".", 1)[0]
    return qualified in KNOWN_DANGEROUS_GLOBALS or module in KNOWN_DANGEROUS_MODULES
