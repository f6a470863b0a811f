"""3D batched augmentation: per-sample parameters, shapes kept, and the exact CutMix label share."""
import re

import pytest
import torch

from medtrain.augment import build_batch_augment
from medtrain.augment import volume as V
from medtrain.errors import MedtrainError

NAMES = ["3d_flip", "3d_rot90", "3d_affine", "3d_intensity", "3d_gamma", "3d_erasing", "3d_mixup", "3d_cutmix"]


def _batch(b=6, shape=(8, 10, 12), c=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, *shape, generator=g)
    y = torch.nn.functional.one_hot(torch.arange(b) % 3, 3).float()
    return x, y


def test_every_op_is_registered_and_keeps_shapes_on_non_cubic_volumes():
    torch.manual_seed(0)
    x, y = _batch(c=2)
    aug = build_batch_augment(NAMES, {"erasing_p": 1.0})
    out, yo = aug(x, y)
    assert out.shape == x.shape and yo.shape == y.shape
    assert out.min() >= 0 and out.max() <= 1
    assert torch.allclose(yo.sum(1), torch.ones(len(y)))


def test_flip_is_per_sample_and_each_result_is_one_of_the_eight_flips():
    torch.manual_seed(1)
    x, _ = _batch(b=16)
    out = V.random_flip3d(x, p=0.5)
    kinds = set()
    for i in range(len(x)):
        for k in range(8):
            dims = [d for j, d in enumerate((1, 2, 3)) if k >> j & 1]
            if torch.equal(out[i], x[i].flip(dims) if dims else x[i]):
                kinds.add(k)
                break
        else:
            pytest.fail(f"sample {i} is not a flip of its input")
    assert len(kinds) > 2  # different samples got different flips
    assert torch.equal(V.random_flip3d(x, p=1.0), x.flip(2, 3, 4))
    assert torch.equal(V.random_flip3d(x, p=0.0), x)


def test_rot90_rotates_each_sample_in_some_plane_and_keeps_non_square_shapes():
    torch.manual_seed(2)
    x, _ = _batch(b=12, shape=(6, 6, 9))  # only the D-H plane is square
    out = V.random_rot90_3d(x, p=1.0)
    assert out.shape == x.shape
    for i in range(len(x)):
        cands = [torch.rot90(x[i], k, dims=(d0 - 1, d1 - 1)) for d0, d1 in V._PLANES for k in (1, 2, 3)]
        cands = [c for c in cands if c.shape == x[i].shape]
        assert any(torch.equal(out[i], c) for c in cands)
    assert not torch.equal(out, x)


def test_affine_identity_settings_give_the_input_and_random_settings_differ_per_sample():
    torch.manual_seed(3)
    x, _ = _batch()
    same = V.random_affine3d(x, degrees=0.0, scale=(1.0, 1.0), translate=0.0)
    assert torch.allclose(same, x, atol=1e-5)
    assert torch.allclose(V.random_affine3d(x, p=0.0), x, atol=1e-5)
    moved = V.random_affine3d(x, degrees=15.0, scale=(0.9, 1.1), translate=0.1)
    assert moved.shape == x.shape and not torch.allclose(moved, x, atol=1e-3)
    # same input in every sample: different per-sample parameters give different outputs
    rep = x[:1].expand(4, -1, -1, -1, -1).contiguous()
    out = V.random_affine3d(rep)
    assert not torch.allclose(out[0], out[1], atol=1e-4)


def test_affine_translation_moves_a_point_the_expected_way():
    # a pure shift along W by +0.5 of the grid ([-1, 1]) samples from further right: content moves left
    x = torch.zeros(1, 1, 8, 8, 8)
    x[0, 0, 4, 4, 6] = 1
    theta = torch.tensor([[[1.0, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0]]])
    out = torch.nn.functional.grid_sample(x, torch.nn.functional.affine_grid(theta, [1, 1, 8, 8, 8], False),
                                          align_corners=False)
    assert out[0, 0, 4, 4, 4] == pytest.approx(1.0)


def test_intensity_and_gamma_stay_in_range_and_gamma_keeps_the_order_of_values():
    torch.manual_seed(4)
    x, _ = _batch()
    a = V.random_intensity(x, 0.2, 0.2)
    assert a.min() >= 0 and a.max() <= 1
    g = V.random_gamma(x, (0.5, 2.0))
    assert g.min() >= 0 and g.max() <= 1
    for i in range(len(x)):
        assert torch.equal(torch.argsort(g[i].flatten()), torch.argsort(x[i].flatten()))
    assert torch.equal(V.random_gamma(x, (0.5, 2.0), p=0.0), x)


def test_erasing_blanks_one_cuboid_per_sample():
    torch.manual_seed(5)
    x = torch.rand(8, 1, 12, 12, 12) * 0.5 + 0.5  # no zeros in the input
    out = V.random_erasing3d(x, p=1.0, scale=(0.05, 0.2))
    for i in range(len(x)):
        z = (out[i, 0] == 0).nonzero()
        assert len(z) > 0
        lo, hi = z.min(0).values, z.max(0).values
        box = out[i, 0, lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1]
        assert torch.all(box == 0)  # the erased voxels form exactly a cuboid
        assert len(z) / 12 ** 3 <= 0.5
    assert torch.equal(V.random_erasing3d(x, p=0.0), x)


def test_mixup_mixes_volumes_and_targets_with_the_same_weight():
    torch.manual_seed(6)
    b = 6
    x = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1, 1).expand(b, 1, 4, 4, 4) / b
    y = torch.eye(b)
    xo, yo = V.mixup3d(x, y, alpha=0.4)
    lam = yo[torch.arange(b), torch.arange(b)]
    expect = lam * x[:, 0, 0, 0, 0] + (1 - lam) * x.flip(0)[:, 0, 0, 0, 0]
    assert torch.allclose(xo[:, 0, 0, 0, 0], expect, atol=1e-6)
    assert torch.allclose(yo.sum(1), torch.ones(b))


def test_cutmix_label_share_equals_the_pasted_volume_share_exactly():
    torch.manual_seed(7)
    b, k = 8, 8
    x = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1, 1).expand(b, 1, 7, 9, 11).contiguous()
    y = torch.eye(k)
    seen = []
    for _ in range(5):
        xo, yo = V.cutmix3d(x, y, alpha=1.0)
        for i in range(b):
            partner = b - 1 - i
            pasted = (xo[i] == partner).float().mean()
            assert float(yo[i, partner]) == pytest.approx(float(pasted), abs=1e-6)
            assert float(yo[i, i]) == pytest.approx(1 - float(pasted), abs=1e-6)
            seen.append(float(pasted))
            # the pasted voxels form one cuboid
            z = (xo[i, 0] == partner).nonzero()
            if len(z):
                lo, hi = z.min(0).values, z.max(0).values
                assert torch.all(xo[i, 0, lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1] == partner)
    assert len({round(s, 4) for s in seen}) > 5  # per-sample boxes


def test_same_seed_same_augmentation():
    x, y = _batch()
    aug = build_batch_augment(NAMES)
    torch.manual_seed(11)
    a = aug(x, y)
    torch.manual_seed(11)
    b = aug(x, y)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_bad_settings_and_2d_input_are_user_errors():
    with pytest.raises(MedtrainError, match="probability"):
        build_batch_augment(["3d_flip"], {"flip_p": 1.5})
    with pytest.raises(MedtrainError, match="alpha"):
        build_batch_augment(["3d_mixup"], {"mixup_alpha": 0})
    with pytest.raises(MedtrainError, match="B, C, D, H, W"):
        V.random_flip3d(torch.rand(2, 1, 8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_ops_run_on_the_gpu():
    x, y = _batch()
    aug = build_batch_augment(NAMES, {"erasing_p": 1.0})
    out, yo = aug(x.cuda(), y.cuda())
    assert out.is_cuda and yo.is_cuda and out.shape == x.shape


@pytest.mark.parametrize("scale", [(0.02, 0.33), (0.9, 1.0)])
def test_3d_erasing_erases_the_drawn_share_with_boxes_inside_the_volume(scale):
    # Random Erasing (Zhong et al.) keeps its box inside the image: the erased share is the one drawn,
    # U(0.02, 0.33), mean 0.175; boxes clipped at the far border had erased 0.136 on average, some < 0.02;
    # and sides clamped to the volume had erased as little as 0.56 of a drawn 0.9-1.0
    torch.manual_seed(0)
    x = torch.ones(800, 1, 28, 28, 28)
    out = V.random_erasing3d(x, p=1.0, scale=scale, value=0.0)
    share = (out == 0).float().mean(dim=(1, 2, 3, 4))
    lo, hi = scale
    assert share.mean().item() == pytest.approx((lo + hi) / 2, abs=0.01)
    assert share.min().item() >= lo - 0.06 and share.max().item() <= min(1.0, hi + 0.04)


def test_a_2d_op_on_volumes_and_a_3d_op_on_images_name_the_twin_that_fits():
    """``--augment rot90`` on volumes had been refused in tensor shapes only ("random_rot90 expects a batch of 2D
    images (B, C, H, W)"), without the op that does it for volumes (a walk)."""
    from types import SimpleNamespace

    from medtrain.config import Config
    from medtrain.training.fit import check_augment

    for shape, op, twin in (((2, 1, 8, 8, 8), "rot90", "for volumes use 3d_rot90 (not rot90)"),
                            ((2, 1, 8, 8), "3d_flip", "for images use flip (not 3d_flip)")):
        train = torch.utils.data.TensorDataset(torch.zeros(shape, dtype=torch.uint8), torch.tensor([[0], [1]]))
        train.images, train.labels = train.tensors
        splits = SimpleNamespace(train=train, task="binary-class", num_classes=2, in_chans=1)
        with pytest.raises(MedtrainError, match=rf"\(B, C.*\), got shape .*; {re.escape(twin)}$"):
            check_augment(Config(augment=[op]), splits)
