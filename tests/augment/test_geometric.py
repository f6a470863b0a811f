"""Specifications of the batched geometric augmentations."""
import math

import pytest
import torch
import torch.nn.functional as F

from medtrain.augment import available, build_batch_augment
from medtrain.augment.geometric import (ElasticDeform, RandomAffine, RandomFlip, RandomResizedCrop, RandomRot90,
                                        affine_theta, elastic_deform, random_affine, random_flip,
                                        random_resized_crop, random_rot90, sample_crop_boxes)
from medtrain.errors import MedtrainError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _batch(b=8, c=3, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g)


def test_all_ops_registered():
    names = set(available())
    for n in ["flip", "vflip", "shift", "rrc", "affine", "rot90", "elastic", "jitter", "pca", "gamma", "window",
              "hed", "erasing", "cutout", "mixup", "cutmix", "mix"]:
        assert n in names, n


def test_flip_is_an_involution():
    x = _batch()
    assert torch.equal(random_flip(random_flip(x, p=1.0), p=1.0), x)
    assert torch.equal(random_flip(x, p=1.0), x.flip(-1))
    assert torch.equal(random_flip(x, p=0.0), x)


def test_flip_is_drawn_per_sample():
    torch.manual_seed(0)
    x = _batch(b=64)
    out = random_flip(x, p=0.5)
    flipped = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 10 < sum(flipped) < 54


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["flip", "vflip", "shift", "rrc", "affine", "rot90", "elastic"])
def test_ops_preserve_shape_dtype_device(name, dtype, device):
    op = build_batch_augment([name], {})
    x = _batch(b=4, h=12, w=12).to(device, dtype)
    y = torch.eye(4, device=device)
    out, y2 = op(x, y)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert torch.equal(y2, y)


def test_rrc_full_box_is_identity_and_flip_fuses():
    x = _batch()
    same = random_resized_crop(x, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    flipped = random_resized_crop(x, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=1.0)
    torch.testing.assert_close(flipped, x.flip(-1), atol=1e-5, rtol=0)


def test_rrc_output_size_and_per_sample_boxes():
    torch.manual_seed(0)
    x = _batch(b=16, h=20, w=24)
    out = random_resized_crop(x, size=(10, 12))
    assert out.shape == (16, 3, 10, 12)
    top, left, ch, cw = sample_crop_boxes(256, 20, 24)
    assert (top >= 0).all() and (left >= 0).all() and (top + ch <= 20).all() and (left + cw <= 24).all()
    assert len(set(zip(ch.tolist(), cw.tolist()))) > 20  # boxes differ per sample
    share = (ch * cw).float() / (20 * 24)
    # Rounding the sides moves the area by at most half a pixel per side.
    assert ((ch.float() - 0.5) * (cw.float() - 0.5) <= 1.0 * 20 * 24).all()
    assert ((ch.float() + 0.5) * (cw.float() + 0.5) >= 0.08 * 20 * 24).all()
    assert share.std() > 0.1


def test_rrc_crop_box_is_what_is_resampled():
    # A crop of a ramp is a ramp over the crop's range: check the per-sample mapping, not just shapes.
    torch.manual_seed(3)
    w = 32
    ramp = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w).expand(4, 1, 8, w).contiguous()
    torch.manual_seed(3)
    top, left, ch, cw = sample_crop_boxes(4, 8, w, (0.3, 1.0), (3 / 4, 4 / 3))
    torch.manual_seed(3)
    out = random_resized_crop(ramp, scale=(0.3, 1.0))
    for i in range(4):
        lo, hi = out[i, 0, 0, 0].item(), out[i, 0, 0, -1].item()
        assert left[i].item() - 0.5 <= lo <= left[i].item() + 1
        assert left[i].item() + cw[i].item() - 2 <= hi <= left[i].item() + cw[i].item() - 0.5


def test_affine_identity_and_quarter_turn():
    x = _batch()
    torch.testing.assert_close(random_affine(x, degrees=0, translate=0, scale=(1, 1)), x, atol=1e-5, rtol=0)
    z = torch.zeros(8)
    theta = affine_theta(torch.full((8,), math.pi / 2), z, z, torch.ones(8), z, 16, 16)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    rot = F.grid_sample(x, grid, align_corners=False)
    torch.testing.assert_close(rot, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0)


def test_affine_translation_moves_content_by_pixels():
    x = torch.zeros(1, 1, 10, 20)
    x[0, 0, 5, 5] = 1
    z = torch.zeros(1)
    theta = affine_theta(z, torch.tensor([0.1]), torch.tensor([0.2]), torch.ones(1), z, 10, 20)
    out = F.grid_sample(x, F.affine_grid(theta, [1, 1, 10, 20], align_corners=False), align_corners=False)
    assert out[0, 0, 7, 7].item() == pytest.approx(1.0, abs=1e-5)  # +2 px down, +2 px right


def test_affine_differs_per_sample():
    torch.manual_seed(0)
    x = _batch(b=1).expand(6, -1, -1, -1)
    out = random_affine(x)
    assert all(not torch.allclose(out[0], out[i]) for i in range(1, 6))


def test_rot90_per_sample_rotations():
    torch.manual_seed(0)
    x = _batch(b=1).expand(32, -1, -1, -1).contiguous()
    out = random_rot90(x)
    ks = []
    for o in out:
        k = [q for q in range(4) if torch.equal(o, torch.rot90(x[0], q, dims=(-2, -1)))]
        assert len(k) == 1
        ks.append(k[0])
    assert len(set(ks)) == 4
    rect = _batch(b=16, h=8, w=12)
    assert random_rot90(rect).shape == rect.shape


def test_elastic_identity_and_per_sample_fields():
    x = _batch()
    torch.testing.assert_close(elastic_deform(x, alpha=0.0, sigma=3.0), x, atol=1e-5, rtol=0)
    torch.manual_seed(0)
    same = _batch(b=1).expand(4, -1, -1, -1)
    out = elastic_deform(same, alpha=8.0, sigma=3.0)
    assert not torch.allclose(out[0], out[1])
    assert out.min() >= same.min() - 1e-6 and out.max() <= same.max() + 1e-6  # bilinear: a convex combination


@pytest.mark.parametrize("make", [
    lambda: RandomFlip(p=1.5),
    lambda: RandomResizedCrop(scale=(0.0, 1.0)),
    lambda: RandomResizedCrop(scale=(0.5, 1.2)),
    lambda: RandomResizedCrop(ratio=(2.0, 1.0)),
    lambda: RandomAffine(degrees=-1),
    lambda: RandomAffine(scale=(0.0, 1.0)),
    lambda: RandomAffine(padding_mode="wrap"),
    lambda: ElasticDeform(sigma=0.0),
])
def test_bad_parameters_raise(make):
    with pytest.raises(MedtrainError):
        make()


def test_volumes_are_rejected_clearly():
    with pytest.raises(MedtrainError):
        RandomRot90()(torch.rand(2, 1, 4, 4, 4), torch.eye(2))


def test_shift_is_a_pure_translation_of_images_and_volumes():
    from medtrain.augment.geometric import random_shift

    torch.manual_seed(0)
    for shape in ((6, 1, 16, 16), (3, 1, 8, 8, 8)):
        x = torch.rand(shape)
        y = random_shift(x, 0.125)
        assert y.shape == x.shape
        # the centre of every sample reappears somewhere in the shifted sample: a translation, no resampling
        c = tuple(slice(2, -2) for _ in shape[2:])
        for i in range(shape[0]):
            patch = x[(i, 0) + c]
            found = False
            for off in __import__("itertools").product(range(5), repeat=len(shape) - 2):
                sl = tuple(slice(o, o + n) for o, n in zip(off, patch.shape))
                if torch.equal(y[(i, 0) + sl], patch):
                    found = True
                    break
            assert found


# ---------------------------------------------------------------------------------------------------------
# The functional ops check their own inputs, in one line, as the modules do
# ---------------------------------------------------------------------------------------------------------


def test_random_flip_refuses_a_single_image_whose_channels_it_would_take_for_the_batch():
    with pytest.raises(MedtrainError, match=r"random_flip expects a batch .*\(B, C, H, W\).*got shape \(3, 8, 8\); "
                                            r"give a single image a batch axis: x\[None\]"):
        random_flip(torch.rand(3, 8, 8), p=0.5)
    with pytest.raises(MedtrainError, match=r"random_flip expects .* as a torch.Tensor, got list"):
        random_flip([1, 2, 3])
    aug = build_batch_augment(["flip"], {})  # the op list training builds goes through the same check
    with pytest.raises(MedtrainError, match=r"got shape \(3, 8, 8\)"):
        aug(torch.rand(3, 8, 8), torch.rand(3, 2))


def test_random_flip_still_takes_images_and_volumes_and_checks_p_and_dim():
    x = torch.rand(2, 1, 3, 4, 5)
    assert torch.equal(random_flip(x, p=1.0, dim=-3), x.flip(-3))  # the depth of a volume
    assert torch.equal(random_flip(x[:, :, 0], p=1.0, dim=-2), x[:, :, 0].flip(-2))
    with pytest.raises(MedtrainError, match=r"flip probability must be a probability in \[0, 1\], got 1.5"):
        random_flip(x, p=1.5)
    for dim in (0, 1, -5, 5, -4):  # the batch and channel axes, and axes out of range
        with pytest.raises(MedtrainError, match=r"random_flip dim must be a spatial axis of the 5-d batch"):
            random_flip(x, p=1.0, dim=dim)


def test_random_shift_and_rot90_refuse_a_single_image():
    from medtrain.augment.geometric import random_shift

    with pytest.raises(MedtrainError, match=r"random_shift expects a batch .*got shape \(3, 8, 8\)"):
        random_shift(torch.rand(3, 8, 8))
    with pytest.raises(MedtrainError, match=r"random_rot90 expects a batch .*got shape \(3, 8, 8\)"):
        random_rot90(torch.rand(3, 8, 8))


@pytest.mark.parametrize("kwargs, message", [
    (dict(degrees=-1.0), r"affine: degrees and shear must be >= 0 and translate in \[0, 1\]"),
    (dict(translate=2.0), r"affine: degrees and shear must be >= 0 and translate in \[0, 1\]"),
    (dict(shear=-5.0), r"affine: degrees and shear must be >= 0 and translate in \[0, 1\]"),
    (dict(scale=(1.1, 0.9)), r"affine scale must be an increasing pair \(low, high\) within \(0, inf\)"),
    (dict(scale=(-1.0, 1.0)), r"affine scale must be an increasing pair"),
    (dict(padding_mode="wrap"), r"affine padding must be zeros, border or reflection, got 'wrap'"),
])
def test_random_affine_checks_its_parameters_as_its_module_does(kwargs, message):
    with pytest.raises(MedtrainError, match=message):
        random_affine(torch.rand(2, 1, 8, 8), **kwargs)
    with pytest.raises(MedtrainError, match=message):
        RandomAffine(**kwargs)
