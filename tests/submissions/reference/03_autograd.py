# Reference for 03_autograd as a plain .py submission (written from docs/EXERCISES.md); the CLI tests grade it.
import torch


def tracked_ones(rows, cols):
    return torch.ones(rows, cols, requires_grad=True)


def lesson_graph(x):
    y = x + 2
    z = y * y * 3
    out = z.mean()
    return y, z, out


def lesson_gradient(x):
    x = x.detach().clone().requires_grad_(True)
    _, _, out = lesson_graph(x)
    out.backward()
    return x.grad


def vector_jacobian_product(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    y.backward(v)
    return x.grad


def no_grad_double(x):
    with torch.no_grad():
        return x * 2


def detached(x):
    return x.detach()


def accumulated_grad(x, times):
    x = x.detach().clone().requires_grad_(True)
    for _ in range(times):
        (x ** 2).sum().backward()
    return x.grad
