"""A 04_lenet class for the similarity tests: honest students who each solved the five
exercises their own way (the starter's signatures kept, as students fill in the cells),
and planted copies of some of them: renamed, reordered, reformatted, and one that
copied a single exercise of five."""
from __future__ import annotations

import re

import nbformat

HEADER = "import math\n\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
SIG = {
    "num_flat_features": "def num_flat_features(x: torch.Tensor) -> int:\n",
    "add_batch_dim": "def add_batch_dim(sample: torch.Tensor) -> torch.Tensor:\n",
    "backprop_random_grad": "def backprop_random_grad(net: nn.Module, x: torch.Tensor, grad_output: torch.Tensor) -> None:\n",
}
INIT = "    def __init__(self):\n        super().__init__()\n"
FORWARD = "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"


def _honest(flat: str, gray: str, batch: str, backprop: str, cifar: str) -> dict[str, str]:
    return {"num_flat_features": SIG["num_flat_features"] + flat,
            "GrayLeNet": "class GrayLeNet(nn.Module):\n" + gray,
            "add_batch_dim": SIG["add_batch_dim"] + batch,
            "backprop_random_grad": SIG["backprop_random_grad"] + backprop,
            "CifarLeNet": "class CifarLeNet(nn.Module):\n" + cifar}


HONEST = {
    "h1_lesson": _honest(
        "    return math.prod(x.size()[1:])\n",
        INIT + "        self.conv1 = nn.Conv2d(1, 6, 3)\n        self.conv2 = nn.Conv2d(6, 16, 3)\n"
        "        self.fc1 = nn.Linear(16 * 6 * 6, 120)\n        self.fc2 = nn.Linear(120, 84)\n"
        "        self.fc3 = nn.Linear(84, 10)\n\n" + FORWARD +
        "        x = F.max_pool2d(F.relu(self.conv1(x)), 2)\n        x = F.max_pool2d(F.relu(self.conv2(x)), 2)\n"
        "        x = torch.flatten(x, 1)\n        x = F.relu(self.fc1(x))\n        x = F.relu(self.fc2(x))\n"
        "        return self.fc3(x)\n",
        "    return sample.unsqueeze(0)\n",
        "    net.zero_grad()\n    out = net(x)\n    out.backward(grad_output)\n",
        INIT + "        self.conv1 = nn.Conv2d(3, 6, 5)\n        self.pool = nn.MaxPool2d(2, 2)\n"
        "        self.conv2 = nn.Conv2d(6, 16, 5)\n        self.fc1 = nn.Linear(16 * 5 * 5, 120)\n"
        "        self.fc2 = nn.Linear(120, 84)\n        self.fc3 = nn.Linear(84, 10)\n\n" + FORWARD +
        "        x = self.pool(F.relu(self.conv1(x)))\n        x = self.pool(F.relu(self.conv2(x)))\n"
        "        x = torch.flatten(x, 1)\n        x = F.relu(self.fc1(x))\n        x = F.relu(self.fc2(x))\n"
        "        return self.fc3(x)\n"),
    "h2_sequential": _honest(
        "    n = 1\n    for d in x.shape[1:]:\n        n *= d\n    return n\n",
        INIT + "        self.features = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.MaxPool2d(2),\n"
        "                                      nn.Conv2d(6, 16, 3), nn.ReLU(), nn.MaxPool2d(2))\n"
        "        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(576, 120), nn.ReLU(),\n"
        "                                        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))\n\n"
        + FORWARD + "        return self.classifier(self.features(x))\n",
        "    return sample[None]\n",
        "    for p in net.parameters():\n        p.grad = None\n    net(x).backward(gradient=grad_output)\n",
        INIT + "        self.body = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2, 2),\n"
        "                                  nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2))\n"
        "        self.head = nn.Sequential(nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),\n"
        "                                  nn.Linear(84, 10))\n\n" + FORWARD +
        "        h = self.body(x)\n        return self.head(h.flatten(1))\n"),
    "h3_keywords": _honest(
        "    size = x.size()[1:]\n    num_features = 1\n    for s in size:\n        num_features = num_features * s\n"
        "    return num_features\n",
        "    def __init__(self):\n        super(GrayLeNet, self).__init__()\n"
        "        self.c1 = nn.Conv2d(in_channels=1, out_channels=6, kernel_size=3)\n"
        "        self.c2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=3)\n"
        "        self.l1 = nn.Linear(in_features=576, out_features=120)\n"
        "        self.l2 = nn.Linear(in_features=120, out_features=84)\n"
        "        self.l3 = nn.Linear(in_features=84, out_features=10)\n"
        "        self.pool = nn.MaxPool2d(kernel_size=2)\n\n" + FORWARD +
        "        h = self.pool(torch.relu(self.c1(x)))\n        h = self.pool(torch.relu(self.c2(h)))\n"
        "        h = h.view(-1, num_flat_features(h))\n        h = torch.relu(self.l1(h))\n"
        "        h = torch.relu(self.l2(h))\n        return self.l3(h)\n",
        "    return sample.view(1, *sample.shape)\n",
        "    net.zero_grad(set_to_none=True)\n    prediction = net.forward(x)\n"
        "    torch.autograd.backward(prediction, grad_tensors=grad_output)\n",
        "    def __init__(self):\n        super(CifarLeNet, self).__init__()\n"
        "        self.c1 = nn.Conv2d(in_channels=3, out_channels=6, kernel_size=5)\n"
        "        self.c2 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5)\n"
        "        self.l1 = nn.Linear(in_features=400, out_features=120)\n"
        "        self.l2 = nn.Linear(in_features=120, out_features=84)\n"
        "        self.l3 = nn.Linear(in_features=84, out_features=10)\n\n" + FORWARD +
        "        h = F.max_pool2d(torch.relu(self.c1(x)), kernel_size=2)\n"
        "        h = F.max_pool2d(torch.relu(self.c2(h)), kernel_size=2)\n"
        "        h = h.view(h.size(0), -1)\n        h = torch.relu(self.l1(h))\n"
        "        return self.l3(torch.relu(self.l2(h)))\n"),
    "h4_modules": _honest(
        "    return x[0].numel()\n",
        INIT + "        self.relu = nn.ReLU()\n        self.pool = nn.MaxPool2d(2, 2)\n"
        "        self.convs = nn.ModuleList([nn.Conv2d(1, 6, 3), nn.Conv2d(6, 16, 3)])\n"
        "        self.fcs = nn.ModuleList([nn.Linear(576, 120), nn.Linear(120, 84)])\n"
        "        self.out = nn.Linear(84, 10)\n\n" + FORWARD +
        "        for conv in self.convs:\n            x = self.pool(self.relu(conv(x)))\n"
        "        x = x.reshape(x.shape[0], -1)\n        for fc in self.fcs:\n            x = self.relu(fc(x))\n"
        "        return self.out(x)\n",
        "    return torch.unsqueeze(sample, dim=0)\n",
        "    net.zero_grad()\n    y = net(x)\n    y.backward(gradient=grad_output)\n    return None\n",
        INIT + "        self.conv1 = nn.Conv2d(3, 6, kernel_size=5)\n        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)\n"
        "        self.fc1 = nn.Linear(400, 120)\n        self.fc2 = nn.Linear(120, 84)\n"
        "        self.fc3 = nn.Linear(84, 10)\n        self.act = nn.ReLU()\n"
        "        self.down = nn.MaxPool2d(kernel_size=2, stride=2)\n\n" + FORWARD +
        "        x = self.down(self.act(self.conv1(x)))\n        x = self.down(self.act(self.conv2(x)))\n"
        "        x = x.reshape(x.size(0), 400)\n        x = self.act(self.fc1(x))\n"
        "        x = self.act(self.fc2(x))\n        x = self.fc3(x)\n        return x\n"),
    "h5_functional": _honest(
        "    return int(x.numel() // x.shape[0])\n",
        INIT + "        self.conv_a = nn.Conv2d(1, 6, (3, 3))\n        self.conv_b = nn.Conv2d(6, 16, (3, 3))\n"
        "        self.dense_a = nn.Linear(16 * 36, 120)\n        self.dense_b = nn.Linear(120, 84)\n"
        "        self.dense_c = nn.Linear(84, 10)\n\n" + FORWARD +
        "        pooled = F.max_pool2d(F.relu(self.conv_a(x)), (2, 2))\n"
        "        pooled = F.max_pool2d(F.relu(self.conv_b(pooled)), (2, 2))\n"
        "        flat = pooled.flatten(start_dim=1)\n"
        "        return self.dense_c(F.relu(self.dense_b(F.relu(self.dense_a(flat)))))\n",
        "    return sample.reshape(1, *sample.shape)\n",
        "    net.zero_grad()\n    loss = (net(x) * grad_output).sum()\n    loss.backward()\n",
        INIT + "        self.conv_a = nn.Conv2d(3, 6, (5, 5))\n        self.conv_b = nn.Conv2d(6, 16, (5, 5))\n"
        "        self.dense_a = nn.Linear(16 * 25, 120)\n        self.dense_b = nn.Linear(120, 84)\n"
        "        self.dense_c = nn.Linear(84, 10)\n        self.shrink = nn.MaxPool2d(2, 2)\n\n" + FORWARD +
        "        pooled = self.shrink(F.relu(self.conv_a(x)))\n        pooled = self.shrink(F.relu(self.conv_b(pooled)))\n"
        "        flat = torch.flatten(pooled, start_dim=1)\n"
        "        hidden = F.relu(self.dense_b(F.relu(self.dense_a(flat))))\n        return self.dense_c(hidden)\n"),
    "h6_dict": _honest(
        "    dims = list(x.shape)\n    total = 1\n    for d in dims[1:]:\n        total = total * d\n    return total\n",
        INIT + "        self.layers = nn.ModuleDict({\n            'conv1': nn.Conv2d(1, 6, 3), 'conv2': nn.Conv2d(6, 16, 3),\n"
        "            'fc1': nn.Linear(576, 120), 'fc2': nn.Linear(120, 84), 'fc3': nn.Linear(84, 10)})\n\n"
        "    def _stage(self, name, x):\n        return F.max_pool2d(torch.relu(self.layers[name](x)), 2)\n\n"
        + FORWARD + "        x = self._stage('conv1', x)\n        x = self._stage('conv2', x)\n        x = x.flatten(1)\n"
        "        x = torch.relu(self.layers['fc1'](x))\n        x = torch.relu(self.layers['fc2'](x))\n"
        "        return self.layers['fc3'](x)\n",
        "    batch = sample.unsqueeze(dim=0)\n    return batch\n",
        "    net.zero_grad()\n    output = net(x)\n    torch.autograd.backward([output], [grad_output])\n",
        INIT + "        channels = [3, 6, 16]\n        self.convs = nn.ModuleList(\n"
        "            [nn.Conv2d(channels[i], channels[i + 1], 5) for i in range(2)])\n"
        "        sizes = [400, 120, 84, 10]\n        self.linears = nn.ModuleList(\n"
        "            [nn.Linear(sizes[i], sizes[i + 1]) for i in range(3)])\n\n" + FORWARD +
        "        for conv in self.convs:\n            x = F.max_pool2d(torch.relu(conv(x)), 2)\n"
        "        x = torch.flatten(x, 1)\n        for i, linear in enumerate(self.linears):\n"
        "            x = linear(x)\n            if i < len(self.linears) - 1:\n                x = torch.relu(x)\n"
        "        return x\n"),
    "h7_add_module": _honest(
        "    from functools import reduce\n    return reduce(lambda a, b: a * b, x.shape[1:], 1)\n",
        INIT + "        self.net = nn.Sequential()\n"
        + "".join(f"        self.net.add_module('{n}', {m})\n" for n, m in [
            ("conv1", "nn.Conv2d(1, 6, 3)"), ("relu1", "nn.ReLU()"), ("pool1", "nn.MaxPool2d(2)"),
            ("conv2", "nn.Conv2d(6, 16, 3)"), ("relu2", "nn.ReLU()"), ("pool2", "nn.MaxPool2d(2)"),
            ("flat", "nn.Flatten()"), ("fc1", "nn.Linear(576, 120)"), ("relu3", "nn.ReLU()"),
            ("fc2", "nn.Linear(120, 84)"), ("relu4", "nn.ReLU()"), ("fc3", "nn.Linear(84, 10)")])
        + "\n" + FORWARD + "        return self.net(x)\n",
        "    return sample.expand(1, *sample.shape)\n",
        "    for param in net.parameters():\n        if param.grad is not None:\n            param.grad.zero_()\n"
        "    result = net(x)\n    result.backward(grad_output)\n",
        INIT + "        self.extract = nn.Sequential(\n            nn.Conv2d(3, 6, 5),\n            nn.ReLU(inplace=True),\n"
        "            nn.MaxPool2d(2),\n            nn.Conv2d(6, 16, 5),\n            nn.ReLU(inplace=True),\n"
        "            nn.MaxPool2d(2),\n        )\n        self.decide = nn.Sequential(\n            nn.Linear(400, 120),\n"
        "            nn.ReLU(inplace=True),\n            nn.Linear(120, 84),\n            nn.ReLU(inplace=True),\n"
        "            nn.Linear(84, 10),\n        )\n\n" + FORWARD +
        "        features = self.extract(x)\n        return self.decide(features.view(features.size(0), -1))\n"),
}

ORDER = ["num_flat_features", "GrayLeNet", "add_batch_dim", "backprop_random_grad", "CifarLeNet"]


def module(exercises: dict[str, str], order=ORDER, header: str = HEADER) -> str:
    return header + "\n\n" + "\n\n".join(exercises[name] for name in order)


def _renamed(text: str) -> str:
    for old, new in [("conv1", "first_conv"), ("conv2", "second_conv"), ("fc1", "dense1"), ("fc2", "dense2"),
                     ("fc3", "dense3"), ("pool", "pooling"), ("out", "result"), ("y", "prediction"),
                     ("x", "inp"), ("act", "activation"), ("down", "subsample")]:
        text = re.sub(rf"\b{old}\b", new, text)
    return text


def renamed_copy(original: dict[str, str]) -> str:
    renamed = {name: _renamed(code) for name, code in original.items()}
    return re.sub(r"\bF\.", "fn.", module(renamed, header=HEADER.replace("as F", "as fn")))


def reordered_copy(original: dict[str, str]) -> str:
    swapped = {}
    for name, code in original.items():
        head, sep, rest = code.partition("    def forward")
        init_part = head.split("\n", 1)[1] if sep else ""
        swapped[name] = (head.split("\n", 1)[0] + "\n" + sep + rest + "\n" + init_part) if sep else code
    return module(swapped, order=list(reversed(ORDER)))


def reformatted_copy_cells(original: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """The notebook a student hands in after running a formatter over a friend's code:
    exploded calls with trailing commas, double quotes, comments and docstrings added."""
    cells = [("code", HEADER, [])]
    for name in ORDER:
        code = original[name]
        code = code.replace("kernel_size=3)", "kernel_size=3,\n        )").replace(
            "nn.Conv2d(in_channels=", "nn.Conv2d(\n            in_channels=")
        code = code.replace("    net.zero_grad(set_to_none=True)\n",
                            '    """Zero, forward, backward."""\n    # clear the old gradients first\n'
                            "    net.zero_grad(set_to_none = True)\n")
        code = code.replace("return sample.view(1, *sample.shape)", "return sample.view(\n        1,\n        *sample.shape,\n    )")
        code = code.replace("    for s in size:\n", "\n    # multiply every dimension\n    for s in size:\n\n")
        cells.append(("code", code, []))
        cells.append(("code", f'check("{name}")', ["selfcheck"]))
    cells.append(("code", "net = GrayLeNet()\nprint(net(torch.randn(1, 1, 32, 32)))", ["demo"]))
    return cells


def one_exercise_copied(own: dict[str, str], source: dict[str, str], exercise: str) -> str:
    mixed = dict(own)
    mixed[exercise] = _renamed(source[exercise])
    return module(mixed)


def write_notebook(path, cells) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["autograder"] = {"assignment": "04_lenet"}
    for kind, source, tags in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, str(path))


# (copy, original) for every planted pair; the students are folders, as `autograder batch` reads them.
PLANTED = [("p_renamed", "h1_lesson"), ("p_reordered", "h2_sequential"),
           ("p_reformatted", "h3_keywords"), ("p_one_of_five", "h4_modules")]
OWN_CODE_OF_ONE_OF_FIVE = "h7_add_module"


def write_class(root) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for student, exercises in HONEST.items():
        if student == OWN_CODE_OF_ONE_OF_FIVE:
            continue  # p_one_of_five wrote this code; it has no honest twin in the class
        (root / student).mkdir()
        (root / student / "04_lenet.py").write_text(module(exercises))
    for student, text in [("p_renamed", renamed_copy(HONEST["h1_lesson"])),
                          ("p_reordered", reordered_copy(HONEST["h2_sequential"])),
                          ("p_one_of_five", one_exercise_copied(HONEST[OWN_CODE_OF_ONE_OF_FIVE],
                                                                HONEST["h4_modules"], "CifarLeNet"))]:
        (root / student).mkdir()
        (root / student / "04_lenet.py").write_text(text)
    (root / "p_reformatted").mkdir()
    write_notebook(root / "p_reformatted" / "04_lenet.ipynb", reformatted_copy_cells(HONEST["h3_keywords"]))
