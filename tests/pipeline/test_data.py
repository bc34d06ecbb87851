"""The data module: the generated offline set (format, determinism, cache repair), the
real-CIFAR-10 path it shares, and course.yaml's data policy."""
from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

from autograder import data


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    data.ensure_synthetic(root, seed=0)
    return root


def _file_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_synthetic_set_is_cifar10_on_disk(data_root):
    """The generated files are CIFAR-10's pickles: keys, dtype, layout, balanced labels."""
    folder = data.synthetic_folder(data_root, 0) / data.CIFAR10_FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*data.TRAIN_FILES, data.TEST_FILE, data.META_FILE])
    with open(folder / "data_batch_1", "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # the dataset page's own recipe
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (2000, 3072)
    assert np.bincount(batch[b"labels"], minlength=10).tolist() == [200] * 10
    with open(folder / "batches.meta", "rb") as f:
        meta = pickle.load(f, encoding="latin1")  # torchvision's way: str keys
    assert tuple(meta["label_names"]) == data.CIFAR10_CLASSES


def test_torchvision_cifar10_reads_the_generated_folder(data_root):
    """The plain torchvision CIFAR10 class loads the synthetic files (md5 check aside)."""
    folder = data.synthetic_folder(data_root, 0)

    class UncheckedCIFAR10(torchvision.datasets.CIFAR10):
        def _check_integrity(self):  # our files are not the real ones, so their md5s differ
            return True

        def _load_meta(self):
            import os
            with open(os.path.join(self.root, self.base_folder, self.meta["filename"]), "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")["label_names"]

    real_path = UncheckedCIFAR10(str(folder), train=False)
    ours = data.SyntheticCIFAR10(data_root, train=False)
    assert isinstance(ours, torchvision.datasets.CIFAR10)
    assert np.array_equal(real_path.data, ours.data) and real_path.targets == ours.targets
    assert len(ours) == data.SYNTHETIC_TEST_SIZE and ours.classes == list(data.CIFAR10_CLASSES)
    image, label = data.SyntheticCIFAR10(data_root, train=True, transform=data.lesson_transform())[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert -1.0 <= image.min() < image.max() <= 1.0 and 0 <= label < 10


def test_grayscale_variant_has_one_channel(data_root):
    gray = data.SyntheticGrayscale32(data_root, train=False, transform=data.lesson_transform(channels=1))
    color = data.SyntheticCIFAR10(data_root, train=False)
    image, label = gray[3]
    assert image.shape == (1, 32, 32) and label == color.targets[3]
    expected = np.asarray(color[3][0].convert("L"), dtype=np.int16)
    got = np.rint((image[0].numpy() * 0.5 + 0.5) * 255).astype(np.int16)
    assert np.abs(got - expected).max() <= 1  # PIL's own rounding of the same weights


def test_dataset_tensors_match_the_lesson_transform(data_root):
    ds = data.SyntheticCIFAR10(data_root, train=True, transform=data.lesson_transform())
    images, labels = data.dataset_tensors(ds, [5, 0, 9])
    for row, index in enumerate([5, 0, 9]):
        image, label = ds[index]
        assert torch.allclose(images[row], image, atol=1e-6) and labels[row].item() == label


def test_same_seed_same_bytes_and_different_seed_different_bytes(data_root, tmp_path):
    first = _file_bytes(data.synthetic_folder(data_root, 0))
    again = _file_bytes(data.ensure_synthetic(tmp_path / "again", seed=0))
    other = _file_bytes(data.ensure_synthetic(tmp_path / "other", seed=1))
    assert first == again
    data_files = [k for k in first if "batch" in k and "meta" not in k]
    assert all(first[k] != other[k] for k in data_files)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_manifest", "delete_file", "wrong_seed"])
def test_corrupt_cache_is_rebuilt(data_root, tmp_path, damage):
    """A damaged cache is never trusted: loading regenerates the original bytes."""
    folder = data.synthetic_folder(tmp_path, 0)
    shutil.copytree(data.synthetic_folder(data_root, 0), folder)
    original = _file_bytes(folder)
    batch = folder / data.CIFAR10_FOLDER / "data_batch_2"
    if damage == "truncate":
        batch.write_bytes(batch.read_bytes()[:1000])
    elif damage == "flip":
        raw = bytearray(batch.read_bytes())
        raw[len(raw) // 2] ^= 0xFF  # same size, one byte different
        batch.write_bytes(bytes(raw))
    elif damage == "delete_manifest":
        (folder / data.MANIFEST_NAME).unlink()
    elif damage == "delete_file":
        batch.unlink()
    else:
        manifest = json.loads((folder / data.MANIFEST_NAME).read_text())
        manifest["seed"] = 4  # a set made for another seed is not this one
        (folder / data.MANIFEST_NAME).write_text(json.dumps(manifest))
    assert not data.verify_synthetic(folder, 0)
    with pytest.raises(data.DatasetNotFound, match="not found or corrupt"):
        data.SyntheticCIFAR10(tmp_path, seed=0, download=False)
    ds = data.SyntheticCIFAR10(tmp_path, seed=0)
    assert _file_bytes(folder) == original and len(ds) == data.SYNTHETIC_TRAIN_SIZE
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_killed_generation_leaves_nothing_half_written(tmp_path):
    """Kill the generator mid-way: the final folder is absent or complete, never partial."""
    # os._exit: no cleanup runs, as when the process is killed while writing a file.
    code = ("import os; from autograder import data; "
            "data._write_pickle = lambda *a: os._exit(9); "
            f"data.ensure_synthetic({str(tmp_path)!r}, seed=5)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert not data.synthetic_folder(tmp_path, 5).exists()
    data.ensure_synthetic(tmp_path, seed=5)
    assert data.verify_synthetic(data.synthetic_folder(tmp_path, 5), 5)


def _course(course, tmp_path, **settings):
    data_settings = dataclasses.replace(course.data, root=str(tmp_path), **settings)
    return dataclasses.replace(course, data=data_settings)


def test_course_policy_picks_synthetic_without_cifar10(course, data_root):
    auto = _course(course, data_root, dataset="auto", synthetic_seed=0)
    assert data.course_dataset_kind(auto) == "synthetic"
    assert isinstance(data.course_dataset(auto, train=False), data.SyntheticCIFAR10)
    forced = _course(course, data_root, dataset="synthetic", synthetic_seed=0)
    assert isinstance(data.course_dataset(forced), data.SyntheticCIFAR10)


def test_course_policy_cifar10_missing_is_a_one_line_error(course, tmp_path):
    strict = _course(course, tmp_path, dataset="cifar10", download=False)
    with pytest.raises(data.DatasetNotFound) as info:
        data.course_dataset(strict)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "cifar-10-batches-py") in message
    assert "cifar-10-python.tar.gz" in message and "data.download" in message


def test_auto_policy_prefers_a_real_copy(course, tmp_path, data_root):
    """With CIFAR-10's files present, auto picks them and loads them through torchvision
    (here the files are the synthetic ones, so torchvision's md5 check rejects them:
    proof that the real loader, not the synthetic one, was used)."""
    (tmp_path / data.CIFAR10_FOLDER).mkdir()
    for name in (*data.TRAIN_FILES, data.TEST_FILE, data.META_FILE):
        src = data.synthetic_folder(data_root, 0) / data.CIFAR10_FOLDER / name
        (tmp_path / data.CIFAR10_FOLDER / name).write_bytes(src.read_bytes())
    auto = _course(course, tmp_path, dataset="auto")
    assert data.course_dataset_kind(auto) == "cifar10"
    with pytest.raises(data.DatasetNotFound, match="corrupted"):
        data.course_dataset(auto)


def test_demo_loaders_limit_and_classes(data_root):
    train, test, classes = data.demo_loaders(batch_size=4, root=data_root, limit=10)
    assert classes == data.CIFAR10_CLASSES
    assert len(train.dataset) == 10 and len(test.dataset) == 10
    images, labels = next(iter(train))
    assert images.shape == (4, 3, 32, 32) and labels.dtype == torch.int64
    again = next(iter(data.demo_loaders(batch_size=4, root=data_root, limit=10)[0]))
    assert torch.equal(again[0], images)  # demos are reproducible


def test_demo_loaders_default_root_comes_from_the_environment(monkeypatch, data_root):
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(data_root))
    assert data.default_data_root() == data_root
    train, _, _ = data.demo_loaders(limit=3)
    assert len(train.dataset) == 3


def test_prepare_command_reports_both_locations(data_root, tmp_path, capsys, course):
    import argparse
    local = _course(course, tmp_path, dataset="auto", synthetic_seed=0)
    shutil.copytree(data.synthetic_folder(data_root, 0), data.synthetic_folder(tmp_path, 0))
    assert data.run_prepare(argparse.Namespace(seed=None), local) == 0
    out = capsys.readouterr().out
    assert "seed 0): verified" in out and str(tmp_path / "cifar-10-batches-py") in out
    assert "not found" in out and "grading uses synthetic" in out
    assert data.run_prepare(argparse.Namespace(seed=2), local) == 0
    assert "seed 2): generated" in capsys.readouterr().out
