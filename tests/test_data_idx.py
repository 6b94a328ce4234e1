"""IDX reading/writing and the MNIST/FashionMNIST loader, on small generated files (never the real data)."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agm.data import idx as idx_mod
from agm.data import load_dataset, load_mnist, mnist, read_idx, write_idx
from agm.data.mnist import ChecksumError, DatasetNotFoundError

TRAIN_IMAGES, TRAIN_LABELS = mnist.SPLIT_FILES["train"]
TEST_IMAGES, TEST_LABELS = mnist.SPLIT_FILES["test"]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No AGM_DATA_DIR, a fresh empty cache dir: the real data and user cache are never seen."""
    monkeypatch.delenv("AGM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def _fake_split(directory: Path, split: str, n: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Write a fake MNIST-like split (uint8 images, uint8 labels) into ``directory``; return the arrays."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    image_name, label_name = mnist.SPLIT_FILES[split]
    write_idx(directory / image_name, images)
    write_idx(directory / label_name, labels)
    return images, labels


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip_images_and_labels(tmp_path: Path, compress: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(-(2**31), 2**31 - 1, size=7, dtype=np.int32)
    write_idx(tmp_path / "img", images, gzip=compress)
    write_idx(tmp_path / "lab", labels, gzip=compress)
    assert (tmp_path / "img").read_bytes().startswith(b"\x1f\x8b") == compress
    back_images, back_labels = read_idx(tmp_path / "img"), read_idx(tmp_path / "lab")
    assert back_images.dtype == np.uint8 and back_images.shape == (5, 28, 28)
    assert back_labels.dtype == np.int32 and back_labels.dtype.isnative
    np.testing.assert_array_equal(back_images, images)
    np.testing.assert_array_equal(back_labels, labels)
    assert back_images.flags.writeable


def test_idx_header_matches_the_mnist_layout(tmp_path: Path) -> None:
    write_idx(tmp_path / "img", np.zeros((3, 28, 28), np.uint8), gzip=False)
    write_idx(tmp_path / "lab", np.zeros(3, np.uint8), gzip=False)
    raw_img, raw_lab = (tmp_path / "img").read_bytes(), (tmp_path / "lab").read_bytes()
    assert int.from_bytes(raw_img[:4], "big") == 2051 and int.from_bytes(raw_lab[:4], "big") == 2049
    assert [int.from_bytes(raw_img[4 + 4 * i : 8 + 4 * i], "big") for i in range(3)] == [3, 28, 28]
    assert len(raw_img) == 16 + 3 * 28 * 28 and len(raw_lab) == 8 + 3


@settings(max_examples=40, deadline=None)
@given(
    array=hnp.arrays(
        dtype=st.sampled_from(
            [np.dtype(t) for t in (np.uint8, np.int8, ">i2", "<i2", np.int32, np.float32, np.float64)]
        ),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
        elements={"allow_nan": False},
    ),
    compress=st.booleans(),
)
def test_idx_round_trip_property(tmp_path_factory: pytest.TempPathFactory, array: np.ndarray, compress: bool) -> None:
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    write_idx(path, array, gzip=compress)
    back = read_idx(path)
    assert back.shape == array.shape and back.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(back, array)


def test_write_idx_is_deterministic(tmp_path: Path) -> None:
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b.gz", a)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


@pytest.mark.parametrize("cut", [1, 3, 10, 50])
@pytest.mark.parametrize("compress", [True, False])
def test_truncated_file_raises_naming_path(tmp_path: Path, cut: int, compress: bool) -> None:
    path = tmp_path / "trunc.idx"
    write_idx(path, np.ones((4, 6, 6), np.uint8), gzip=False)
    raw = path.read_bytes()[:-cut]
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(ValueError, match=r"trunc\.idx.*truncated"):
        read_idx(path)


def test_truncated_gzip_stream_raises_naming_path(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    write_idx(path, np.ones((40, 6, 6), np.uint8))
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ValueError, match=r"cut\.gz.*(gzip|truncated)"):
        read_idx(path)


def test_trailing_bytes_raise(tmp_path: Path) -> None:
    path = tmp_path / "long.idx"
    write_idx(path, np.ones(5, np.uint8), gzip=False)
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match=r"long\.idx.*trailing"):
        read_idx(path)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not an IDX file"),
        (b"\x00\x00\x07\x01" + bytes(8), "unknown dtype code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00", "too short"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated header"),
    ],
)
def test_foreign_file_raises_naming_path(tmp_path: Path, content: bytes, pattern: str) -> None:
    path = tmp_path / "foreign.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"foreign\.bin.*{pattern}"):
        read_idx(path)


def test_missing_idx_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")


def test_write_idx_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        write_idx(tmp_path / "x", [1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ndim=0"):
        write_idx(tmp_path / "x", np.array(3, np.uint8))
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary files left behind
    assert set(idx_mod.IDX_DTYPES) == {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E}


# ---------------------------------------------------------------- MNIST loader


def test_loader_reads_caller_dir_scaled_and_typed(tmp_path: Path) -> None:
    images, labels = _fake_split(tmp_path / "d", "test", n=6, seed=1)
    x, y = load_mnist("mnist", "test", data_dir=tmp_path / "d", download=False, verify=False)
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64 and y.shape == (6,)
    assert x.min() >= 0.0 and x.max() <= 1.0
    torch.testing.assert_close(x[:, 0] * 255, torch.from_numpy(images).float(), rtol=0, atol=1e-4)
    assert y.tolist() == labels.tolist()


def test_loader_uses_agm_data_dir_and_name_subdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, labels = _fake_split(tmp_path / "root" / "fashion-mnist", "train", n=4, seed=2)
    _fake_split(tmp_path / "root" / "mnist", "train", n=3, seed=3)
    monkeypatch.setenv("AGM_DATA_DIR", str(tmp_path / "root"))
    _, y = load_mnist("fashion-mnist", "train", download=False, verify=False)
    assert y.tolist() == labels.tolist()
    x, _ = load_mnist("mnist", "train", download=False, verify=False)
    assert len(x) == 3


def test_caller_dir_wins_over_env_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_split(tmp_path / "env", "train", n=2, seed=4)
    _fake_split(tmp_path / "xdg-cache" / "agm" / "mnist", "train", n=3, seed=5)
    _fake_split(tmp_path / "mine" / "mnist", "train", n=5, seed=6)
    monkeypatch.setenv("AGM_DATA_DIR", str(tmp_path / "env"))
    assert len(load_mnist(data_dir=tmp_path / "mine", download=False, verify=False)[0]) == 5
    assert len(load_mnist(download=False, verify=False)[0]) == 2
    monkeypatch.delenv("AGM_DATA_DIR")
    assert len(load_mnist(download=False, verify=False)[0]) == 3  # user cache dir
    dirs = mnist.search_dirs("mnist", tmp_path / "mine")
    assert dirs[:2] == [tmp_path / "mine" / "mnist", tmp_path / "mine"]
    assert dirs[-1] == tmp_path / "xdg-cache" / "agm"


def test_checksum_verified_when_expected_hashes_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_split(tmp_path, "train", n=3, seed=7)
    for f in (TRAIN_IMAGES, TRAIN_LABELS):
        monkeypatch.setitem(mnist.SHA256["mnist"], f, _sha(tmp_path / f))
    x, _ = load_mnist("mnist", "train", data_dir=tmp_path, download=False, verify=True)
    assert len(x) == 3


def test_checksum_mismatch_names_file_and_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_split(tmp_path, "train", n=3, seed=8)
    monkeypatch.setitem(mnist.SHA256["mnist"], TRAIN_IMAGES, _sha(tmp_path / TRAIN_IMAGES))
    monkeypatch.setitem(mnist.SHA256["mnist"], TRAIN_LABELS, "0" * 64)
    actual = _sha(tmp_path / TRAIN_LABELS)
    with pytest.raises(ChecksumError, match=rf"train-labels-idx1-ubyte\.gz.*expected sha256 0{{64}}, got {actual}"):
        load_mnist("mnist", "train", data_dir=tmp_path, download=False)
    # the official hashes reject generated files too
    monkeypatch.undo()
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_mnist("mnist", "train", data_dir=tmp_path, download=False, verify=True)


def test_missing_files_offline_lists_files_and_dirs(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    write_idx(tmp_path / "d" / TEST_IMAGES, np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("fashion-mnist", "test", data_dir=tmp_path / "d", download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert TEST_LABELS in message and TEST_IMAGES not in message.split("\n")[0]
    for directory in (tmp_path / "d" / "fashion-mnist", tmp_path / "d", tmp_path / "xdg-cache" / "agm"):
        assert f"  {directory}\n" in message
    assert "download=False" in message


def test_images_and_labels_disagree(tmp_path: Path) -> None:
    _fake_split(tmp_path, "test", n=4, seed=9)
    write_idx(tmp_path / TEST_LABELS, np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="4 images but .* 3 labels"):
        load_mnist(split="test", data_dir=tmp_path, download=False, verify=False)
    write_idx(tmp_path / TEST_LABELS, np.zeros((4, 1), np.uint8))
    with pytest.raises(ValueError, match=r"labels \(N,\)"):
        load_mnist(split="test", data_dir=tmp_path, download=False, verify=False)


def test_bad_name_and_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name must .*'kmnist'"):
        load_mnist("kmnist", data_dir=tmp_path, download=False)
    with pytest.raises(ValueError, match="split must .*'val'"):
        load_mnist("mnist", "val", data_dir=tmp_path, download=False)


# ---------------------------------------------------------------- download (injected, never the network)


def _serving_downloader(served: dict[str, bytes], calls: list[str]) -> Callable[[str, Path], None]:
    def downloader(url: str, destination: Path) -> None:
        calls.append(url)
        name = url.rsplit("/", 1)[-1]
        if url.startswith("https://ossci") or name not in served:
            raise OSError(f"simulated outage for {url}")
        destination.write_bytes(served[name])

    return downloader


def test_download_into_cache_with_mirror_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_split(tmp_path / "src", "test", n=5, seed=10)
    served = {f: (tmp_path / "src" / f).read_bytes() for f in (TEST_IMAGES, TEST_LABELS)}
    for f, content in served.items():
        monkeypatch.setitem(mnist.SHA256["mnist"], f, hashlib.sha256(content).hexdigest())
    calls: list[str] = []
    x, _ = load_mnist("mnist", "test", downloader=_serving_downloader(served, calls))
    assert len(x) == 5
    cache = tmp_path / "xdg-cache" / "agm" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(served)  # no *.part left behind
    assert calls == [base + f for f in (TEST_IMAGES, TEST_LABELS) for base in mnist.MIRRORS["mnist"]]
    calls.clear()
    load_mnist("mnist", "test", downloader=_serving_downloader(served, calls))
    assert calls == []  # cached now


def test_download_with_wrong_content_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = {TRAIN_IMAGES: b"not the file", TRAIN_LABELS: b"nor this"}
    calls: list[str] = []
    with pytest.raises(DatasetNotFoundError, match=r"(?s)Download failed:.*checksum mismatch"):
        load_mnist("mnist", "train", downloader=_serving_downloader(served, calls))
    cache = tmp_path / "xdg-cache" / "agm" / "mnist"
    assert list(cache.iterdir()) == []


def test_default_downloader_reads_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_split(tmp_path / "mirror", "test", n=2, seed=11)
    for f in (TEST_IMAGES, TEST_LABELS):
        monkeypatch.setitem(mnist.SHA256["fashion-mnist"], f, _sha(tmp_path / "mirror" / f))
    monkeypatch.setitem(mnist.MIRRORS, "fashion-mnist", ((tmp_path / "mirror").as_uri() + "/",))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    x, y = load_mnist("fashion-mnist", "test")
    assert x.shape == (2, 1, 28, 28) and y.shape == (2,)


# ---------------------------------------------------------------- registry (MNIST side)


def test_load_dataset_mnist_subset(tmp_path: Path) -> None:
    images, labels = _fake_split(tmp_path / "mnist", "train", n=20, seed=12)
    full = load_dataset("mnist", data_dir=tmp_path, download=False, verify=False)
    assert full.shape == (1, 28, 28) and len(full) == 20 and full.params is None and full.name == "mnist"
    sub = load_dataset("mnist", data_dir=tmp_path, n=7, seed=3, download=False, verify=False)
    again = load_dataset("mnist", data_dir=tmp_path, n=7, seed=3, download=False, verify=False)
    assert torch.equal(sub.x, again.x) and len(sub) == 7
    rows = {tuple(r) for r in images.reshape(20, -1).tolist()}
    assert all(tuple(r) in rows for r in (sub.x.reshape(7, -1) * 255).round().to(torch.int64).tolist())
    with pytest.raises(ValueError, match="n=21"):
        load_dataset("mnist", data_dir=tmp_path, n=21, download=False, verify=False)
    with pytest.raises(DatasetNotFoundError):
        load_dataset("mnist", "test", data_dir=tmp_path, download=False)
