"""Correct solutions written differently from the reference; each must get full marks.

Each replaces several exercises at once (appended redefinitions) in a style a student
could reasonably choose: nn.Sequential models, other flatten spellings, a differently
shaped training loop, bincount, NumPy/torch conversion variants, torch.autograd.grad.
"""
from __future__ import annotations

from submissions.sources import variant

ALTERNATIVES = {
    "tensors_other_constructors": variant("01_tensors", "uniform_, .long(), as_tensor, select, +=", """
        def make_empty(rows, cols):
            return torch.empty((rows, cols), dtype=torch.float32)

        def make_uniform(rows, cols):
            return torch.empty(rows, cols).uniform_(0, 1)

        def zeros_long(rows, cols):
            return torch.zeros(rows, cols).long()

        def from_list(values):
            return torch.as_tensor(values)

        def ones_double_like(x):
            return torch.ones(x.shape, dtype=torch.float64, device=x.device)

        def randn_float_like(x):
            return torch.randn(x.shape, device=x.device)

        def add_out(x, y, out):
            return torch.add(x, y, out=out)

        def add_inplace(x, y):
            y += x
            return y

        def second_column(x):
            return x.select(1, 1)

        def views_of(x):
            return x.view(-1), x.view(x.numel() // 8, 8)

        def to_python_number(t):
            return t.reshape(-1)[0].item()
    """),
    "numpy_bridge_variants": variant("02_numpy_bridge", "np.asarray, numpy(force=False), as_tensor, +=", """
        def tensor_to_numpy(t):
            return np.asarray(t.numpy(force=False))

        def numpy_to_tensor(a):
            return torch.as_tensor(a)

        def increment_through_numpy(t):
            a = t.numpy()
            a += 1

        def safe_to_numpy(t):
            if t.requires_grad:
                t = t.detach()
            if t.is_cuda:
                t = t.to("cpu")
            if t.dtype is torch.bfloat16:
                t = t.to(torch.float32)
            return np.asarray(t)
    """),
    "autograd_with_autograd_grad": variant("03_autograd", "torch.autograd.grad instead of backward", """
        def tracked_ones(rows, cols):
            return torch.ones(rows, cols).requires_grad_()

        def lesson_graph(x):
            y = torch.add(x, 2)
            z = 3 * y ** 2
            return y, z, torch.mean(z)

        def lesson_gradient(x):
            leaf = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(lesson_graph(leaf)[2], leaf)
            return grad

        def vector_jacobian_product(f, x, v):
            leaf = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(f(leaf), leaf, grad_outputs=v)
            return grad

        def no_grad_double(x):
            return x.detach() * 2

        def detached(x):
            return x.data

        def accumulated_grad(x, times):
            leaf = torch.tensor(x.tolist(), dtype=x.dtype, requires_grad=True)
            for _ in range(times):
                loss = (leaf * leaf).sum()
                loss.backward()
            return leaf.grad
    """),
    "lenet_sequential": variant("04_lenet", "functions returning nn.Sequential, nn.ReLU modules, nn.Flatten", """
        def GrayLeNet():
            return nn.Sequential(
                nn.Conv2d(1, 6, 3), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(576, 120), nn.ReLU(),
                nn.Linear(120, 84), nn.ReLU(),
                nn.Linear(84, 10),
            )

        def CifarLeNet():
            return nn.Sequential(
                nn.Conv2d(3, 6, 5), nn.MaxPool2d(2, 2), nn.ReLU(),
                nn.Conv2d(6, 16, 5), nn.MaxPool2d(2, 2), nn.ReLU(),
                nn.Flatten(1),
                nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
            )

        def num_flat_features(x):
            return x[0].numel()

        def add_batch_dim(sample):
            return sample[None]

        def backprop_random_grad(net, x, grad_output):
            for p in net.parameters():
                p.grad = None
            torch.autograd.backward(net(x), grad_output)
    """),
    "lenet_lesson_style": variant("04_lenet", "the lesson's view(-1, num_flat_features(x)) and F.relu", """
        class GrayLeNet(nn.Module):
            def __init__(self):
                super(GrayLeNet, self).__init__()
                self.conv1 = nn.Conv2d(1, 6, 3)
                self.conv2 = nn.Conv2d(6, 16, 3)
                self.fc1 = nn.Linear(16 * 6 * 6, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)

            def forward(self, x):
                x = F.relu(F.max_pool2d(self.conv1(x), (2, 2)))
                x = F.relu(F.max_pool2d(self.conv2(x), 2))
                x = x.view(-1, self.num_flat_features(x))
                x = F.relu(self.fc1(x))
                x = F.relu(self.fc2(x))
                return self.fc3(x)

            def num_flat_features(self, x):
                size = x.size()[1:]
                n = 1
                for s in size:
                    n *= s
                return n

        def backprop_random_grad(net, x, grad_output):
            net.zero_grad(set_to_none=False)
            out = net(x)
            out.backward(gradient=grad_output)
    """),
    "training_loop_variant": variant("05_training", "iter/next, zero_grad(set_to_none) after forward, bincount, inference_mode", """
        import torch.nn.functional as F

        def mse_against_target(output, target):
            return F.mse_loss(output, target.unsqueeze(0))

        def grad_fn_chain(loss, steps):
            def walk(node, left):
                if node is None or left == 0:
                    return []
                rest = node.next_functions[0][0] if node.next_functions else None
                return [node.name()] + walk(rest, left - 1)
            return walk(loss.grad_fn, steps)

        def manual_sgd_step(net, lr):
            for p in net.parameters():
                p.data.sub_(p.grad.data * lr)

        def training_step(net, optimizer, criterion, inputs, targets):
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return float(loss)

        def to_display_image(img):
            return img.permute(1, 2, 0).numpy() / 2 + 0.5

        def train(model, loader, criterion, optimizer, device, epochs=2):
            model = model.to(device)
            losses, accuracies = [], []
            for epoch in range(epochs):
                model.train()
                batch_losses, correct, seen = [], 0, 0
                batches = iter(loader)
                while True:
                    try:
                        inputs, labels = next(batches)
                    except StopIteration:
                        break
                    inputs = inputs.to(device)
                    labels = labels.to(device)
                    outputs = model(inputs)
                    loss = criterion(outputs, labels)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    batch_losses.append((loss.item(), len(labels)))
                    _, predicted = torch.max(outputs.data, 1)
                    correct += int((predicted == labels).sum())
                    seen += len(labels)
                losses.append(sum(l * n for l, n in batch_losses) / seen)
                accuracies.append(correct / seen)
            return {"loss": losses, "accuracy": accuracies}

        def evaluate(model, loader, criterion, device):
            model.eval()
            loss_sum, correct, seen = 0.0, 0, 0
            with torch.inference_mode():
                for i, (inputs, labels) in enumerate(loader):
                    inputs, labels = inputs.to(device), labels.to(device)
                    outputs = model(inputs)
                    loss_sum += float(criterion(outputs, labels)) * labels.numel()
                    correct += (outputs.argmax(dim=1) == labels).sum().item()
                    seen += labels.numel()
            return {"loss": loss_sum / seen, "accuracy": correct / seen}

        def per_class_accuracy(model, loader, device, num_classes=10):
            model.eval()
            correct = torch.zeros(num_classes)
            total = torch.zeros(num_classes)
            with torch.no_grad():
                for images, labels in loader:
                    predicted = model(images.to(device)).argmax(1).cpu()
                    total += torch.bincount(labels, minlength=num_classes)
                    correct += torch.bincount(labels[predicted == labels], minlength=num_classes)
            return [float(c / t) if t > 0 else 0.0 for c, t in zip(correct, total)]
    """),
    "cuda_variants": variant("06_cuda", "torch.device('cuda', 0), torch.ones(..., device=), .cpu().double()", """
        def pick_device():
            if torch.cuda.is_available():
                return torch.device("cuda", 0)
            return torch.device("cpu")

        def ones_on(x, device):
            return torch.ones(x.shape, dtype=x.dtype, device=device)

        def add_on_device(x, device):
            x = x.to(device)
            return x + torch.ones(x.shape, dtype=x.dtype, device=device)

        def to_cpu_double(z):
            return z.cpu().double()

        def move_model(model, device):
            model.to(device)
            return model

        def train_step_on_device(model, batch, criterion, optimizer):
            device = next(iter(model.parameters())).device
            inputs, labels = (t.to(device, non_blocking=True) for t in batch)
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            return loss.item()
    """),
}
