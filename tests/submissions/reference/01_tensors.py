# Reference for 01_tensors as a plain .py submission (written from docs/EXERCISES.md); the CLI tests grade it.
import torch


def make_empty(rows, cols):
    return torch.empty(rows, cols)


def make_uniform(rows, cols):
    return torch.rand(rows, cols)


def zeros_long(rows, cols):
    return torch.zeros(rows, cols, dtype=torch.long)


def from_list(values):
    return torch.tensor(values)


def ones_double_like(x):
    return x.new_ones(x.shape, dtype=torch.double)


def randn_float_like(x):
    return torch.randn_like(x, dtype=torch.float)


def add_out(x, y, out):
    torch.add(x, y, out=out)
    return out


def add_inplace(x, y):
    y.add_(x)
    return y


def second_column(x):
    return x[:, 1]


def views_of(x):
    return x.view(x.numel()), x.view(-1, 8)


def to_python_number(t):
    return t.item()
