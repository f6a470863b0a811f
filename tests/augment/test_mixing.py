"""Specifications of Mixup, CutMix and the per-batch switch between them."""
import pytest
import torch

from medtrain.augment import build_batch_augment
from medtrain.augment.mixing import CutMix, Mixup, MixupOrCutMix, cutmix, cutmix_boxes, mixup, sample_lam
from medtrain.errors import MedtrainError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["mixup", "cutmix", "mix"])
def test_ops_preserve_shape_dtype_device(name, device):
    op = build_batch_augment([name], {})
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(6, 3, 8, 8, device=device, dtype=dtype)
        y = torch.eye(6, device=device, dtype=dtype)
        out, y2 = op(x, y)
        assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
        assert y2.shape == y.shape and y2.dtype == y.dtype
        torch.testing.assert_close(y2.sum(1), torch.ones(6, device=device, dtype=dtype))


def test_mixup_labels_and_images_are_the_same_lambda_mix():
    torch.manual_seed(0)
    b = 8
    x = torch.rand(b, 3, 6, 6)
    y = torch.eye(b)
    out, y2 = Mixup(alpha=0.4)(x, y)
    lam = y2.diagonal()  # sample i's own class gets lambda_i (its partner B-1-i has another class)
    torch.testing.assert_close(y2, lam[:, None] * y + (1 - lam[:, None]) * y.flip(0))
    torch.testing.assert_close(out, lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x.flip(0))
    assert lam.unique().numel() == b  # one lambda per sample
    _, _, lam2 = mixup(x, y, 0.4)
    assert lam2.shape == (b,) and (lam2 >= 0).all() and (lam2 <= 1).all()


def test_mixup_works_on_volumes_and_multilabel_targets():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 3, 4, 4)
    y = torch.tensor([[1.0, 1, 0], [0, 1, 1], [0, 0, 0], [1, 0, 1]])
    out, y2, lam = mixup(x, y, 1.0)
    assert out.shape == x.shape
    torch.testing.assert_close(y2, lam[:, None] * y + (1 - lam[:, None]) * y.flip(0))
    assert (y2 >= 0).all() and (y2 <= 1).all()


def test_cutmix_label_share_equals_pasted_area_per_sample():
    torch.manual_seed(0)
    b, h, w = 64, 12, 20
    # Sample i is the constant i + 1, so each output pixel tells whose it is.
    x = torch.arange(1, b + 1, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 2, h, w).contiguous()
    y = torch.eye(b)
    out, y2 = CutMix(alpha=1.0)(x, y)
    own = (out == x).float().mean((1, 2, 3))
    pasted = (out == x.flip(0)).float().mean((1, 2, 3))
    torch.testing.assert_close(own + pasted, torch.ones(b))
    torch.testing.assert_close(y2.diagonal(), own, atol=1e-6, rtol=0)  # exact share, after clipping
    torch.testing.assert_close(y2.flip(1).diagonal(), pasted, atol=1e-6, rtol=0)  # partner B-1-i
    assert own.unique().numel() > b // 2  # per-sample boxes


def test_cutmix_boxes_are_clipped_and_lambda_corrected():
    torch.manual_seed(0)
    lam = sample_lam(4000, 1.0)
    top, left, bh, bw, lam_c = cutmix_boxes(lam, 16, 16)
    assert (top >= 0).all() and (left >= 0).all() and (top + bh <= 16).all() and (left + bw <= 16).all()
    torch.testing.assert_close(lam_c, 1 - (bh * bw).float() / 256)
    clipped = (top == 0) | (left == 0) | (top + bh == 16) | (left + bw == 16)
    assert clipped.float().mean() > 0.2  # boxes cross the border and are clipped ...
    assert (lam_c[clipped] >= lam[clipped] - 1e-6).all()  # ... which only ever shrinks the pasted area


def test_cutmix_multilabel_targets():
    torch.manual_seed(1)
    x = torch.rand(4, 3, 8, 8)
    y = torch.tensor([[1.0, 1, 0], [0, 1, 1], [0, 0, 0], [1, 0, 1]])
    _, y2, lam = cutmix(x, y, 1.0)
    torch.testing.assert_close(y2, lam[:, None] * y + (1 - lam[:, None]) * y.flip(0))


def test_odd_batch_middle_sample_is_unchanged():
    x = torch.rand(5, 3, 8, 8)
    y = torch.eye(5)
    for op in (Mixup(1.0), CutMix(1.0)):
        out, y2 = op(x, y)
        torch.testing.assert_close(out[2], x[2])
        torch.testing.assert_close(y2[2], y[2])


def test_mix_switch_chooses_per_batch():
    torch.manual_seed(0)
    b = 8
    x = torch.arange(1, b + 1, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 1, 8, 8).contiguous()
    y = torch.eye(b)
    out, _ = MixupOrCutMix(switch_p=1.0)(x, y)  # always CutMix: every pixel is own or partner's
    assert ((out == x) | (out == x.flip(0))).all()
    out, y2 = MixupOrCutMix(switch_p=0.0)(x, y)  # always Mixup: whole images blend
    lam = y2.diagonal()
    torch.testing.assert_close(out, lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x.flip(0))
    out, y2 = MixupOrCutMix(p=0.0)(x, y)
    assert torch.equal(out, x) and torch.equal(y2, y)
    kinds = set()
    for _ in range(20):
        out, _ = MixupOrCutMix(switch_p=0.5)(x, y)
        kinds.add(bool(((out == x) | (out == x.flip(0))).all()))
    assert kinds == {True, False}


@pytest.mark.parametrize("make", [
    lambda: Mixup(alpha=0.0),
    lambda: Mixup(alpha=-1.0),
    lambda: CutMix(alpha=0.0),
    lambda: CutMix(p=1.5),
    lambda: MixupOrCutMix(switch_p=2.0),
    lambda: MixupOrCutMix(cutmix_alpha=-0.5),
])
def test_bad_parameters_raise(make):
    with pytest.raises(MedtrainError):
        make()


def test_hard_labels_are_rejected_clearly():
    with pytest.raises(MedtrainError, match="soft targets"):
        CutMix()(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3]))


@pytest.mark.parametrize("alpha", [0.02, 0.05, 0.4])
def test_mixing_weights_are_beta_distributed_for_small_alpha(alpha):
    # Beta(a, a) is symmetric: mean 1/2, half the draws below 1/2. Two Gamma draws that underflow to 0
    # had been clamped, pulling lambda to 0 (mean 0.34 at alpha 0.02)
    torch.manual_seed(0)
    lam = sample_lam(200_000, alpha)
    assert lam.dtype == torch.float32 and lam.isfinite().all() and 0 <= lam.min() and lam.max() <= 1
    assert lam.mean().item() == pytest.approx(0.5, abs=0.005)
    assert (lam < 0.5).float().mean().item() == pytest.approx(0.5, abs=0.005)
    var = 1 / (4 * (2 * alpha + 1))  # Beta(a, a)'s variance
    assert lam.var().item() == pytest.approx(var, rel=0.02)


# ---------------------------------------------------------------------------------------------------------
# The functional ops check their own inputs, in one line, as the modules do
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [mixup, cutmix])
def test_targets_of_another_batch_size_are_refused_naming_the_batch_of_x(op):
    x = torch.rand(4, 3, 8, 8)
    with pytest.raises(MedtrainError, match=rf"{op.__name__} needs soft targets y of shape \(B, K\) float with B = 4 "
                                            r"\(the batch of x\), got \(3, 2\)"):
        op(x, torch.rand(3, 2))
    with pytest.raises(MedtrainError, match=r"soft targets y of shape \(B, K\) float"):
        op(x, torch.tensor([0, 1, 0, 1]))  # hard labels


@pytest.mark.parametrize("op, name", [(mixup, "mixup"), (cutmix, "cutmix")])
@pytest.mark.parametrize("alpha", [-1.0, 0.0, "abc"])
def test_a_non_positive_alpha_is_refused_by_the_function_too(op, name, alpha):
    with pytest.raises(MedtrainError, match=rf"{name} alpha must be"):
        op(torch.rand(4, 3, 8, 8), torch.rand(4, 2), alpha=alpha)


def test_mixing_refuses_a_single_image_and_cutmix_a_volume():
    with pytest.raises(MedtrainError, match=r"mixup expects a batch .*got shape \(3, 8, 8\)"):
        mixup(torch.rand(3, 8, 8), torch.rand(3, 2))
    with pytest.raises(MedtrainError, match=r"cutmix expects a batch of 2D images \(B, C, H, W\), got shape"):
        cutmix(torch.rand(4, 1, 4, 8, 8), torch.rand(4, 2))
    out, y, lam = mixup(torch.rand(4, 1, 4, 8, 8), torch.rand(4, 2))  # volumes mix as images do
    assert out.shape == (4, 1, 4, 8, 8) and y.shape == (4, 2) and lam.shape == (4,)
    with pytest.raises(MedtrainError, match=r"mixup or cutmix expects a batch of 2D images \(B, C, H, W\)"):
        MixupOrCutMix()(torch.rand(4, 1, 4, 8, 8), torch.rand(4, 2))  # refused whichever of the two is drawn
