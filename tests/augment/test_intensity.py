"""Specifications of the batched intensity and colour augmentations."""
import importlib.util

import numpy as np
import pytest
import torch

from medtrain.augment import build_batch_augment
from medtrain.augment.intensity import (ColorJitter, HEDJitter, PCALighting, RandomGamma, RandomWindow, apply_jitter,
                                        color_jitter, fit_pca_lighting, hed_jitter, jitter_matrices, pca_lighting,
                                        random_gamma, random_window)
from medtrain.errors import MedtrainError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _batch(b=8, c=3, h=12, w=12, seed=0, lo=0.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(b, c, h, w, generator=g)


def _pca_eig():
    return fit_pca_lighting(torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["jitter", "pca", "gamma", "window"])
def test_ops_preserve_shape_dtype_device(name, dtype, device):
    op = build_batch_augment([name], {"pca_eig": _pca_eig()}).to(device)
    x = _batch(b=4).to(device, dtype)
    out, _ = op(x, torch.eye(4, device=device))
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("c", [3, 1])
def test_jitter_with_zero_strength_is_identity(c):
    x = _batch(c=c)
    torch.testing.assert_close(color_jitter(x, 0, 0, 0, 0), x, atol=1e-6, rtol=0)


def test_jitter_factors_differ_per_sample():
    torch.manual_seed(0)
    x = _batch(b=1).expand(8, -1, -1, -1)
    out = color_jitter(x)
    assert all(not torch.allclose(out[0], out[i]) for i in range(1, 8))


def test_jitter_components_are_the_classic_ones():
    x = _batch(lo=0.2, hi=0.6)
    b = x.shape[0]
    one, zero = torch.ones(b), torch.zeros(b)
    # brightness multiplies
    torch.testing.assert_close(apply_jitter(x, torch.stack([one * 1.3, one, one, zero], 1)), x * 1.3, atol=1e-5,
                               rtol=0)
    # saturation 0 gives grey with torchvision's luma weights
    grey = apply_jitter(x, torch.stack([one, one, zero, zero], 1))
    luma = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    torch.testing.assert_close(grey, luma.expand_as(x), atol=1e-5, rtol=0)
    # contrast blends with the mean luma, which it keeps
    c = apply_jitter(x, torch.stack([one, one * 0.5, one, zero], 1))
    m = luma.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(c, 0.5 * x + 0.5 * m, atol=1e-5, rtol=0)
    # hue rotates chroma only: grey stays grey, luma is kept
    g = torch.full((2, 3, 4, 4), 0.4)
    torch.testing.assert_close(apply_jitter(g, torch.tensor([[1.0, 1.0, 1.0, 0.25]] * 2)), g, atol=1e-5, rtol=0)
    xn = _batch(lo=0.35, hi=0.55)  # narrow, so that the rotated colours need no clipping
    h = apply_jitter(xn, torch.stack([one, one, one, one * 0.1], 1))
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close((h * w).sum(1), (xn * w).sum(1), atol=1e-4, rtol=0)
    assert not torch.allclose(h, xn, atol=1e-3)


def test_jitter_matrix_hue_is_a_rotation_of_period_one():
    a0, _, _ = jitter_matrices(torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
    a1, _, _ = jitter_matrices(torch.tensor([[1.0, 1.0, 1.0, 0.5]]))
    torch.testing.assert_close(a0[0], torch.eye(3), atol=1e-5, rtol=0)
    a2 = a1[0] @ a1[0]  # two half turns
    torch.testing.assert_close(a2, torch.eye(3), atol=1e-4, rtol=0)


def test_grey_jitter_uses_brightness_and_contrast_only():
    x = _batch(c=1, lo=0.2, hi=0.6)
    out = apply_jitter(x, torch.tensor([[1.2, 0.5, 0.0, 0.3]] * x.shape[0]))
    m = x.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(out, 1.2 * (0.5 * x + 0.5 * m), atol=1e-5, rtol=0)


def test_pca_eigvecs_orthonormal_and_reconstruct_covariance():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(6, 1, 10, 10, generator=g)
    # Correlated channels, as in natural images.
    imgs = (255 * torch.cat([base, 0.8 * base + 0.2 * torch.rand(6, 1, 10, 10, generator=g),
                             torch.rand(6, 1, 10, 10, generator=g)], 1)).round().to(torch.uint8)
    vals, vecs = fit_pca_lighting(imgs, chunk=4)
    torch.testing.assert_close(vecs.T @ vecs, torch.eye(3), atol=1e-5, rtol=0)
    assert vals[0] >= vals[1] >= vals[2] >= 0
    pix = imgs.double().div(255).permute(1, 0, 2, 3).reshape(3, -1).numpy()
    cov = torch.from_numpy(np.cov(pix)).float()
    torch.testing.assert_close(vecs @ torch.diag(vals) @ vecs.T, cov, atol=1e-5, rtol=1e-4)


def test_pca_lighting_adds_one_colour_per_sample():
    vals, vecs = _pca_eig()
    x = _batch(lo=0.3, hi=0.7)
    torch.testing.assert_close(pca_lighting(x, vals, vecs, std=0.0), x)
    torch.manual_seed(0)
    d = pca_lighting(x, vals, vecs, std=0.1) - x
    per_pixel = d - d[:, :, :1, :1]
    assert per_pixel.abs().max() < 1e-5  # a constant shift per sample and channel
    assert not torch.allclose(d[0, :, 0, 0], d[1, :, 0, 0])


def test_pca_op_needs_fitted_eigen_decomposition():
    with pytest.raises(MedtrainError, match="fit_pca_lighting"):
        build_batch_augment(["pca"], {})


def test_gamma_and_window():
    x = _batch()
    torch.testing.assert_close(random_gamma(x, (1.0, 1.0)), x)
    torch.testing.assert_close(random_window(x, (0.5, 0.5), (1.0, 1.0)), x, atol=1e-6, rtol=0)
    torch.manual_seed(0)
    same = _batch(b=1).expand(6, -1, -1, -1)
    g = random_gamma(same)
    assert all(not torch.allclose(g[0], g[i]) for i in range(1, 6))
    w = random_window(same)
    assert w.min() >= 0 and w.max() <= 1
    assert all(not torch.allclose(w[0], w[i]) for i in range(1, 6))


def test_gamma_is_monotone_and_fixes_the_ends():
    x = torch.linspace(0, 1, 11).view(1, 1, 1, 11).expand(4, 1, 1, 11)
    out = random_gamma(x)
    assert torch.all(out[..., 1:] >= out[..., :-1])
    torch.testing.assert_close(out[..., 0], torch.zeros(4, 1, 1))
    torch.testing.assert_close(out[..., -1], torch.ones(4, 1, 1))


_HAS_HED = importlib.util.find_spec("medtrain.color") is not None and \
    importlib.util.find_spec("medtrain.color.hed") is not None


@pytest.mark.skipif(not _HAS_HED, reason="medtrain.color.hed (rgb_to_hed / hed_to_rgb) is not available yet")
def test_hed_jitter():
    from medtrain.color.hed import hed_to_rgb

    # Colours that are non-negative stain mixtures survive the (lossy) round trip through HED space.
    x = hed_to_rgb(_batch(lo=0.0, hi=0.05))
    torch.testing.assert_close(hed_jitter(x, sigma=0.0), x, atol=1e-4, rtol=0)
    torch.manual_seed(0)
    same = x[:1].expand(4, -1, -1, -1)
    out = hed_jitter(same, sigma=0.05)
    assert out.shape == same.shape and out.dtype == same.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("make", [
    lambda: ColorJitter(brightness=-0.1),
    lambda: ColorJitter(hue=0.6),
    lambda: PCALighting(torch.ones(3), torch.eye(3), std=-1),
    lambda: PCALighting(torch.ones(2), torch.eye(3)),
    lambda: RandomGamma((0.0, 1.0)),
    lambda: RandomGamma((2.0, 1.0)),
    lambda: RandomWindow(center=(0.5, 1.5)),
    lambda: RandomWindow(width=(0.0, 1.0)),
    lambda: HEDJitter(sigma=-0.1),
])
def test_bad_parameters_raise(make):
    with pytest.raises(MedtrainError):
        make()


def test_hue_turns_the_same_way_as_torchvision():
    red = torch.tensor([0.8, 0.2, 0.2]).view(1, 3, 1, 1)
    plus = apply_jitter(red, torch.tensor([[1.0, 1.0, 1.0, 0.1]]))[0, :, 0, 0]
    minus = apply_jitter(red, torch.tensor([[1.0, 1.0, 1.0, -0.1]]))[0, :, 0, 0]
    assert plus[1] > plus[2] and minus[2] > minus[1]  # red -> yellow for +hue, red -> magenta for -hue


def test_hed_jitter_at_strength_zero_is_the_identity_on_any_colours():
    # a retina photograph is no mixture of H, E and DAB: the lossy stain round trip had moved its mean
    # colour by 0.05 at sigma 0; the jitter now applies only the change it makes
    from medtrain.augment.intensity import hed_jitter

    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    x[:, 1] = 0.0  # saturated colours far from any stain mixture
    assert torch.allclose(hed_jitter(x, sigma=0.0), x, atol=1e-6)
    moved = (hed_jitter(x, sigma=0.2) - x).abs().mean()
    assert moved > 1e-3  # and a strength moves colours


# ---------------------------------------------------------------------------------------------------------
# The functional ops check their own inputs, in one line, as the modules do
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [(1.5, -0.7), (1.5, 0.7), (0.0, 1.5), (0.7,), "abc"])
def test_random_gamma_refuses_a_range_that_is_not_an_increasing_positive_pair(gamma):
    with pytest.raises(MedtrainError, match=r"gamma range must be"):
        random_gamma(torch.rand(2, 1, 8, 8), gamma)


@pytest.mark.parametrize("kwargs, message", [
    (dict(center=(0.6, 0.4)), r"window center must be an increasing pair \(low, high\) within \[0, 1\]"),
    (dict(center=(0.5, 1.5)), r"window center must be an increasing pair"),
    (dict(width=(0.0, 1.0)), r"window width must be an increasing pair \(low, high\) within \(0, inf\)"),
])
def test_random_window_checks_its_ranges_as_its_module_does(kwargs, message):
    with pytest.raises(MedtrainError, match=message):
        random_window(torch.rand(2, 1, 8, 8), **kwargs)
    with pytest.raises(MedtrainError, match=message):
        RandomWindow(**kwargs)


def test_the_intensity_functions_refuse_a_single_image_and_bad_strengths():
    one = torch.rand(3, 8, 8)
    for fn in (random_gamma, random_window, color_jitter, hed_jitter):
        with pytest.raises(MedtrainError, match=rf"{fn.__name__} expects a batch of 2D images \(B, C, H, W\), got "
                                                r"shape \(3, 8, 8\); give a single image a batch axis"):
            fn(one)
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(MedtrainError, match=r"hed sigma must be in \[0, 1\), got -0.1"):
        hed_jitter(x, sigma=-0.1)
    with pytest.raises(MedtrainError, match=r"pca std must be >= 0, got -1"):
        pca_lighting(x, torch.ones(3), torch.eye(3), std=-1.0)
    with pytest.raises(MedtrainError, match=r"pca_lighting needs eigvals \(3,\) and eigvecs \(3, 3\)"):
        pca_lighting(x, torch.ones(4), torch.eye(3))


@pytest.mark.parametrize("channels, said", [(1, "got 1 channel"), (2, "got 2 channels")])
def test_an_rgb_only_op_on_other_images_names_their_channels_in_good_english(channels, said):
    eigvals, eigvecs = _pca_eig()
    for op, what in [(lambda x: hed_jitter(x), "HED jitter"), (lambda x: pca_lighting(x, eigvals, eigvecs), "PCA lighting")]:
        with pytest.raises(MedtrainError) as e:
            op(_batch(c=channels))
        assert str(e.value) == f"{what} needs RGB images, {said}"  # "got 1 channels" before


def test_hue_or_saturation_given_for_grey_images_is_refused_and_the_defaults_are_not():
    """``jitter_hue 0.5`` on grey images was accepted and changed nothing (a walk): given, it is refused; the op's own
    defaults (which include them) still jitter grey images' brightness and contrast."""
    grey = torch.rand(4, 1, 8, 8)
    with pytest.raises(MedtrainError, match=r"^jitter_hue acts on colour and these images are grey"):
        build_batch_augment(["jitter"], {"jitter_hue": 0.5})(grey, torch.zeros(4, 2))
    out, _ = build_batch_augment(["jitter"], {})(grey, torch.zeros(4, 2))
    assert out.shape == grey.shape and not torch.equal(out, grey)
    rgb, _ = build_batch_augment(["jitter"], {"jitter_hue": 0.5})(torch.rand(4, 3, 8, 8), torch.zeros(4, 2))
    assert rgb.shape == (4, 3, 8, 8)
