"""A realistic class for `autograder similarity`, generated from code (no network, no
randomness beyond a seeded random.Random): honest students who fill in the released
04_lenet and 05_training notebooks the way a class does, and copiers at three disguise
levels (tests/support/similarity_disguise.py).

Honest students converge on the lesson: at every choice (how to flatten, which names,
nn.Sequential or one attribute per layer, the tutorial's loops or the reference's) each
student takes the lesson's way with their own probability (their "fidelity", 0.3 to
0.85) and otherwise one of the other ways students write. So many honest pairs share
whole lines and some whole short functions (the lesson's `transforms.Compose([...])`,
`img / 2 + 0.5`, a reference-like `evaluate`), while two honest students rarely write a
whole notebook alike (in 04_lenet, whose exercises are short, now and then they do): the
case where a similarity score must weigh the idiom down.

    write_class(root, honest=24, copies_per_level=3, seed=0) -> list[Planted]
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import similarity_disguise as disguise

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENTS = ("04_lenet", "05_training")
LEVELS = ("verbatim", "renamed/reordered", "interleaved/rewritten")
STUB = re.compile(r"^( *)# YOUR CODE HERE\n\1raise NotImplementedError\(\)$", re.M)


@dataclass(frozen=True)
class Planted:
    copier: str
    original: str
    level: str


class Student:
    """One student's habits: how faithful to the lesson, which names they like."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.fidelity = rng.uniform(0.3, 0.85)
        self.x, self.y = self.pick(("inputs", "labels"), ("images", "labels"), ("x", "y"), ("data", "target"),
                                   ("imgs", "targets"), ("batch_x", "batch_y"))
        self.loss_sum = self.pick("running_loss", "total_loss", "epoch_loss", "loss_sum", "cum_loss")
        self.correct = self.pick("correct", "n_correct", "num_correct", "hits")
        self.total = self.pick("total", "seen", "count", "n_samples", "num_seen")
        self.outputs = self.pick("outputs", "output", "logits", "preds", "scores", "out")
        self.predicted = self.pick("predicted", "pred", "guess", "prediction", "predictions")
        self.layers = self.pick(("conv1", "conv2", "fc1", "fc2", "fc3"), ("c1", "c2", "f1", "f2", "f3"),
                                ("conv_1", "conv_2", "fc_1", "fc_2", "fc_3"), ("conv1", "conv2", "lin1", "lin2", "lin3"),
                                ("conv_a", "conv_b", "dense_a", "dense_b", "dense_c"))
        self.v = self.pick("x", "out", "h", "z")
        self.param = self.pick("parameter", "p", "param", "f", "w")
        self.history = self.pick("history", "hist", "stats", "log", "results")
        self.relu = self.pick("F.relu({})", "torch.relu({})", "self.relu({})")

    def pick(self, lesson, *others):
        """The lesson's way with this student's fidelity, else one of the others."""
        if not others or self.rng.random() < self.fidelity:
            return lesson
        return self.rng.choice(others)

    def flag(self, p: float) -> bool:
        return self.rng.random() < p


# ---- 04_lenet -----------------------------------------------------------------------

def num_flat_features(s: Student) -> list[str]:
    return [s.pick("return math.prod(x.size()[1:])",
                   "size = x.size()[1:]  # all dimensions except the batch dimension\nnum_features = 1\n"
                   "for s in size:\n    num_features *= s\nreturn num_features",
                   "return math.prod(x.shape[1:])", "return x[0].numel()", "return x.numel() // x.shape[0]",
                   "n = 1\nfor d in x.shape[1:]:\n    n = n * d\nreturn n",
                   "return int(torch.tensor(x.shape[1:]).prod().item())", "return x.flatten(1).shape[1]")]


def lenet(s: Student, gray: bool) -> list[str]:
    channels, kernel, side = (1, 3, 6) if gray else (3, 5, 5)
    style = s.pick("layers", "sequential", "modules")
    if style == "sequential":
        return _sequential(s, channels, kernel, side)
    c1, c2, f1, f2, f3 = s.layers
    size = s.pick(str(kernel), f"({kernel}, {kernel})", f"kernel_size={kernel}")
    conv = (lambda i, o: f"nn.Conv2d(in_channels={i}, out_channels={o}, kernel_size={kernel})") if s.flag(0.15) \
        else (lambda i, o: f"nn.Conv2d({i}, {o}, {size})")
    flat = s.pick(f"16 * {side} * {side}", str(16 * side * side))
    init = [f"self.{c1} = {conv(channels, 6)}", f"self.{c2} = {conv(6, 16)}", f"self.{f1} = nn.Linear({flat}, 120)",
            f"self.{f2} = nn.Linear(120, 84)", f"self.{f3} = nn.Linear(84, 10)"]
    relu = s.relu if style != "modules" else "self.relu({})"
    if "self.relu" in relu:
        init.append("self.relu = nn.ReLU()")
    lesson_pool = "F.max_pool2d({}, 2)" if gray else "self.pool({})"
    pool = s.pick(lesson_pool, "F.max_pool2d({}, (2, 2))", "self.pool({})", "F.max_pool2d({}, 2)",
                  "F.max_pool2d({}, kernel_size=2)")
    if "self.pool" in pool:
        init.insert(1, s.pick("self.pool = nn.MaxPool2d(2, 2)", "self.pool = nn.MaxPool2d(2)",
                              "self.pool = nn.MaxPool2d(kernel_size=2, stride=2)"))
    if s.flag(0.3):
        s.rng.shuffle(init)
    v = s.v
    tutorial = "{}.view(-1, num_flat_features({}))" if gray else "{}.view(-1, 16 * 5 * 5)"
    flatten = s.pick("torch.flatten({}, 1)", "torch.flatten({}, start_dim=1)", tutorial, "{}.view({}.size(0), -1)",
                     "{}.flatten(1)", "{}.reshape({}.shape[0], -1)", f"{{}}.view(-1, {flat})")
    split = s.flag(0.3)
    forward, source = [], "x"
    for layer in (c1, c2):
        if split:
            forward += [f"{v} = self.{layer}({source})", f"{v} = {relu.format(v)}", f"{v} = {pool.format(v)}"]
        else:
            forward.append(f"{v} = {pool.format(relu.format(f'self.{layer}({source})'))}")
        source = v
    forward.append(f"{v} = {flatten.replace('{}', v)}")
    for layer in (f1, f2):
        forward.append(f"{v} = {relu.format(f'self.{layer}({v})')}")
    forward += s.pick([f"return self.{f3}({v})"], [f"{v} = self.{f3}({v})", f"return {v}"])
    return ["\n".join(init), "\n".join(forward)]


def _sequential(s: Student, channels: int, kernel: int, side: int) -> list[str]:
    a, b = s.pick(("features", "classifier"), ("conv", "fc"), ("body", "head"), ("encoder", "decoder"))
    pool = s.pick("nn.MaxPool2d(2)", "nn.MaxPool2d(2, 2)", "nn.MaxPool2d(kernel_size=2)", "nn.MaxPool2d(2, stride=2)")
    relu = s.pick("nn.ReLU()", "nn.ReLU(inplace=True)", "nn.ReLU(True)")
    flat = s.pick(str(16 * side * side), f"16 * {side} * {side}", f"16 * {side * side}")
    flatten_inside = s.flag(0.5)
    layers = [[f"nn.Conv2d({channels}, 6, {kernel})", relu, pool], [f"nn.Conv2d(6, 16, {kernel})", relu, pool]]
    dense = [[f"nn.Linear({flat}, 120)", relu], ["nn.Linear(120, 84)", relu], ["nn.Linear(84, 10)"]]
    if flatten_inside:
        dense.insert(0, ["nn.Flatten()"])
    one_per_line = s.flag(0.5)

    def block(groups):
        items = [x for g in groups for x in g]
        body = ",\n    ".join(items) if one_per_line else ",\n    ".join(", ".join(g) for g in groups)
        return f"nn.Sequential(\n    {body},\n)"

    init = f"self.{a} = {block(layers)}\nself.{b} = {block(dense)}"
    v = s.v
    if flatten_inside:
        forward = s.pick(f"return self.{b}(self.{a}(x))", f"{v} = self.{a}(x)\nreturn self.{b}({v})")
    else:
        forward = s.pick(f"{v} = self.{a}(x)\n{v} = torch.flatten({v}, 1)\nreturn self.{b}({v})",
                         f"{v} = self.{a}(x)\nreturn self.{b}({v}.view({v}.size(0), -1))")
    return [init, forward]


def add_batch_dim(s: Student) -> list[str]:
    return [s.pick("return sample.unsqueeze(0)", "return sample.unsqueeze(dim=0)", "return sample[None]",
                   "return sample[None, ...]", "return torch.unsqueeze(sample, 0)", "return sample.view(1, *sample.shape)",
                   "return sample.reshape(1, *sample.size())")]


def backprop_random_grad(s: Student) -> list[str]:
    out = s.pick("out", "output", "y", "pred", "result")
    zero = s.pick("net.zero_grad()", "net.zero_grad(set_to_none=True)",
                  f"for {s.param} in net.parameters():\n    {s.param}.grad = None")
    backward = s.pick(f"{out}.backward(grad_output)", f"{out}.backward(gradient=grad_output)",
                      f"torch.autograd.backward({out}, grad_output)")
    lines = [zero, f"{out} = net(x)", backward]
    if s.flag(0.15):
        lines = [zero, f"net(x).backward(grad_output)"]
    return ["\n".join(lines + (["return None"] if s.flag(0.1) else []))]


# ---- 05_training --------------------------------------------------------------------

def mse_against_target(s: Student) -> list[str]:
    reshape = s.pick("target.view(1, -1)", "target.unsqueeze(0)", "target.reshape(1, -1)", "target.view_as(output)",
                     "target[None, :]")
    criterion = s.pick("criterion", "loss_fn", "mse")
    return [s.pick(f"return nn.MSELoss()(output, {reshape})",
                   f"{criterion} = nn.MSELoss()\nloss = {criterion}(output, {reshape})\nreturn loss",
                   f"target = {reshape}  # same shape as output\nreturn nn.MSELoss()(output, target)",
                   f"return nn.functional.mse_loss(output, {reshape})",
                   f"return ((output - {reshape}) ** 2).mean()")]


def grad_fn_chain(s: Student) -> list[str]:
    names = s.pick("names", "chain", "result", "out")
    label = s.pick("type(node).__name__", "node.name()")
    step = s.pick("node = node.next_functions[0][0] if node.next_functions else None",
                  "if len(node.next_functions) == 0:\n    node = None\nelse:\n    node = node.next_functions[0][0]")
    step = step.replace("\n", "\n    ")
    return [s.pick(f"{names} = []\nnode = loss.grad_fn\nwhile node is not None and len({names}) < steps:\n"
                   f"    {names}.append({label})\n    {step}\nreturn {names}",
                   f"{names} = []\nnode = loss.grad_fn\nfor _ in range(steps):\n    if node is None:\n        break\n"
                   f"    {names}.append({label})\n    {step}\nreturn {names}",
                   "def walk(node, left):\n    if node is None or left == 0:\n        return []\n"
                   "    nxt = node.next_functions[0][0] if node.next_functions else None\n"
                   f"    return [{label}] + walk(nxt, left - 1)\nreturn walk(loss.grad_fn, steps)")]


def manual_sgd_step(s: Student) -> list[str]:
    p = s.param
    update = s.pick(f"{p} -= lr * {p}.grad", f"{p}.sub_(lr * {p}.grad)", f"{p}.add_({p}.grad, alpha=-lr)",
                    f"{p}.data -= lr * {p}.grad.data", f"{p}.data.sub_({p}.grad.data * lr)", f"{p}.copy_({p} - lr * {p}.grad)")
    guard = s.pick("if {p}.grad is not None:\n    {u}", "if {p}.grad is None:\n    continue\n{u}")
    body = guard.format(p=p, u=update).replace("\n", "\n    ")
    loop = f"for {p} in net.parameters():\n    {body}"
    if "data" in update and s.flag(0.6):
        return [loop]
    comment = s.pick("  # the update itself must not become part of the graph", "")
    return [f"with torch.no_grad():{comment}\n    " + loop.replace("\n", "\n    ")]


def training_step(s: Student) -> list[str]:
    out, loss = s.outputs, s.pick("loss", "batch_loss", "l")
    zero = s.pick("optimizer.zero_grad()", "optimizer.zero_grad(set_to_none=True)", "net.zero_grad()")
    forward = s.pick([f"{out} = net(inputs)", f"{loss} = criterion({out}, targets)"],
                     [f"{loss} = criterion(net(inputs), targets)"])
    result = s.pick(f"return {loss}.item()", f"return float({loss})", f"return float({loss}.item())")
    lines = [zero + s.pick("  # gradients accumulate otherwise", ""), *forward, f"{loss}.backward()", "optimizer.step()", result]
    return ["\n".join(lines)]


def lesson_transform(s: Student) -> list[str]:
    norm = s.pick("(0.5, 0.5, 0.5), (0.5, 0.5, 0.5)", "(0.5,) * 3, (0.5,) * 3", "[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]",
                  "mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)")
    return [s.pick(f"return transforms.Compose([transforms.ToTensor(), transforms.Normalize({norm})])",
                   f"transform = transforms.Compose(\n    [transforms.ToTensor(),\n     transforms.Normalize({norm})])\n"
                   "return transform",
                   "mean = std = (0.5, 0.5, 0.5)  # per channel\n"
                   "return transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])",
                   "from torchvision.transforms import Compose, Normalize, ToTensor\n"
                   f"return Compose([ToTensor(), Normalize({norm})])")]


def unnormalize(s: Student) -> list[str]:
    return [s.pick("return img / 2 + 0.5", "return img * 0.5 + 0.5", "return (img + 1) / 2", "return img.div(2).add(0.5)",
                   "return 0.5 * img + 0.5", "return img.mul(0.5).add(0.5)")]


def to_display_image(s: Student) -> list[str]:
    move = s.pick("img.detach().cpu()", "img.cpu().detach()", "img.detach().to('cpu')")
    return [s.pick(f"img = {move} / 2 + 0.5     # unnormalize\nnpimg = img.numpy()\nreturn np.transpose(npimg, (1, 2, 0))",
                   f"img = {move} / 2 + 0.5\nreturn np.transpose(img.numpy(), (1, 2, 0))",
                   f"return ({move} / 2 + 0.5).permute(1, 2, 0).numpy()",
                   f"return unnormalize({move}).numpy().transpose(1, 2, 0)",
                   f"npimg = unnormalize({move}).numpy()\nreturn np.transpose(npimg, (1, 2, 0))")]


def _batches(s: Student, on_device: bool = True) -> list[str]:
    x, y = s.x, s.y
    data = "data" if x != "data" else "sample"
    head = s.pick(f"for {x}, {y} in loader:", f"for i, {data} in enumerate(loader, 0):", "for batch in loader:")
    lines = [head]
    if head.startswith("for i"):
        lines.append(s.pick(f"    {x}, {y} = {data}[0].to(device), {data}[1].to(device)", f"    {x}, {y} = {data}")
                     if on_device else f"    {x}, {y} = {data}")
    elif head.startswith("for batch"):
        lines.append(f"    {x}, {y} = batch")
    if on_device and not lines[-1].endswith("to(device)"):
        lines += s.pick([f"    {x}, {y} = {x}.to(device), {y}.to(device)"],
                        [f"    {x} = {x}.to(device)", f"    {y} = {y}.to(device)"])
    return lines


def _counts(s: Student, indent: str) -> list[str]:
    x, y, out, pred = s.x, s.y, s.outputs, s.predicted
    size = s.pick(f"{y}.size(0)", f"{x}.size(0)", f"len({y})", f"{x}.shape[0]")
    guess = s.pick([f"_, {pred} = torch.max({out}, 1)"], [f"_, {pred} = torch.max({out}.data, 1)"],
                   [f"{pred} = {out}.argmax(dim=1)"], [f"{pred} = torch.argmax({out}, 1)"])
    lines = [f"{s.loss_sum} += loss.item() * {size}", *guess,
             s.pick(f"{s.correct} += ({pred} == {y}).sum().item()", f"{s.correct} += int(({pred} == {y}).sum())",
                    f"{s.correct} += ({pred} == {y}).float().sum().item()"),
             f"{s.total} += {size}"]
    if s.flag(0.3):
        lines[1:] = lines[-1:] + lines[1:-1]
    return [indent + line for line in lines]


def train(s: Student) -> list[str]:
    h, x, y, out = s.history, s.x, s.y, s.outputs
    lines = []
    if s.flag(s.fidelity):
        lines.append("device = torch.device(device)")
    lines.append(s.pick("model.to(device)", "model = model.to(device)"))
    if s.flag(s.fidelity):
        lines.append("model.train()")
    lists = s.flag(0.3)
    lines.append("losses, accuracies = [], []" if lists else f"{h} = {{\"loss\": [], \"accuracy\": []}}")
    lines.append(s.pick("for epoch in range(epochs):", "for _ in range(epochs):", "for e in range(epochs):"))
    counters = [f"{s.loss_sum} = 0.0", f"{s.correct} = 0", f"{s.total} = 0"]
    lines += s.pick(["    " + ", ".join(c.split(" = ")[0] for c in counters) + " = 0.0, 0, 0"], ["    " + c for c in counters])
    lines += ["    " + line for line in _batches(s)]
    step = [s.pick("optimizer.zero_grad()", "optimizer.zero_grad(set_to_none=True)"), f"{out} = model({x})",
            f"loss = criterion({out}, {y})", "loss.backward()", "optimizer.step()"]
    lines += ["        " + line for line in step] + _counts(s, "        ")
    if s.flag(s.fidelity):
        lines += [f"    if {s.total} == 0:", '        raise ValueError("train: the loader yielded no samples")']
    if lists:
        lines += [f"    losses.append({s.loss_sum} / {s.total})", f"    accuracies.append({s.correct} / {s.total})",
                  'return {"loss": losses, "accuracy": accuracies}']
    else:
        lines += [f"    {h}[\"loss\"].append({s.loss_sum} / {s.total})", f"    {h}[\"accuracy\"].append({s.correct} / {s.total})",
                  f"return {h}"]
    return ["\n".join(lines)]


def evaluate(s: Student) -> list[str]:
    x, y, out = s.x, s.y, s.outputs
    counters = [f"{s.loss_sum} = 0.0", f"{s.correct} = 0", f"{s.total} = 0"]
    lines = ["model.eval()"]
    lines += s.pick([", ".join(c.split(" = ")[0] for c in counters) + " = 0.0, 0, 0"], counters)
    lines.append("with torch.no_grad():" + s.pick("  # inference only: no graph, less memory", ""))
    lines += ["    " + line for line in _batches(s)]
    lines.append(f"        {out} = model({x})")
    lines += s.pick([f"        loss = criterion({out}, {y})"], [f"        loss = criterion({out}, {y})  # mean over the batch"])
    lines += _counts(s, "        ")
    if s.flag(s.fidelity):
        lines += [f"if {s.total} == 0:", '    raise ValueError("evaluate: the loader yielded no samples")']
    lines.append(s.pick(f'return {{"loss": {s.loss_sum} / {s.total}, "accuracy": {s.correct} / {s.total}}}',
                        f'return dict(loss={s.loss_sum} / {s.total}, accuracy={s.correct} / {s.total})'))
    return ["\n".join(lines)]


def per_class_accuracy(s: Student) -> list[str]:
    x, y, out, pred = s.x, s.y, s.outputs, s.predicted
    style = s.pick("zip", "tutorial", "masks")
    start = s.pick(["class_correct = [0] * num_classes", "class_total = [0] * num_classes"],
                   ["class_correct = list(0. for i in range(num_classes))", "class_total = list(0. for i in range(num_classes))"],
                   ["class_correct = [0 for _ in range(num_classes)]", "class_total = [0 for _ in range(num_classes)]"])
    if style == "masks":
        start = ["class_correct = torch.zeros(num_classes)", "class_total = torch.zeros(num_classes)"]
    lines = start + ["model.eval()", "with torch.no_grad():"]
    lines += ["    " + line for line in _batches(s, on_device=False)]
    lines += [f"        {out} = model({x}.to(device))",
              s.pick(f"        _, {pred} = torch.max({out}, 1)", f"        {pred} = {out}.argmax(dim=1)")]
    if style == "zip":
        lines += [f"        for label, guess in zip({y}.tolist(), {pred}.tolist()):", "            class_total[label] += 1",
                  "            class_correct[label] += int(label == guess)"]
    elif style == "tutorial":
        lines += [f"        c = ({pred}.cpu() == {y}).squeeze()", f"        for i in range({y}.size(0)):",
                  f"            label = {y}[i]", "            class_correct[label] += c[i].item()",
                  "            class_total[label] += 1"]
    else:
        lines += ["        for c in range(num_classes):", f"            mask = {y} == c",
                  f"            class_correct[c] += ({pred}.cpu()[mask] == c).sum().item()",
                  "            class_total[c] += mask.sum().item()"]
    lines += s.pick(["return [correct / total if total else 0.0", "        for correct, total in zip(class_correct, class_total)]"],
                    ["return [class_correct[i] / class_total[i] if class_total[i] > 0 else 0.0 for i in range(num_classes)]"],
                    ["accuracies = []", "for i in range(num_classes):", "    if class_total[i] == 0:",
                     "        accuracies.append(0.0)", "    else:", "        accuracies.append(float(class_correct[i] / class_total[i]))",
                     "return accuracies"])
    return ["\n".join(lines)]


EXERCISES = {
    "04_lenet": {"num_flat_features": num_flat_features, "GrayLeNet": lambda s: lenet(s, True),
                 "add_batch_dim": add_batch_dim, "backprop_random_grad": backprop_random_grad,
                 "CifarLeNet": lambda s: lenet(s, False)},
    "05_training": {"mse_against_target": mse_against_target, "grad_fn_chain": grad_fn_chain,
                    "manual_sgd_step": manual_sgd_step, "training_step": training_step,
                    "lesson_transform": lesson_transform, "unnormalize": unnormalize,
                    "to_display_image": to_display_image, "train": train, "evaluate": evaluate,
                    "per_class_accuracy": per_class_accuracy},
}
SCRATCH = {  # a cell of the student's own, not tagged as a demo
    "04_lenet": ["net = GrayLeNet()\nprint(net(torch.randn({n}, 1, 32, 32)).shape)",
                 "print(sum(p.numel() for p in CifarLeNet().parameters()))\nprint(num_flat_features(torch.zeros({n}, {c}, 4)))",
                 "for name, p in GrayLeNet().named_parameters():\n    print(name, p.shape)\nprint(add_batch_dim(torch.ones({c}, {n})).shape)",
                 "x = torch.randn({n}, 3, 32, 32)\nCifarLeNet()(x).shape"],
    "05_training": ["print(lesson_transform())\nprint(unnormalize(torch.full(({c}, {n}), -1.0)))",
                    "img = torch.randn(3, {c}, {c})\nprint(unnormalize(img).min(), img.shape[{n} % 3])",
                    "print(to_display_image(torch.zeros(3, {n}, {c})).shape)",
                    "t = torch.randn(1, {c}, requires_grad=True)\nprint(mse_against_target(t, torch.zeros({c})))"],
}


# ---- notebooks ----------------------------------------------------------------------

def starter(assignment: str) -> dict:
    return json.loads((REPO / "assignments" / assignment / f"{assignment}.ipynb").read_text())


def fill(cell_source: str, bodies: list[str]) -> str:
    """The starter cell with its `# YOUR CODE HERE` stubs replaced by the bodies, in order."""
    parts = iter(bodies)

    def body(match):
        indent = match.group(1)
        return "\n".join(indent + line if line else "" for line in next(parts).split("\n"))

    return STUB.sub(body, cell_source)


def honest_cells(assignment: str, s: Student) -> dict[str, str]:
    """{grade_id: cell source} of one honest student's notebook (an exercise or two left
    as the stub by some)."""
    cells = {}
    for cell in starter(assignment)["cells"]:
        meta = cell["metadata"].get("nbgrader") or {}
        if cell["cell_type"] == "code" and meta.get("solution"):
            name = meta["grade_id"]
            source = "".join(cell["source"])
            cells[name] = source if s.flag(0.04) else fill(source, EXERCISES[assignment][name](s))
    if s.flag(0.6):  # a cell of their own, trying things on shapes of their choosing
        n, c = s.rng.randint(2, 9), s.rng.choice([3, 8, 16, 32])
        cells["scratch"] = s.rng.choice(SCRATCH[assignment]).format(n=n, c=c)
    return cells


def write_notebook(path: Path, assignment: str, cells: dict[str, str]) -> None:
    """The released notebook with the student's cells; an extra untagged cell at the end."""
    nb = starter(assignment)
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader") or {}
        if cell["cell_type"] == "code" and meta.get("grade_id") in cells:
            cell["source"] = cells[meta["grade_id"]]
    if "scratch" in cells:
        nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                            "source": cells["scratch"]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))


def write_class(root: Path, honest: int = 24, copies_per_level: int = 3, seed: int = 0,
                assignments=ASSIGNMENTS) -> list[Planted]:
    """root/<student>/<assignment>.ipynb for every student; the planted (copier, original,
    level) pairs. Each copier copies a different honest student, every assignment."""
    rng = random.Random(seed)
    students = {f"s{n:03d}": Student(random.Random(rng.random())) for n in range(honest)}
    notebooks = {name: {a: honest_cells(a, s) for a in assignments} for name, s in students.items()}
    originals = rng.sample(sorted(students), len(LEVELS) * copies_per_level)
    planted = []
    for number, original in enumerate(originals):
        level = LEVELS[number // copies_per_level]
        copier = f"c{number:02d}"
        copy_rng = random.Random(rng.random())
        notebooks[copier] = {a: disguise.copy_cells(cells, LEVELS.index(level), copy_rng)
                             for a, cells in notebooks[original].items()}
        planted.append(Planted(copier, original, level))
    for name, by_assignment in notebooks.items():
        for assignment, cells in by_assignment.items():
            write_notebook(root / name / f"{assignment}.ipynb", assignment, cells)
    return planted


def copies_above_honest(pairs, planted: list[Planted]) -> dict[str, list[bool]]:
    """{level: [copy pair scores above every other pair, one per copy]} for one assignment."""
    scores = {frozenset((p.a.student, p.b.student)): p.review for p in pairs}
    copy_pairs = {frozenset((p.copier, p.original)): p.level for p in planted}
    best_honest = max([s for pair, s in scores.items() if pair not in copy_pairs], default=0.0)
    found: dict[str, list[bool]] = {level: [] for level in LEVELS}
    for pair, level in copy_pairs.items():
        found[level].append(scores.get(pair, 0.0) > best_honest)
    return found
