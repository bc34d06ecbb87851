"""The wire format: every data type round-trips exactly, and anything malformed, unknown
or oversized is rejected with ProtocolError (never executed, never unpickled)."""
from __future__ import annotations

import io
import math
import struct
from collections import namedtuple

import numpy as np
import pytest
import torch

from autograder.sandbox import wire
from autograder.submission import device_of, grad_fn_name, is_leaf


class Opaque:
    pass


def to_bytes(envelope, buffers=()) -> bytes:
    return b"".join(bytes(p) for p in wire.frame_parts(envelope, list(buffers)))


def reader(data: bytes):
    stream = io.BytesIO(data)

    def read_exact(n):
        chunk = stream.read(n)
        if len(chunk) != n:
            raise EOFError("short read")
        return bytearray(chunk)
    return read_exact


def round_trip(value, remote=True):
    """Sandbox -> grader: non-data becomes a handle node; the grader decodes it."""
    handles = []

    def other(obj):
        handles.append(obj)
        return {"$": "handle", "id": len(handles), "type": type(obj).__qualname__}

    encoder = wire.Encoder(other)
    tree = encoder.encode(value)
    envelope, buffers = wire.read_frame(reader(to_bytes({"value": tree}, encoder.buffers)))
    decoded = wire.Decoder(buffers, on_handle=lambda hid, t: ("handle", hid, t), remote=remote)
    return decoded.decode(envelope["value"])


def same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and bool(torch.equal(a.cpu(), b.cpu()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16,
                                   torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64,
                                   torch.bool, torch.complex64, torch.complex128])
def test_tensor_dtypes_round_trip(dtype):
    base = torch.arange(-6, 6).reshape(3, 4)
    t = (base % 2 == 0) if dtype == torch.bool else base.to(dtype) if not dtype.is_complex else (
        torch.complex(base.float(), -base.float()).to(dtype))
    assert same_tensor(round_trip(t), t)


def test_tensor_shapes_and_layouts():
    x = torch.randn(4, 5)
    for t in (x.t(), x[:, ::2], torch.tensor(3.5), torch.empty(0, 3), x.conj(),
              torch.randn(2, 3, dtype=torch.complex64).conj(), x.expand(2, 4, 5)):
        back = round_trip(t)
        assert same_tensor(back, t.resolve_conj()), t.shape
        assert back.is_contiguous()


def test_parameter_with_grad_and_non_leaf_metadata():
    w = torch.nn.Parameter(torch.randn(3, 2))
    (w * 2).sum().backward()
    back = round_trip(w)
    assert back.requires_grad and same_tensor(back.grad, w.grad)
    assert is_leaf(back) and grad_fn_name(back) is None
    y = w * 3
    back_y = round_trip(y)
    assert back_y.requires_grad and back_y.grad is None
    assert grad_fn_name(back_y) == "MulBackward0" and not is_leaf(back_y)
    assert device_of(back_y) == torch.device("cpu")


def test_device_is_recorded_as_the_senders():
    node = wire.Encoder(lambda o: None).encode(torch.ones(2))
    node["device"] = "cuda:0"  # what a CUDA tensor's metadata says in the sandbox
    encoder = wire.Encoder(lambda o: None)
    encoder.encode(torch.ones(2))
    back = wire.Decoder(encoder.buffers, remote=True).decode(node)
    assert back.device.type == "cpu" and device_of(back) == torch.device("cuda:0")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "uint8", "bool", "complex128", "float16"])
def test_numpy_arrays_and_scalars_round_trip(dtype):
    array = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    back = round_trip(array[:, ::2])
    assert back.dtype == array.dtype and np.array_equal(back, array[:, ::2])
    scalar = array.reshape(-1)[5]
    back_scalar = round_trip(scalar)
    assert type(back_scalar) is type(scalar) and back_scalar == scalar
    assert round_trip(np.array(7, dtype=dtype)).shape == ()


def test_plain_values_and_containers_round_trip():
    Point = namedtuple("Point", "x y")
    value = {"none": None, "t": True, "i": -(2 ** 70), "f": 1.5, "c": 2 - 3j, "s": "héllo", "b": b"\x00\xff",
             1: [1, (2, 3), {"deep": [torch.Size([2, 3])]}], "dtype": torch.bfloat16,
             "device": torch.device("cpu"), "p": Point(1, torch.ones(2)), "slice": slice(1, None, 2),
             "ell": Ellipsis}
    back = round_trip(value)
    assert back.keys() == value.keys()
    for key in ("none", "t", "i", "f", "c", "s", "b", "dtype", "device", "slice", "ell"):
        assert back[key] == value[key] and type(back[key]) is type(value[key]), key
    assert back[1][1] == (2, 3) and isinstance(back[1][1], tuple)
    assert back[1][2]["deep"][0] == torch.Size([2, 3]) and isinstance(back[1][2]["deep"][0], torch.Size)
    assert back["p"].x == 1 and same_tensor(back["p"].y, torch.ones(2))
    assert math.isnan(round_trip(float("nan"))) and round_trip(float("-inf")) == float("-inf")


def test_everything_else_becomes_a_handle():
    obj = Opaque()
    cyclic: list = [1]
    cyclic.append(cyclic)
    assert round_trip(obj) == ("handle", 1, "Opaque")
    back = round_trip([obj, {(1, 2): "tuple key"}, np.array([obj], dtype=object), {1, 2}, cyclic])
    assert [b[0] for b in back[:4]] == ["handle"] * 4
    assert back[4][0] == 1 and back[4][1][0] == "handle"
    assert round_trip(torch.ones(2).to_sparse())[0] == "handle"


def test_oversized_values_stay_in_the_sandbox_as_handles():
    encoder = wire.Encoder(lambda o: {"$": "handle", "id": 1, "type": "Tensor"}, budget=1000)
    assert encoder.encode(torch.zeros(1000))["$"] == "handle"
    assert encoder.encode(torch.zeros(10))["$"] == "tensor"


def test_grader_refuses_to_send_non_data():
    def refuse(obj):
        raise TypeError(f"cannot send {type(obj).__name__}")
    with pytest.raises(TypeError, match="Opaque"):
        wire.Encoder(refuse).encode({"x": [Opaque()]})


def frame(envelope_bytes: bytes, buffers=(), magic=wire.MAGIC, count=None) -> bytes:
    head = struct.pack("<4sII", magic, len(envelope_bytes), len(buffers) if count is None else count)
    return head + envelope_bytes + b"".join(struct.pack("<Q", len(b)) + b for b in buffers)


@pytest.mark.parametrize("data, message", [
    (frame(b"{}", magic=b"EVIL"), "bad frame header"),
    (struct.pack("<4sII", wire.MAGIC, wire.MAX_JSON_BYTES + 1, 0), "oversized"),
    (struct.pack("<4sII", wire.MAGIC, 2, wire.MAX_BUFFERS + 1), "oversized"),
    (frame(b"{not json"), "not JSON"),
    (frame(b"[1, 2]"), "not a JSON object"),
    (frame(b'{"a": 1} trailing'), "not JSON"),
    (frame(b"{}", [b"x" * 100]), "over 64 bytes"),
])
def test_malformed_frames_are_rejected(data, message):
    with pytest.raises(wire.ProtocolError, match=message):
        wire.read_frame(reader(data), max_bytes=64)


@pytest.mark.parametrize("node, buffers, message", [
    ({"$": "pickle", "data": "gASV"}, [], "unknown value kind"),
    ({"$": "__import__"}, [], "unknown value kind"),
    ({"no": "tag"}, [], "untagged"),
    ({"$": "handle", "id": 1, "type": "x"}, [], "unexpected handle"),
    ({"$": "ref", "id": 1}, [], "unexpected ref"),
    ({"$": "tensor", "dtype": "object", "shape": [1], "device": "cpu", "requires_grad": False,
      "buf": 0}, [bytearray(8)], "unknown dtype"),
    ({"$": "tensor", "dtype": "float32", "shape": [3], "device": "cpu", "requires_grad": False,
      "buf": 0}, [bytearray(8)], "do not match"),
    ({"$": "tensor", "dtype": "int64", "shape": [1], "device": "cpu", "requires_grad": True,
      "buf": 0}, [bytearray(8)], "only float"),
    ({"$": "tensor", "dtype": "float32", "shape": [2], "device": "cpu", "requires_grad": True, "buf": 0,
      "grad": {"$": "tensor", "dtype": "float32", "shape": [1], "device": "cpu", "requires_grad": False,
               "buf": 1}}, [bytearray(8), bytearray(4)], "grad does not match"),
    ({"$": "tensor", "dtype": "float32", "shape": [-1], "device": "cpu", "requires_grad": False,
      "buf": 0}, [bytearray(4)], "bad shape"),
    ({"$": "tensor", "dtype": "float32", "shape": [1], "device": "cpu", "requires_grad": False,
      "buf": 5}, [bytearray(4)], "out of range"),
    ({"$": "ndarray", "dtype": "|O8", "shape": [1], "buf": 0}, [bytearray(8)], "not allowed"),
    ({"$": "ndarray", "dtype": "<f8", "shape": [2], "buf": 0}, [bytearray(8)], "do not match"),
    ({"$": "dict", "items": [[[1], 2]]}, [], "not str or int"),
    ({"$": "namedtuple", "name": "x; import os", "fields": ["a"], "v": [1]}, [], "bad namedtuple"),
    ({"$": "dtype", "v": "os.system"}, [], "unknown dtype"),
])
def test_malformed_values_are_rejected(node, buffers, message):
    with pytest.raises(wire.ProtocolError, match=message):
        wire.Decoder(buffers, remote=True).decode(node)


def test_nesting_depth_is_bounded():
    node: object = 1
    for _ in range(wire.MAX_DEPTH + 5):
        node = [node]
    with pytest.raises(wire.ProtocolError, match="too deep"):
        wire.Decoder([]).decode(node)


def test_received_tensor_does_not_alias_the_sent_one_after_decode():
    t = torch.arange(4.0)
    back = round_trip(t)
    back += 1
    assert torch.equal(t, torch.arange(4.0))
