"""Data: the bundled MNIST split, image folders (with broken files), missing data sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vqvae import VQVAEError
from vqvae.data.datasets import ASSETS, bundled_mnist, fit_images, load_data, read_idx
from vqvae.data.local_sets import image_folder


def test_bundled_mnist_split(mnist):
    assert mnist.train.shape == (9000, 1, 28, 28)
    assert mnist.val.shape == (1000, 1, 28, 28)
    assert mnist.train.dtype == torch.uint8 and mnist.val.dtype == torch.uint8
    assert mnist.train_labels.shape == (9000,) and mnist.val_labels.shape == (1000,)
    assert set(mnist.val_labels.tolist()) == set(range(10))
    assert int(mnist.train.max()) == 255 and int(mnist.train.min()) == 0


def test_bundled_mnist_is_deterministic(mnist):
    again = bundled_mnist()
    assert torch.equal(again.train, mnist.train)
    assert torch.equal(again.val, mnist.val)
    assert torch.equal(again.train_labels, mnist.train_labels)
    assert torch.equal(again.val_labels, mnist.val_labels)


def test_bundled_mnist_train_and_held_out_are_disjoint(mnist):
    images = torch.from_numpy(read_idx(ASSETS / "t10k-images-idx3-ubyte.gz").copy())
    labels = torch.from_numpy(read_idx(ASSETS / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    assert images.shape == (10000, 28, 28)
    # Locate every split image among the 10,000 by its bytes: each index belongs to one split.
    where = {images[i].numpy().tobytes(): i for i in range(len(images))}
    assert len(where) == 10000  # the official test images are all distinct
    train_idx = [where[x[0].numpy().tobytes()] for x in mnist.train]
    val_idx = [where[x[0].numpy().tobytes()] for x in mnist.val]
    assert len(set(train_idx)) == 9000 and len(set(val_idx)) == 1000
    assert not set(train_idx) & set(val_idx)
    assert set(train_idx) | set(val_idx) == set(range(10000))
    assert val_idx == list(range(9, 10000, 10))  # every tenth image is held out, in order
    assert torch.equal(mnist.val_labels, labels[val_idx])
    assert torch.equal(mnist.train_labels, labels[train_idx])


def test_load_data_mnist_falls_back_to_bundled_split_under_the_default_root():
    # conftest points VQVAE_DATA (the default root) at an empty folder
    data = load_data("mnist", 1, 28)
    assert "bundled" in data.name
    assert data.train.shape == (9000, 1, 28, 28) and data.val.shape == (1000, 1, 28, 28)


def test_load_data_mnist_with_a_named_empty_root_is_an_error(tmp_path):
    with pytest.raises(VQVAEError) as info:
        load_data("mnist", 1, 28, root=str(tmp_path))
    assert str(tmp_path) in str(info.value)


def test_load_data_named_dataset_with_a_folder_of_images(tmp_path):
    for i in range(3):
        Image.new("L", (10, 10), 40 * i).save(tmp_path / f"{i}.png")
    data = load_data("mnist", 1, 28, root=str(tmp_path))
    assert "folder" in data.name
    assert len(data.train) + len(data.val) == 3
    assert data.train.shape[1:] == (1, 28, 28)


def test_load_data_fits_channels_and_size(mnist):
    data = load_data("mnist", 3, 32)
    assert data.train.shape == (9000, 3, 32, 32) and data.val.shape == (1000, 3, 32, 32)
    assert data.train.dtype == torch.uint8
    assert torch.equal(data.train[:, 0], data.train[:, 2])  # gray copied to every channel


def test_fit_images_colour_to_gray_uses_luma():
    rgb = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    rgb[:, 0] = 255  # pure red
    gray = fit_images(rgb, 1, 4)
    assert gray.shape == (1, 1, 4, 4)
    assert torch.all(gray == 76)  # round(0.299 * 255)


def _write_messy_folder(root):
    (root / "sub" / "deeper").mkdir(parents=True)
    rng = np.random.default_rng(0)
    # readable: RGB PNG (not square), RGBA PNG, palette PNG, JPEG, solid-colour PNG
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), "RGBA").save(root / "sub" / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).convert("P").save(
        root / "sub" / "deeper" / "palette.png")
    photo = root / "sub" / "photo.JPG"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photo, format="JPEG", quality=90)
    Image.new("RGB", (20, 20), (255, 0, 0)).save(root / "sub" / "deeper" / "red.png")
    # unreadable: a text file named .png and a truncated JPEG
    (root / "notes.png").write_text("this is not an image")
    data = photo.read_bytes()
    (root / "sub" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    # not an image suffix at all: neither loaded nor counted
    (root / "readme.txt").write_text("hello")


@pytest.mark.parametrize("channels", [1, 3])
def test_image_folder_loads_readable_and_counts_skipped(tmp_path, channels):
    _write_messy_folder(tmp_path)
    data = image_folder(tmp_path, channels, 16)
    assert data.skipped == 2
    assert len(data.train) + len(data.val) == 5
    assert len(data.val) >= 1
    assert data.train.shape[1:] == (channels, 16, 16) and data.val.shape[1:] == (channels, 16, 16)
    assert data.train.dtype == torch.uint8
    everything = torch.cat([data.train, data.val])
    # The solid red image survives conversion and resizing exactly.
    red = [255, 0, 0] if channels == 3 else [76]
    expected = torch.tensor(red, dtype=torch.uint8).view(channels, 1, 1).expand(channels, 16, 16)
    assert any(torch.equal(img, expected) for img in everything)


@pytest.mark.parametrize("channels", [1, 3])
def test_image_folder_scales_16_bit_images_instead_of_clipping_them(tmp_path, channels):
    # A 16-bit gray scan at mid level: convert("L") alone would clip it to white (255).
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(tmp_path / "scan.png")
    Image.new("L", (8, 8), 0).save(tmp_path / "black.png")
    data = image_folder(tmp_path, channels, 8)
    levels = sorted(int(x.float().mean()) for x in torch.cat([data.train, data.val]))
    assert levels == [0, 128]


def test_image_folder_is_deterministic(tmp_path):
    _write_messy_folder(tmp_path)
    a, b = image_folder(tmp_path, 3, 16), image_folder(tmp_path, 3, 16)
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)


def test_load_data_folder_reports_skipped(tmp_path):
    _write_messy_folder(tmp_path)
    data = load_data("folder", 1, 28, root=str(tmp_path))
    assert data.skipped == 2
    assert data.train.shape[1:] == (1, 28, 28)


def test_image_folder_errors(tmp_path):
    with pytest.raises(VQVAEError, match="does not exist"):
        image_folder(tmp_path / "missing", 1, 28)
    with pytest.raises(VQVAEError, match="0 readable"):
        image_folder(tmp_path, 1, 28)
    (tmp_path / "bad.png").write_text("nope")
    Image.new("L", (8, 8), 3).save(tmp_path / "one.png")
    with pytest.raises(VQVAEError, match=r"1 readable image\(s\) \(1 unreadable\)"):
        image_folder(tmp_path, 1, 28)
    with pytest.raises(VQVAEError, match="--data"):
        load_data("folder", 1, 28, root=None)
    with pytest.raises(VQVAEError, match="unknown data set"):
        load_data("imagenet", 1, 28)


@pytest.mark.parametrize("dataset, cls, channels, size", [("fashion", "FashionMNIST", 1, 28), ("cifar10", "CIFAR10", 3, 32)])
def test_missing_torchvision_sets_say_where_to_put_files(tmp_path, dataset, cls, channels, size):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(VQVAEError) as info:
        load_data(dataset, channels, size, root=str(root))
    message = str(info.value)
    assert str(root) in message
    assert cls in message
    assert "place" in message and f"python -m vqvae download {dataset}" in message
    assert "\n" not in message


def test_center_crop_keeps_only_the_central_square(tmp_path):
    """--center-crop 168 on a 256 px image (the CelebA-HQ recipe: CenterCrop(168), then
    Resize) must drop the 44 px outside the central 168 x 168 square before resizing."""
    from PIL import ImageDraw

    for i in range(2):
        im = Image.new("RGB", (256, 256), (255, 0, 0))  # red frame...
        ImageDraw.Draw(im).rectangle([44, 44, 211, 211], fill=(0, 255, 0))  # ...around a green 168 px centre
        im.save(tmp_path / f"{i}.png")
    data = image_folder(tmp_path, 3, 16, center_crop=168)
    images = torch.cat([data.train, data.val]).int()
    still_red = int((images[:, 0] > 8).sum())
    assert still_red == 0, f"{still_red} of {images[:, 0].numel()} pixels still show the red frame outside the crop"
    assert int(images[:, 1].min()) >= 247


def test_center_crop_larger_than_the_image_takes_the_whole_square(tmp_path):
    for i in range(2):
        Image.new("RGB", (40, 30), (0, 0, 255)).save(tmp_path / f"{i}.png")
    data = image_folder(tmp_path, 3, 8, center_crop=168)
    assert data.train.shape[1:] == (3, 8, 8)
    assert torch.all(data.train[:, 2] == 255) and torch.all(data.train[:, :2] == 0)


def _fake_torchvision_copy(root, cls: str) -> None:
    """torchvision's raw layout for (Fashion-)MNIST, filled with the bundled 10k images as
    both splits (torchvision checks these files exist, not their checksums)."""
    import gzip

    raw = root / cls / "raw"
    raw.mkdir(parents=True)
    images = gzip.decompress((ASSETS / "t10k-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((ASSETS / "t10k-labels-idx1-ubyte.gz").read_bytes())
    for split in ("train", "t10k"):
        (raw / f"{split}-images-idx3-ubyte").write_bytes(images)
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(labels)


@pytest.mark.parametrize("dataset, cls", [("fashion", "FashionMNIST"), ("mnist", "MNIST")])
def test_local_torchvision_copy_is_used_with_its_test_split_held_out(tmp_path, mnist, dataset, cls):
    _fake_torchvision_copy(tmp_path, cls)
    data = load_data(dataset, 1, 28, root=str(tmp_path))
    assert "torchvision" in data.name
    assert data.train.shape == (10000, 1, 28, 28) and data.val.shape == (10000, 1, 28, 28)
    assert data.train.dtype == torch.uint8
    assert torch.equal(data.val[9::10], mnist.val)  # the official test split, in file order
    assert torch.equal(data.val_labels[9::10], mnist.val_labels)
    rgb = load_data(dataset, 3, 32, root=str(tmp_path))
    assert rgb.train.shape == (10000, 3, 32, 32)
