# Reference for 02_numpy_bridge as a plain .py submission (written from docs/EXERCISES.md); the CLI tests grade it.
import numpy as np
import torch


def tensor_to_numpy(t):
    return t.numpy()


def numpy_to_tensor(a):
    return torch.from_numpy(a)


def increment_through_numpy(t):
    a = t.numpy()
    np.add(a, 1, out=a)


def safe_to_numpy(t):
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()
