"""The wire format between the grader and the sandbox: data only, never code.

A frame is a small JSON envelope plus raw binary buffers (tensor and array bytes):

    b"AGW1" | u32 json length | u32 buffer count | json | (u64 length | bytes) per buffer

Values are encoded as a JSON tree: None, bool, int, float, str and lists are themselves;
everything else is an object tagged by "$" (tensor, ndarray, tuple, dict, handle, ...).
Decoding only ever builds those types (torch.frombuffer, numpy.frombuffer, plain
containers); there is no pickle and no eval, so a hostile sandbox can at worst send
wrong data, which the decoder checks and rejects with `ProtocolError`.

Both sides use this module. The sandbox turns every value that is not data into a
"handle" (an id in its object table); the grader sends handles back as "ref"s.
"""
from __future__ import annotations

import json
import re
import struct
import time
from typing import Any, Callable

import numpy as np
import torch

# Student code may replace builtins; the format's own code keeps the originals.
from builtins import (bool, bytes, dict, float, getattr, id, int, isinstance, len, list, memoryview,  # noqa: A004
                      range, str, tuple, type)

MAGIC = b"AGW1"
_HEADER = struct.Struct("<4sII")
_BUFLEN = struct.Struct("<Q")
MAX_JSON_BYTES = 16 << 20
MAX_BUFFERS = 1 << 14  # decoding costs per tensor: a reply of 60k tiny ones took 23 s
MAX_DECODED_NODES = 1 << 20
DEADLINE_CHECK_EVERY = 256  # nodes decoded between two looks at the clock
MAX_FRAME_BYTES = 1 << 30
MAX_DEPTH = 64
BROKEN_LOOP_EXIT = 86  # the sandbox's request loop failed (student code damaged the interpreter)

# The scanner and iterencode(_one_shot) run in C; json.loads/dumps wrap them in Python
# that calls len() and isinstance(), which student code can replace inside the sandbox.
_JSON_OUT = json.JSONEncoder(separators=(",", ":"))
_JSON_IN = json.JSONDecoder()
_TORCH_DTYPES = {str(d).rsplit(".", 1)[-1]: d for d in vars(torch).values() if isinstance(d, torch.dtype)}
_KINDS = frozenset({"tensor", "ndarray", "npscalar", "tuple", "namedtuple", "dict", "size", "dtype",
                    "device", "complex", "bytes", "slice", "ellipsis", "handle", "ref"})
_NUMPY_DTYPE = re.compile(r"^[<>|=][biufc]\d{1,2}$")


class ProtocolError(Exception):
    """A frame or value that does not follow the format (one line)."""


# -- frames ------------------------------------------------------------------------------
# Parts of a frame smaller than this are joined into one write: each write wakes the
# reader, and a request in three writes (header, envelope, one buffer) cost the other
# side three wake-ups instead of one. Larger buffers are sent as they are, uncopied.
COALESCE_BYTES = 1 << 16


def frame_parts(envelope: dict, buffers: list) -> list:
    """The byte strings of one frame, in order, small ones joined (see COALESCE_BYTES)."""
    body = "".join(_JSON_OUT.iterencode(envelope, _one_shot=True)).encode()
    if len(body) > MAX_JSON_BYTES:
        raise ProtocolError(f"message envelope of {len(body)} bytes is over {MAX_JSON_BYTES}")
    parts, pending = [], [_HEADER.pack(MAGIC, len(body), len(buffers)), body]
    for buf in buffers:
        view = memoryview(buf).cast("B")
        pending.append(_BUFLEN.pack(view.nbytes))
        if view.nbytes < COALESCE_BYTES:
            pending.append(view)
        else:
            parts += [b"".join(pending), view]
            pending = []
    if pending:
        parts.append(b"".join(pending))
    return parts


def send_frame(sock, envelope: dict, buffers: list = ()) -> None:
    """A reply whose envelope is over the size limit is replaced by an error reply to
    the same request, so the request loop keeps serving and the grader learns why."""
    try:
        parts = frame_parts(envelope, list(buffers))
    except ProtocolError as exc:
        if "seq" not in envelope:
            raise
        parts = frame_parts({"seq": envelope["seq"], "ok": False,
                             "error": {"kind": "too_large", "message": f"reply too large: {exc}"}}, [])
    for part in parts:
        sock.sendall(part)


def read_frame(read_exact: Callable[[int], bytearray], max_bytes: int = MAX_FRAME_BYTES):
    """(envelope, buffers) from a reader that returns exactly n bytes."""
    magic, body_len, count = _HEADER.unpack(bytes(read_exact(_HEADER.size)))
    if magic != MAGIC:
        raise ProtocolError(f"protocol violation: bad frame header {bytes(magic)!r}")
    if body_len > MAX_JSON_BYTES or count > MAX_BUFFERS:
        raise ProtocolError(f"protocol violation: oversized frame ({body_len} bytes of JSON, "
                            f"{count} buffers)")
    try:
        text = bytes(read_exact(body_len)).decode("utf-8")
        envelope, end = _JSON_IN.scan_once(text, 0)
        if text[end:].strip():
            raise ValueError("extra data after the JSON")
    except (ValueError, UnicodeDecodeError, StopIteration) as exc:
        raise ProtocolError(f"protocol violation: envelope is not JSON ({exc})") from None
    except RecursionError:  # the C scanner stops a nesting bomb at the recursion limit
        raise ProtocolError("protocol violation: envelope nested too deep") from None
    if not isinstance(envelope, dict):
        raise ProtocolError("protocol violation: envelope is not a JSON object")
    total, buffers = body_len, []
    for _ in range(count):
        (size,) = _BUFLEN.unpack(bytes(read_exact(_BUFLEN.size)))
        total += size
        if total > max_bytes:
            raise ProtocolError(f"reply too large: the frame is over {max_bytes} bytes")
        buffers.append(read_exact(size))
    return envelope, buffers


# -- values ------------------------------------------------------------------------------
# The encoder reads tensors through torch's C base class, captured at import (before any
# student code runs): a tensor subclass's Python overrides (a `device` or `grad_fn`
# property, a `numpy` that lies) and patched torch.Tensor methods never see the read,
# and __torch_function__ (subclasses and modes) is switched off while it happens.
_BASE = torch._C.TensorBase
_NO_TORCH_FUNCTION = torch._C.DisableTorchFunction
_PLAIN_DISPATCH = torch.Tensor.__torch_dispatch__
_RAW = {name: vars(_BASE)[name].__get__ for name in
        ("device", "layout", "is_quantized", "dtype", "shape", "requires_grad", "grad", "grad_fn",
         "is_leaf", "retains_grad")}
_DETACH, _CPU, _CONTIGUOUS, _RESHAPE, _VIEW, _NUMPY = (
    _BASE.detach, _BASE.cpu, _BASE.contiguous, _BASE.reshape, _BASE.view, _BASE.numpy)
_IS_COMPLEX, _RESOLVE_CONJ, _RESOLVE_NEG = _BASE.is_complex, _BASE.resolve_conj, _BASE.resolve_neg
_ASARRAY, _NDARRAY, _GENERIC = np.asarray, np.ndarray, np.generic
_STRIDED, _UINT8 = torch.strided, torch.uint8


def raw(t: torch.Tensor, name: str):
    """A tensor attribute as torch itself stores it, whatever the tensor's class says."""
    return _RAW[name](t)


def is_data_tensor(t: torch.Tensor) -> bool:
    # A __torch_dispatch__ subclass decides what its own operations return, its reads included.
    if getattr(type(t), "__torch_dispatch__", _PLAIN_DISPATCH) is not _PLAIN_DISPATCH:
        return False
    dtype = raw(t, "dtype")
    return (raw(t, "layout") == _STRIDED and raw(t, "device").type not in ("meta",)
            and not raw(t, "is_quantized") and str(dtype).rsplit(".", 1)[-1] in _TORCH_DTYPES)


class Encoder:
    """Value -> JSON tree + buffers. `other(value)` decides what happens to a value that is
    not data: the sandbox registers it and returns a handle node, the grader returns a ref
    node for its Handle objects and raises TypeError for anything else."""

    def __init__(self, other: Callable[[Any], dict], budget: int = MAX_FRAME_BYTES // 2):
        self.other, self.budget = other, budget
        self.buffers: list = []
        self._path: set[int] = set()

    def encode(self, value, depth: int = 0):
        if value is None or isinstance(value, (bool, str)):
            return value
        if type(value) in (int, float):
            return value
        if depth > MAX_DEPTH or id(value) in self._path:
            return self.other(value)
        if isinstance(value, torch.Tensor):
            return self._tensor(value, depth)
        if isinstance(value, (list, tuple, dict)) and type(value) is not torch.Size:
            self._path.add(id(value))
            try:
                return self._container(value, depth)
            finally:
                self._path.discard(id(value))
        return self._scalar(value)

    def _buffer(self, data) -> int | None:
        view = memoryview(data).cast("B")
        if view.nbytes > self.budget:
            return None
        self.budget -= view.nbytes
        self.buffers.append(view)
        return len(self.buffers) - 1

    def _tensor(self, t: torch.Tensor, depth: int):
        with _NO_TORCH_FUNCTION():
            if not is_data_tensor(t):
                return self.other(t)
            flat = _DETACH(t)
            flat = _RESOLVE_NEG(_RESOLVE_CONJ(flat)) if _IS_COMPLEX(flat) else flat
            flat = _RESHAPE(_CONTIGUOUS(_CPU(flat)), (-1,))
            index = self._buffer(_NUMPY(_VIEW(flat, _UINT8)))
            if index is None:  # too big to copy: it stays where it is
                return self.other(t)
            grad, is_leaf = None, bool(raw(t, "is_leaf"))
            if is_leaf or raw(t, "retains_grad"):
                grad_tensor = raw(t, "grad")
                grad = None if grad_tensor is None else self.encode(grad_tensor, depth + 1)
            grad_fn = raw(t, "grad_fn")
            return {"$": "tensor", "dtype": str(raw(t, "dtype")).rsplit(".", 1)[-1],
                    "shape": [int(d) for d in raw(t, "shape")], "device": str(raw(t, "device")),
                    "requires_grad": bool(raw(t, "requires_grad")), "grad": grad,
                    "grad_fn": type(grad_fn).__name__ if grad_fn is not None else None,
                    "is_leaf": is_leaf, "buf": index}

    def _container(self, value, depth: int):
        if isinstance(value, dict):
            if not all(type(k) in (str, int) for k in value):
                return self.other(value)
            return {"$": "dict", "items": [[k, self.encode(v, depth + 1)] for k, v in value.items()]}
        items = [self.encode(v, depth + 1) for v in value]
        if type(value) is list or isinstance(value, list):
            return items
        fields = getattr(type(value), "_fields", None)
        if (isinstance(fields, tuple) and len(fields) == len(items)
                and all(isinstance(f, str) and f.isidentifier() for f in fields)):
            return {"$": "namedtuple", "name": type(value).__name__, "fields": list(fields), "v": items}
        return {"$": "tuple", "v": items}

    def _scalar(self, value):
        # before int/float: numpy.float64 is a float subclass and must stay numpy
        if isinstance(value, (_NDARRAY, _GENERIC)) and _ASARRAY(value).dtype.kind in "biufc":
            # asarray drops an ndarray subclass's overrides; keeps 0-d shapes, unlike ascontiguousarray
            array = _ASARRAY(value, order="C")
            index = self._buffer(array.reshape(-1).view(np.uint8))
            if index is None:
                return self.other(value)
            kind = "ndarray" if isinstance(value, np.ndarray) else "npscalar"
            return {"$": kind, "dtype": array.dtype.str, "shape": list(array.shape), "buf": index}
        if isinstance(value, torch.Size):
            return {"$": "size", "v": [int(d) for d in value]}
        if isinstance(value, torch.dtype):
            return {"$": "dtype", "v": str(value).rsplit(".", 1)[-1]}
        if isinstance(value, torch.device):
            return {"$": "device", "v": str(value)}
        if isinstance(value, int):  # int subclasses (IntEnum...) travel as plain ints
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, complex):
            return {"$": "complex", "re": value.real, "im": value.imag}
        if isinstance(value, (bytes, bytearray)):
            index = self._buffer(bytes(value))
            return {"$": "bytes", "buf": index} if index is not None else self.other(value)
        if isinstance(value, slice):
            return {"$": "slice", "v": [self.encode(value.start), self.encode(value.stop),
                                        self.encode(value.step)]}
        if value is Ellipsis:
            return {"$": "ellipsis"}
        return self.other(value)


class Decoder:
    """JSON tree + buffers -> value. `on_handle(id, type)` (grader side) and `on_ref(id)`
    (sandbox side) build the non-data nodes; a side that does not expect one rejects it."""

    def __init__(self, buffers: list, on_handle=None, on_ref=None, remote: bool = False,
                 place: Callable[[torch.Tensor, str], torch.Tensor] | None = None,
                 deadline: float | None = None):
        """`deadline` (time.monotonic()): decoding is part of the call it answers and
        stops when the call's time is up."""
        self.buffers, self.on_handle, self.on_ref = buffers, on_handle, on_ref
        self.remote, self.place, self.deadline = remote, place, deadline
        self.nodes = 0

    def decode(self, node, depth: int = 0):
        if depth > MAX_DEPTH:
            raise ProtocolError("protocol violation: value nested too deep")
        self.nodes += 1
        if self.nodes % DEADLINE_CHECK_EVERY == 0:
            if self.nodes > MAX_DECODED_NODES:
                raise ProtocolError(f"protocol violation: value of more than {MAX_DECODED_NODES} parts")
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise ProtocolError("decoding the reply ran past the call's time limit")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(n, depth + 1) for n in node]
        if not isinstance(node, dict) or not isinstance(node.get("$"), str):
            raise ProtocolError("protocol violation: untagged object in a value")
        kind = node["$"]
        method = getattr(self, "_" + kind) if kind in _KINDS else None
        if method is None:
            raise ProtocolError(f"protocol violation: unknown value kind {kind[:40]!r}")
        try:
            return method(node, depth)
        except ProtocolError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            raise ProtocolError(f"protocol violation: bad {kind} value ({exc})") from None

    def _buffer_of(self, node):
        index = node["buf"]
        if type(index) is not int or not 0 <= index < len(self.buffers):
            raise ProtocolError("protocol violation: buffer index out of range")
        return self.buffers[index]

    def _shape_of(self, node) -> list[int]:
        shape = node["shape"]
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise ProtocolError("protocol violation: bad shape")
        return shape

    def _tensor(self, node, depth):
        dtype = _TORCH_DTYPES.get(node["dtype"])
        if dtype is None:
            raise ProtocolError(f"protocol violation: unknown dtype {str(node['dtype'])[:40]!r}")
        shape, raw = self._shape_of(node), self._buffer_of(node)
        itemsize = torch.empty((), dtype=dtype).element_size()
        numel = 1
        for d in shape:
            numel *= d
        if numel * itemsize != len(raw):
            raise ProtocolError("protocol violation: tensor bytes do not match its shape")
        data = (torch.frombuffer(raw, dtype=torch.uint8) if len(raw)
                else torch.empty(0, dtype=torch.uint8))
        t = data.ne(0) if dtype == torch.bool else data.view(dtype)
        t = t.reshape(shape)
        device = str(torch.device(node["device"]))
        if self.place is not None:
            t = self.place(t, device)
        if node["requires_grad"]:
            if not (t.is_floating_point() or t.is_complex()):
                raise ProtocolError("protocol violation: only float tensors can require grad")
            t.requires_grad_(True)
        if node.get("grad") is not None:
            grad = self.decode(node["grad"], depth + 1)
            if not isinstance(grad, torch.Tensor) or grad.shape != t.shape or grad.dtype != t.dtype:
                raise ProtocolError("protocol violation: grad does not match its tensor")
            t.grad = grad
        if self.remote:
            from autograder.submission import REMOTE_DEVICE, REMOTE_GRAD_FN, REMOTE_IS_LEAF
            grad_fn = node.get("grad_fn")
            setattr(t, REMOTE_DEVICE, device)
            setattr(t, REMOTE_GRAD_FN, str(grad_fn)[:200] if grad_fn is not None else None)
            setattr(t, REMOTE_IS_LEAF, bool(node.get("is_leaf", True)))
        return t

    def _ndarray(self, node, depth):
        dtype_name = str(node["dtype"])
        if not _NUMPY_DTYPE.match(dtype_name):
            raise ProtocolError(f"protocol violation: array dtype {dtype_name[:40]!r} not allowed")
        dtype, shape, raw = np.dtype(dtype_name), self._shape_of(node), self._buffer_of(node)
        if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(raw):
            raise ProtocolError("protocol violation: array bytes do not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape) if len(raw) else np.zeros(shape, dtype)

    def _npscalar(self, node, depth):
        array = self._ndarray(node, depth)
        if array.shape != ():
            raise ProtocolError("protocol violation: numpy scalar with a shape")
        return array[()]

    def _tuple(self, node, depth):
        return tuple(self.decode(n, depth + 1) for n in node["v"])

    def _namedtuple(self, node, depth):
        from collections import namedtuple
        name, fields = str(node["name"]), node["fields"]
        if not name.isidentifier() or not all(isinstance(f, str) and f.isidentifier() for f in fields):
            raise ProtocolError("protocol violation: bad namedtuple")
        return namedtuple(name, fields, rename=True)(*self._tuple(node, depth))

    def _dict(self, node, depth):
        out = {}
        for key, value in node["items"]:
            if type(key) not in (str, int):
                raise ProtocolError("protocol violation: dict key that is not str or int")
            out[key] = self.decode(value, depth + 1)
        return out

    def _size(self, node, depth):
        return torch.Size([int(d) for d in node["v"]])

    def _dtype(self, node, depth):
        if node["v"] not in _TORCH_DTYPES:
            raise ProtocolError("protocol violation: unknown dtype")
        return _TORCH_DTYPES[node["v"]]

    def _device(self, node, depth):
        return torch.device(str(node["v"]))

    def _complex(self, node, depth):
        return complex(float(node["re"]), float(node["im"]))

    def _bytes(self, node, depth):
        return bytes(self._buffer_of(node))

    def _slice(self, node, depth):
        return slice(*(self.decode(n, depth + 1) for n in node["v"]))

    def _ellipsis(self, node, depth):
        return Ellipsis

    def _handle(self, node, depth):
        if self.on_handle is None or type(node["id"]) is not int:
            raise ProtocolError("protocol violation: unexpected handle")
        return self.on_handle(node["id"], str(node.get("type", "object"))[:300])

    def _ref(self, node, depth):
        if self.on_ref is None or type(node["id"]) is not int:
            raise ProtocolError("protocol violation: unexpected ref")
        return self.on_ref(node["id"])
