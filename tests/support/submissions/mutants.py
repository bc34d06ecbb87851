"""Mutants: the reference with ONE realistic student mistake each (appended redefinition).

tests/hidden_tests/test_mutations.py lists, for each, exactly which tests must lose points.
"""
from __future__ import annotations

from submissions.sources import variant

# A correct training loop written once; each training mutant drops exactly one of its
# lines, so the mutant's single mistake is that line and nothing else.
CORRECT_TRAIN = """
def train(model, loader, criterion, optimizer, device, epochs=2):
    model.to(device)
    model.train()
    history = {"loss": [], "accuracy": []}
    for _ in range(epochs):
        total, correct, seen = 0.0, 0, 0
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            total += loss.item() * labels.size(0)
            correct += (outputs.argmax(1) == labels).sum().item()
            seen += labels.size(0)
        history["loss"].append(total / seen)
        history["accuracy"].append(correct / seen)
    return history
"""


def without(code: str, statement: str) -> str:
    """`code` with the one line that is exactly `statement` removed."""
    lines = code.split("\n")
    hits = [i for i, line in enumerate(lines) if line.strip() == statement]
    assert len(hits) == 1, f"{statement!r} must appear once in the template, found {len(hits)}"
    return "\n".join(lines[:hits[0]] + lines[hits[0] + 1:])


MUTANTS = {
    # -- 01_tensors ---------------------------------------------------------------------
    "zeros_long_wrong_dtype": variant("01_tensors", "zeros without dtype=torch.long", """
        def zeros_long(rows, cols):
            return torch.zeros(rows, cols)
    """),
    "uniform_uses_randn": variant("01_tensors", "torch.randn instead of torch.rand", """
        def make_uniform(rows, cols):
            return torch.randn(rows, cols)
    """),
    "empty_swapped_shape": variant("01_tensors", "rows and cols swapped", """
        def make_empty(rows, cols):
            return torch.empty(cols, rows)
    """),
    "add_out_returns_new_tensor": variant("01_tensors", "add_out returns x + y instead of filling out", """
        def add_out(x, y, out):
            return x + y
    """),
    "add_inplace_rebinds": variant("01_tensors", "y = y + x makes a new tensor", """
        def add_inplace(x, y):
            y = y + x
            return y
    """),
    "views_of_clone": variant("01_tensors", "views taken of a clone", """
        def views_of(x):
            x = x.clone()
            return x.reshape(x.numel()), x.reshape(-1, 8)
    """),
    "ones_like_keeps_dtype": variant("01_tensors", "torch.ones_like keeps x's dtype", """
        def ones_double_like(x):
            return torch.ones_like(x)
    """),
    "ones_double_like_ignores_device": variant("01_tensors", "torch.ones(x.size(), dtype=double): on the CPU", """
        def ones_double_like(x):
            return torch.ones(x.size(), dtype=torch.double)
    """),
    "second_column_is_a_row": variant("01_tensors", "x[1] (a row) instead of x[:, 1]", """
        def second_column(x):
            return x[1]
    """),
    "number_stays_tensor": variant("01_tensors", "returns a tensor instead of .item()", """
        def to_python_number(t):
            return t.reshape(-1)[0]
    """),
    "from_list_forces_float": variant("01_tensors", "dtype=torch.float32 forced", """
        def from_list(values):
            return torch.tensor(values, dtype=torch.float32)
    """),
    # -- 02_numpy_bridge ------------------------------------------------------------------
    "numpy_copy_not_view": variant("02_numpy_bridge", "t.numpy().copy(): no shared memory", """
        def tensor_to_numpy(t):
            return t.numpy().copy()
    """),
    "from_numpy_replaced_by_tensor": variant("02_numpy_bridge", "torch.tensor(a) copies", """
        def numpy_to_tensor(a):
            return torch.tensor(a)
    """),
    "increment_rebinds_array": variant("02_numpy_bridge", "a = a + 1 writes a new array", """
        def increment_through_numpy(t):
            a = t.numpy()
            a = a + 1
    """),
    "safe_forgets_bfloat16": variant("02_numpy_bridge", "no bfloat16 conversion", """
        def safe_to_numpy(t):
            return t.detach().cpu().numpy()
    """),
    "safe_converts_everything_to_float": variant("02_numpy_bridge", "always .float()", """
        def safe_to_numpy(t):
            return t.detach().cpu().float().numpy()
    """),
    # -- 03_autograd ------------------------------------------------------------------------
    "forgot_requires_grad": variant("03_autograd", "tracked_ones without requires_grad", """
        def tracked_ones(rows, cols):
            return torch.ones(rows, cols)
    """),
    "hard_coded_4_5": variant("03_autograd", "lesson_gradient returns 4.5 everywhere", """
        def lesson_gradient(x):
            return torch.full_like(x, 4.5)
    """),
    "lesson_gradient_uses_callers_x": variant("03_autograd", "backward on the caller's x", """
        def lesson_gradient(x):
            x.requires_grad_(True)
            _, _, out = lesson_graph(x)
            out.backward()
            return x.grad.clone()
    """),
    "out_as_python_number": variant("03_autograd", "out = z.mean().item()", """
        def lesson_graph(x):
            y = x + 2
            z = y * y * 3
            return y, z, z.mean().item()
    """),
    "graph_in_float32": variant("03_autograd", "computes in float32 whatever x is", """
        def lesson_graph(x):
            y = x.float() + 2
            z = y * y * 3
            return y, z, z.mean()
    """),
    "scalar_backward_with_vector": variant("03_autograd", "the lesson's erratum: scalar.backward(v)", """
        def vector_jacobian_product(f, x, v):
            x = x.detach().clone().requires_grad_(True)
            f(x).sum().backward(v)
            return x.grad
    """),
    "vjp_ignores_v": variant("03_autograd", "backward with ones instead of v", """
        def vector_jacobian_product(f, x, v):
            x = x.detach().clone().requires_grad_(True)
            y = f(x)
            y.backward(torch.ones_like(y))
            return x.grad
    """),
    "no_grad_forgotten": variant("03_autograd", "x * 2 outside torch.no_grad()", """
        def no_grad_double(x):
            return x * 2
    """),
    "detached_clone": variant("03_autograd", "x.clone().detach() copies", """
        def detached(x):
            return x.clone().detach()
    """),
    "accumulated_zeroes_each_time": variant("03_autograd", "zeroes x.grad between backward calls", """
        def accumulated_grad(x, times):
            x = x.detach().clone().requires_grad_(True)
            for _ in range(times):
                x.grad = None
                (x ** 2).sum().backward()
            return x.grad
    """),
    # -- 04_lenet -----------------------------------------------------------------------------
    "wrong_flatten_size": variant("04_lenet", "GrayLeNet's fc1 takes 16*5*5 (the CIFAR size)", """
        class GrayLeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 6, 3)
                self.conv2 = nn.Conv2d(6, 16, 3)
                self.fc1 = nn.Linear(16 * 5 * 5, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)

            def forward(self, x):
                x = F.max_pool2d(F.relu(self.conv1(x)), 2)
                x = F.max_pool2d(F.relu(self.conv2(x)), 2)
                x = torch.flatten(x, 1)
                x = F.relu(self.fc1(x))
                x = F.relu(self.fc2(x))
                return self.fc3(x)
    """),
    "missing_relu": variant("04_lenet", "no ReLU after conv2", """
        class GrayLeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 6, 3)
                self.conv2 = nn.Conv2d(6, 16, 3)
                self.fc1 = nn.Linear(16 * 6 * 6, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)

            def forward(self, x):
                x = F.max_pool2d(F.relu(self.conv1(x)), 2)
                x = F.max_pool2d(self.conv2(x), 2)
                x = torch.flatten(x, 1)
                x = F.relu(self.fc1(x))
                x = F.relu(self.fc2(x))
                return self.fc3(x)
    """),
    "relu_on_output": variant("04_lenet", "ReLU after the last layer", """
        class CifarLeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 6, 5)
                self.pool = nn.MaxPool2d(2, 2)
                self.conv2 = nn.Conv2d(6, 16, 5)
                self.fc1 = nn.Linear(16 * 5 * 5, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)

            def forward(self, x):
                x = self.pool(F.relu(self.conv1(x)))
                x = self.pool(F.relu(self.conv2(x)))
                x = torch.flatten(x, 1)
                x = F.relu(self.fc1(x))
                x = F.relu(self.fc2(x))
                return F.relu(self.fc3(x))
    """),
    "flat_features_include_batch": variant("04_lenet", "multiplies the batch size in too", """
        def num_flat_features(x):
            n = 1
            for s in x.size():
                n *= s
            return n
    """),
    "batch_dim_in_wrong_place": variant("04_lenet", "unsqueeze(1)", """
        def add_batch_dim(sample):
            return sample.unsqueeze(1)
    """),
    "backprop_without_zero_grad": variant("04_lenet", "old gradients not zeroed", """
        def backprop_random_grad(net, x, grad_output):
            net(x).backward(grad_output)
    """),
    # -- 05_training --------------------------------------------------------------------------
    "mse_returns_float": variant("05_training", "loss.item() instead of the tensor", """
        def mse_against_target(output, target):
            return nn.MSELoss()(output, target.view(1, -1)).item()
    """),
    "grad_fn_chain_skips_first": variant("05_training", "starts at next_functions, not grad_fn", """
        def grad_fn_chain(loss, steps):
            names, node = [], loss.grad_fn.next_functions[0][0]
            while node is not None and len(names) < steps:
                names.append(type(node).__name__)
                node = node.next_functions[0][0] if node.next_functions else None
            return names
    """),
    "manual_sgd_plus": variant("05_training", "p += lr * grad (climbs the loss)", """
        def manual_sgd_step(net, lr):
            with torch.no_grad():
                for p in net.parameters():
                    p += lr * p.grad
    """),
    "training_step_no_zero_grad": variant("05_training", "no optimizer.zero_grad()", """
        def training_step(net, optimizer, criterion, inputs, targets):
            loss = criterion(net(inputs), targets)
            loss.backward()
            optimizer.step()
            return loss.item()
    """),
    "training_step_no_step": variant("05_training", "no optimizer.step()", """
        def training_step(net, optimizer, criterion, inputs, targets):
            optimizer.zero_grad()
            loss = criterion(net(inputs), targets)
            loss.backward()
            return loss.item()
    """),
    "transform_without_normalize": variant("05_training", "ToTensor only", """
        def lesson_transform():
            return transforms.Compose([transforms.ToTensor()])
    """),
    "display_view_not_permute": variant("05_training", "view(H, W, 3) scrambles pixels", """
        def to_display_image(img):
            c, h, w = img.shape
            return (img / 2 + 0.5).reshape(h, w, c).numpy()
    """),
    "train_no_zero_grad": variant("05_training", "train never zeroes gradients",
                                  without(CORRECT_TRAIN, "optimizer.zero_grad()")),
    "train_no_step": variant("05_training", "train never calls optimizer.step()",
                             without(CORRECT_TRAIN, "optimizer.step()")),
    "train_forgets_train_mode": variant("05_training", "no model.train() (stays in eval after evaluate)",
                                        without(CORRECT_TRAIN, "model.train()")),
    "evaluate_in_train_mode": variant("05_training", "evaluate without model.eval()", """
        def evaluate(model, loader, criterion, device):
            total, correct, seen = 0.0, 0, 0
            with torch.no_grad():
                for inputs, labels in loader:
                    inputs, labels = inputs.to(device), labels.to(device)
                    outputs = model(inputs)
                    total += criterion(outputs, labels).item() * labels.size(0)
                    correct += (outputs.argmax(1) == labels).sum().item()
                    seen += labels.size(0)
            return {"loss": total / seen, "accuracy": correct / seen}
    """),
    "evaluate_without_no_grad": variant("05_training", "evaluate builds graphs", """
        def evaluate(model, loader, criterion, device):
            model.eval()
            total, correct, seen = 0.0, 0, 0
            for inputs, labels in loader:
                inputs, labels = inputs.to(device), labels.to(device)
                outputs = model(inputs)
                total += criterion(outputs, labels).item() * labels.size(0)
                correct += (outputs.argmax(1) == labels).sum().item()
                seen += labels.size(0)
            return {"loss": total / seen, "accuracy": correct / seen}
    """),
    "evaluate_counts_full_batches": variant("05_training", "divides by batches * first batch size", """
        def evaluate(model, loader, criterion, device):
            model.eval()
            total, correct, batches, size = 0.0, 0, 0, None
            with torch.no_grad():
                for inputs, labels in loader:
                    inputs, labels = inputs.to(device), labels.to(device)
                    size = size or labels.size(0)
                    outputs = model(inputs)
                    total += criterion(outputs, labels).item()
                    correct += (outputs.argmax(1) == labels).sum().item()
                    batches += 1
            return {"loss": total / batches, "accuracy": correct / (batches * size)}
    """),
    "per_class_assumes_batch_of_4": variant("05_training", "the lesson's range(4) loop", """
        def per_class_accuracy(model, loader, device, num_classes=10):
            correct, total = [0] * num_classes, [0] * num_classes
            model.eval()
            with torch.no_grad():
                for images, labels in loader:
                    images, labels = images.to(device), labels.to(device)
                    _, predicted = torch.max(model(images), 1)
                    c = (predicted == labels).squeeze()
                    for i in range(4):
                        label = labels[i]
                        correct[label] += c[i].item()
                        total[label] += 1
            return [c / t if t else 0.0 for c, t in zip(correct, total)]
    """),
    "per_class_divides_by_zero": variant("05_training", "no guard for classes without samples", """
        def per_class_accuracy(model, loader, device, num_classes=10):
            correct, total = [0] * num_classes, [0] * num_classes
            model.eval()
            with torch.no_grad():
                for images, labels in loader:
                    images, labels = images.to(device), labels.to(device)
                    predicted = model(images).argmax(1)
                    for label, guess in zip(labels.tolist(), predicted.tolist()):
                        total[label] += 1
                        correct[label] += int(label == guess)
            return [c / t for c, t in zip(correct, total)]
    """),
    # -- 06_cuda --------------------------------------------------------------------------------
    "pick_device_hard_coded_cpu": variant("06_cuda", "always torch.device('cpu')", """
        def pick_device():
            return torch.device("cpu")
    """),
    "ones_on_ignores_device": variant("06_cuda", "torch.ones_like(x) without device=", """
        def ones_on(x, device):
            return torch.ones_like(x)
    """),
    "add_on_device_stays_put": variant("06_cuda", "adds on x's own device", """
        def add_on_device(x, device):
            return x + torch.ones_like(x)
    """),
    "add_on_device_modifies_x": variant("06_cuda", "x.add_(1) then moves x: the caller's x changes", """
        def add_on_device(x, device):
            x.add_(1)
            return x.to(device)
    """),
    "model_not_moved": variant("06_cuda", "move_model returns the model unmoved", """
        def move_model(model, device):
            return model
    """),
    "labels_left_on_cpu": variant("06_cuda", "only the inputs are moved", """
        def train_step_on_device(model, batch, criterion, optimizer):
            device = next(model.parameters()).device
            inputs, labels = batch
            inputs = inputs.to(device)
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            return loss.item()
    """),
    "inputs_left_on_cpu": variant("06_cuda", "only the labels are moved", """
        def train_step_on_device(model, batch, criterion, optimizer):
            device = next(model.parameters()).device
            inputs, labels = batch
            labels = labels.to(device)
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            return loss.item()
    """),
    "to_cpu_double_keeps_device": variant("06_cuda", "z.double() leaves a CUDA tensor on the GPU", """
        def to_cpu_double(z):
            return z.double()
    """),
}
