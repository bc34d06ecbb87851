# Reference for 06_cuda as a plain .py submission (written from docs/EXERCISES.md); the CLI tests grade it.
import torch


def pick_device():
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def ones_on(x, device):
    return torch.ones_like(x, device=device)


def add_on_device(x, device):
    return x.to(device) + torch.ones_like(x, device=device)


def to_cpu_double(z):
    return z.to("cpu", torch.double)


def move_model(model, device):
    return model.to(device)


def train_step_on_device(model, batch, criterion, optimizer):
    device = next(model.parameters()).device
    inputs, labels = batch
    inputs, labels = inputs.to(device), labels.to(device)
    optimizer.zero_grad()
    outputs = model(inputs)
    loss = criterion(outputs, labels)
    loss.backward()
    optimizer.step()
    return loss.item()
