"""Datasets for the course, shaped like torchvision's.

* Real CIFAR-10 goes through `torchvision.datasets.CIFAR10` when a copy exists under the
  data root (or torchvision may download it where the course allows that).
* The offline default, `SyntheticCIFAR10`, is generated from a seed and written in
  CIFAR-10's own on-disk format (`cifar-10-batches-py/data_batch_1..5`, `test_batch`,
  `batches.meta`), then read back by torchvision's CIFAR10 code: a real copy and the
  generated one take the same path. It is small on purpose (10,000 training and 2,000
  test images, generated in a few seconds).

Each image shows one of ten shapes (the class) at a random position, size, tilt and
colour, on a shaded background with noise and a few distracting dots. The class is in
the *shape*, never in the colour or the position, so translation-invariant convolutional
features win: LeNet learns it, a linear classifier on the pixels does much worse.

This module is shipped to students (notebook demos call `demo_loaders`): nothing secret
here, and only torch, torchvision, numpy and tqdm imports.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch.utils.data import DataLoader, Subset
from torchvision import transforms

CIFAR10_CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"

SYNTHETIC_TRAIN_SIZE = 10_000
SYNTHETIC_TEST_SIZE = 2_000
# Bump when the generator's output changes: caches written by another version are rebuilt.
GENERATOR_VERSION = 1
MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "autograder.synthetic-cifar10/1"

DATA_ROOT_ENV = "AUTOGRADER_DATA"
DEFAULT_DATA_ROOT = "~/.cache/autograder/data"
IMAGE_SIZE = 32


class DatasetNotFound(RuntimeError):
    """A dataset the course asks for is not on disk; the message is one line."""


def lesson_transform(channels: int = 3):
    """The lesson's preprocessing: to a tensor, then [0, 1] -> [-1, 1] per channel."""
    return transforms.Compose([transforms.ToTensor(),
                               transforms.Normalize((0.5,) * channels, (0.5,) * channels)])


# -- the generator ---------------------------------------------------------------------
def _shape_distance(kind: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance to class `kind`'s shape (< 0 inside), in units of the shape's
    half-size; u, v are coordinates relative to the shape's centre, already tilted."""
    r = np.sqrt(u * u + v * v)
    box = np.maximum(np.abs(u), np.abs(v))
    if kind == 0:  # disk
        return r - 1.0
    if kind == 1:  # filled square
        return box - 0.9
    if kind == 2:  # ring
        return np.abs(r - 0.75) - 0.25
    if kind == 3:  # plus
        return np.minimum(np.maximum(np.abs(u) - 0.28, np.abs(v) - 1.0),
                          np.maximum(np.abs(v) - 0.28, np.abs(u) - 1.0))
    if kind == 4:  # triangle
        return np.maximum(v - 0.6, np.maximum(0.866 * u - 0.5 * v, -0.866 * u - 0.5 * v) - 0.5)
    if kind == 5:  # horizontal bars
        return np.maximum(box - 0.95, np.sin(v * np.pi * 2.0) * 0.25)
    if kind == 6:  # checkerboard
        return np.maximum(box - 0.95, np.sin(u * np.pi * 1.5) * np.sin(v * np.pi * 1.5) * 0.3)
    if kind == 7:  # vertical bars
        return np.maximum(box - 0.95, np.sin(u * np.pi * 2.0) * 0.25)
    if kind == 8:  # diagonal cross
        a, b = (u + v) * 0.7071, (u - v) * 0.7071
        return np.minimum(np.maximum(np.abs(a) - 0.25, np.abs(b) - 1.05),
                          np.maximum(np.abs(b) - 0.25, np.abs(a) - 1.05))
    if kind == 9:  # hollow square
        return np.abs(box - 0.75) - 0.2
    raise ValueError(f"no shape for class {kind}")


def render_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 images [N, 32, 32, 3] (HWC, like CIFAR10.data), one shape per label."""
    n = len(labels)
    f32 = np.float32
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(f32)
    half = rng.uniform(7.0, 11.0, n).astype(f32)
    # Position varies by +-6.5 px: enough that a fixed pixel template fails, little
    # enough that LeNet learns within the course's small training budget.
    cx = np.clip(16 + rng.uniform(-6.5, 6.5, n), half * 0.6, IMAGE_SIZE - half * 0.6).astype(f32)
    cy = np.clip(16 + rng.uniform(-6.5, 6.5, n), half * 0.6, IMAGE_SIZE - half * 0.6).astype(f32)
    angle = rng.uniform(-0.35, 0.35, n).astype(f32)
    cos, sin, h = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None], half[:, None, None]
    dx, dy = xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]
    u, v = (dx * cos + dy * sin) / h, (-dx * sin + dy * cos) / h
    distance = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), f32)
    for kind in range(len(CIFAR10_CLASSES)):
        mask = labels == kind
        if mask.any():
            distance[mask] = _shape_distance(kind, u[mask], v[mask])
    alpha = np.clip(0.5 - distance * h, 0.0, 1.0)[..., None]  # a one-pixel soft edge
    # A bright shape on a darker background, both of random hue: the colour says nothing
    # about the class, while a fixed contrast polarity keeps the shape easy to see.
    background = rng.uniform(0, 110, (n, 3)).astype(f32)
    foreground = rng.uniform(145, 255, (n, 3)).astype(f32)
    slope = rng.normal(size=(n, 2)).astype(f32) * 1.2
    shading = slope[:, 0, None, None] * (xx[None] - 16) + slope[:, 1, None, None] * (yy[None] - 16)
    img = background[:, None, None, :] + shading[..., None]
    img = img * (1 - alpha) + foreground[:, None, None, :] * alpha
    for _ in range(2):  # distracting dots of any colour, anywhere
        bx = rng.uniform(0, IMAGE_SIZE, n).astype(f32)[:, None, None]
        by = rng.uniform(0, IMAGE_SIZE, n).astype(f32)[:, None, None]
        radius = rng.uniform(1.0, 2.5, n).astype(f32)[:, None, None]
        colour = rng.uniform(0, 255, (n, 3)).astype(f32)[:, None, None, :]
        dot = np.clip(radius + 0.5 - np.sqrt((xx[None] - bx) ** 2 + (yy[None] - by) ** 2), 0, 1)
        img = img * (1 - dot[..., None]) + colour * dot[..., None]
    img += rng.standard_normal(img.shape, dtype=f32) * 10.0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    classes = len(CIFAR10_CLASSES)
    return rng.permutation(np.arange(n) % classes)


class _Py2Str(str):
    """A string pickled as a Python 2 `str`, as in the real CIFAR-10 files: it loads as
    str with encoding="latin1" (torchvision) and as bytes with encoding="bytes" (the
    dataset page's recipe, which reads dict[b"data"])."""


class _CifarPickler(pickle._Pickler):  # the pure-Python pickler lets us add one opcode
    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        raw = obj.encode("latin1")
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + len(raw).to_bytes(4, "little") + raw)
        self.memoize(obj)

    dispatch[_Py2Str] = _save_py2_str


def _write_pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        _CifarPickler(f, protocol=2).dump(obj)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def synthetic_folder(root: str | Path, seed: int) -> Path:
    return Path(root).expanduser() / f"synthetic-cifar10-seed{int(seed)}"


def _write_synthetic(folder: Path, seed: int, progress: bool) -> None:
    """Generate both splits into `folder` (a fresh temporary directory)."""
    from tqdm import tqdm

    batches = folder / CIFAR10_FOLDER
    batches.mkdir(parents=True)
    per_file = SYNTHETIC_TRAIN_SIZE // len(TRAIN_FILES)
    jobs = [(name, per_file, 0, i) for i, name in enumerate(TRAIN_FILES)]
    jobs.append((TEST_FILE, SYNTHETIC_TEST_SIZE, 1, 0))
    bar = tqdm(total=SYNTHETIC_TRAIN_SIZE + SYNTHETIC_TEST_SIZE, unit="img", file=sys.stderr,
               desc=f"generating synthetic CIFAR-10 (seed {seed})", disable=not progress)
    with bar:
        for name, count, split, index in jobs:
            # One independent stream per file: a file's bytes depend on the seed only.
            rng = np.random.default_rng([int(seed), split, index, GENERATOR_VERSION])
            labels = _balanced_labels(count, rng)
            images = render_images(labels, rng)
            split_name = "training" if split == 0 else "testing"
            _write_pickle(batches / name, {
                _Py2Str("batch_label"): _Py2Str(f"{split_name} batch {index + 1} (synthetic)"),
                _Py2Str("labels"): [int(x) for x in labels],
                # CIFAR-10's layout: per image, 1024 red, then 1024 green, then 1024 blue.
                _Py2Str("data"): np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(count, -1)),
                _Py2Str("filenames"): [_Py2Str(f"synthetic_{split}_{index}_{i:05d}.png")
                                       for i in range(count)],
            })
            bar.update(count)
    _write_pickle(batches / META_FILE, {
        _Py2Str("label_names"): [_Py2Str(c) for c in CIFAR10_CLASSES],
        _Py2Str("num_cases_per_batch"): per_file,
        _Py2Str("num_vis"): IMAGE_SIZE * IMAGE_SIZE * 3,
    })
    files = {f"{CIFAR10_FOLDER}/{p.name}": _sha256(p) for p in sorted(batches.iterdir())}
    manifest = {"schema": MANIFEST_SCHEMA, "generator_version": GENERATOR_VERSION, "seed": int(seed),
                "train_size": SYNTHETIC_TRAIN_SIZE, "test_size": SYNTHETIC_TEST_SIZE, "files": files}
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


_verified_cache: dict[Path, tuple] = {}


def _expected_files() -> set[str]:
    return {f"{CIFAR10_FOLDER}/{n}" for n in (*TRAIN_FILES, TEST_FILE, META_FILE)}


def _stat_key(folder: Path) -> tuple:
    names = sorted(_expected_files()) + [MANIFEST_NAME]
    stats = [(folder / n).stat() for n in names]
    return tuple((s.st_size, s.st_mtime_ns) for s in stats)


def verify_synthetic(folder: Path, seed: int) -> bool:
    """Whether `folder` holds a complete, uncorrupted set for `seed` (sha256 of every
    file against the manifest). Anything unexpected counts as corrupt."""
    folder = Path(folder)
    try:
        key = _stat_key(folder)
        if _verified_cache.get(folder) == key:
            return True
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        files = manifest["files"]
        good = (manifest.get("schema") == MANIFEST_SCHEMA
                and manifest.get("generator_version") == GENERATOR_VERSION
                and manifest.get("seed") == int(seed)
                and set(files) == _expected_files()
                and all(_sha256(folder / name) == digest for name, digest in files.items()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    if good:
        _verified_cache[folder] = key
    return good


def ensure_synthetic(root: str | Path, seed: int = 0, progress: bool = False) -> Path:
    """The folder of the synthetic set for `seed`, generated if missing or corrupt.

    Generation happens in a temporary sibling folder that is renamed into place only
    when complete, so an interrupted run never leaves a half-written set behind."""
    folder = synthetic_folder(root, seed)
    if verify_synthetic(folder, seed):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(folder)
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        _write_synthetic(temporary, seed, progress)
        if folder.exists() and not verify_synthetic(folder, seed):
            # Move the bad copy aside first so the good one appears in a single rename.
            trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".bad", dir=folder.parent))
            os.replace(folder, trash / "old")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(temporary, folder)
        except OSError:  # another process finished first; keep its copy if it is good
            if not verify_synthetic(folder, seed):
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    if not verify_synthetic(folder, seed):
        raise DatasetNotFound(f"generated the synthetic dataset in {folder} but it does not verify")
    return folder


def _remove_stale_temporaries(folder: Path, older_than_s: float = 3600.0) -> None:
    """Leftovers of killed generations (fresh ones may belong to a concurrent run)."""
    for leftover in folder.parent.glob(f".{folder.name}.*"):
        try:
            if time.time() - leftover.stat().st_mtime > older_than_s:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


# -- torchvision-style dataset classes ----------------------------------------------------
class SyntheticCIFAR10(torchvision.datasets.CIFAR10):
    """The offline stand-in for CIFAR-10: same classes, same file format, same loader.

    `root` holds `synthetic-cifar10-seed{seed}/`; with `download=True` (the default, as
    nothing needs the internet) a missing or corrupt copy is generated first."""

    # Our files are checked against the manifest's sha256 sums, not CIFAR-10's md5 sums;
    # md5 None makes torchvision only check that each file exists.
    train_list = [[name, None] for name in TRAIN_FILES]
    test_list = [[TEST_FILE, None]]
    meta = {"filename": META_FILE, "key": "label_names", "md5": None}

    def __init__(self, root, train: bool = True, transform=None, target_transform=None,
                 download: bool = True, seed: int = 0):
        self.seed = int(seed)
        if download:
            folder = ensure_synthetic(root, self.seed)
        else:
            folder = synthetic_folder(root, self.seed)
            if not verify_synthetic(folder, self.seed):
                raise DatasetNotFound(f"synthetic dataset not found or corrupt in {folder}; "
                                      f"pass download=True or run `autograder data prepare`")
        super().__init__(str(folder), train=train, transform=transform,
                         target_transform=target_transform, download=False)


def to_grayscale(data: np.ndarray) -> np.ndarray:
    """HWC uint8 RGB -> HW uint8 luma (ITU-R BT.601 weights, like PIL's convert("L"))."""
    rgb = data.astype(np.int32)
    luma = rgb[..., 0] * 299 + rgb[..., 1] * 587 + rgb[..., 2] * 114
    return ((luma + 500) // 1000).astype(np.uint8)


class SyntheticGrayscale32(SyntheticCIFAR10):
    """The same images in one channel, for the grayscale LeNet (1x32x32 inputs): items
    are PIL images of mode "L", so `lesson_transform(channels=1)` fits them."""

    def __init__(self, root, train: bool = True, transform=None, target_transform=None,
                 download: bool = True, seed: int = 0):
        super().__init__(root, train=train, transform=transform, target_transform=target_transform,
                         download=download, seed=seed)
        self.data = to_grayscale(self.data)


def has_cifar10(root: str | Path) -> bool:
    """Whether a real CIFAR-10 copy seems to be under root (files present; torchvision
    checks their md5 sums when it loads them)."""
    folder = Path(root).expanduser() / CIFAR10_FOLDER
    return all((folder / n).is_file() for n in (*TRAIN_FILES, TEST_FILE, META_FILE))


def cifar10(root, train: bool = True, transform=None, download: bool = False):
    """Real CIFAR-10 through torchvision; downloads only when allowed."""
    root = Path(root).expanduser()
    if not download and not has_cifar10(root):
        raise DatasetNotFound(_cifar10_missing(root))
    try:
        return torchvision.datasets.CIFAR10(str(root), train=train, transform=transform, download=download)
    except RuntimeError as exc:  # torchvision: "not found or corrupted"
        raise DatasetNotFound(f"CIFAR-10 under {root / CIFAR10_FOLDER}: {exc}") from None


def _cifar10_missing(root: Path) -> str:
    return (f"CIFAR-10 not found in {root / CIFAR10_FOLDER}: extract cifar-10-python.tar.gz "
            f"(https://www.cs.toronto.edu/~kriz/cifar.html) into {root}, or set data.download: true")


def course_dataset_kind(course) -> str:
    """"cifar10" or "synthetic": what course.yaml's data policy picks on this machine."""
    if course.data.dataset == "auto":
        return "cifar10" if has_cifar10(course.data_root) else "synthetic"
    return course.data.dataset


def course_dataset(course, train: bool = True, transform=None):
    """The dataset course.yaml's `data` section asks for (auto, cifar10 or synthetic)."""
    kind = course_dataset_kind(course)
    if kind == "cifar10":
        return cifar10(course.data_root, train=train, transform=transform, download=course.data.download)
    return SyntheticCIFAR10(course.data_root, train=train, transform=transform,
                            seed=course.data.synthetic_seed)


def default_data_root() -> Path:
    return Path(os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT).expanduser()


def demo_loaders(batch_size: int = 4, root=None, num_workers: int = 0, limit: int | None = None):
    """(trainloader, testloader, classes) for notebook demos: real CIFAR-10 if a copy is
    in `root` (default: $AUTOGRADER_DATA, else ~/.cache/autograder/data), otherwise the
    synthetic set, generated there on first use. `limit` keeps the first `limit` images
    of each split (the files are already shuffled) so a demo finishes in seconds."""
    root = Path(root).expanduser() if root is not None else default_data_root()
    transform = lesson_transform()
    if has_cifar10(root):
        train_set, test_set = (cifar10(root, train=t, transform=transform) for t in (True, False))
    else:
        train_set, test_set = (SyntheticCIFAR10(root, train=t, transform=transform) for t in (True, False))
    if limit is not None:
        train_set = Subset(train_set, range(min(int(limit), len(train_set))))
        test_set = Subset(test_set, range(min(int(limit), len(test_set))))
    shuffle_order = torch.Generator().manual_seed(0)  # same batches on every run of a demo
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True,
                              num_workers=num_workers, generator=shuffle_order)
    test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return train_loader, test_loader, CIFAR10_CLASSES


def dataset_tensors(dataset, indices) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of a CIFAR10-like dataset at `indices`, preprocessed exactly as
    `lesson_transform` does but in one vectorised step (per-image PIL is slow)."""
    indices = np.asarray(indices, dtype=np.int64)
    images = preprocess_images(np.asarray(dataset.data)[indices])
    labels = torch.as_tensor(np.asarray(dataset.targets, dtype=np.int64)[indices])
    return images, labels


def fresh_synthetic_split(count: int, rng: np.random.Generator):
    """`count` new images of the offline set's distribution, balanced over the classes,
    drawn from `rng`: (images uint8 [N, 32, 32, 3] HWC, labels int64 [N]), the layout of
    `SyntheticCIFAR10.data` and `.targets`. The grader draws its held-out images this way
    from a generator students cannot reproduce, so no copy of them exists anywhere else."""
    labels = _balanced_labels(int(count), rng)
    return render_images(labels, rng), labels.astype(np.int64)


def preprocess_images(data: np.ndarray) -> torch.Tensor:
    """uint8 HWC (or HW) images -> float [N, C, H, W] in [-1, 1], as `lesson_transform` does."""
    images = torch.from_numpy(np.ascontiguousarray(data)).float().div_(255)
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    return images.sub_(0.5).div_(0.5).contiguous()


def run_prepare(args, course) -> int:
    """`autograder data prepare`: generate or verify the offline set; say where CIFAR-10
    would be picked up."""
    seed = course.data.synthetic_seed if getattr(args, "seed", None) is None else args.seed
    root = course.data_root
    folder = synthetic_folder(root, seed)
    existed = verify_synthetic(folder, seed)
    folder = ensure_synthetic(root, seed, progress=True)
    state = "verified" if existed else "generated"
    print(f"synthetic dataset (seed {seed}): {state} in {folder} "
          f"({SYNTHETIC_TRAIN_SIZE} training, {SYNTHETIC_TEST_SIZE} test images)")
    cifar_folder = root / CIFAR10_FOLDER
    if has_cifar10(root):
        print(f"real CIFAR-10: found in {cifar_folder}")
    else:
        print(f"real CIFAR-10: not found; it is picked up from {cifar_folder} "
              f"(extract cifar-10-python.tar.gz into {root}, or set data.download: true)")
    kind = course_dataset_kind(course)
    print(f"data.dataset is {course.data.dataset!r}: grading uses {kind}")
    if kind == "cifar10" and not has_cifar10(root) and not course.data.download:
        print(f"autograder: error: {_cifar10_missing(root)}", file=sys.stderr)
        return 2
    return 0
