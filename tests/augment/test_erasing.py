"""Specifications of random erasing and Cutout."""
import pytest
import torch

from medtrain.augment import build_batch_augment
from medtrain.augment.erasing import (Cutout, RandomErasing, cutout, cutout_boxes, random_erasing,
                                      sample_erasing_boxes)
from medtrain.errors import MedtrainError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _erased_boxes(mask):
    """Per sample: (count, bounding-box height, width) of the True pixels of ``mask`` ``(B, H, W)``."""
    out = []
    for m in mask:
        if not m.any():
            out.append((0, 0, 0))
            continue
        rows, cols = m.any(1).nonzero(), m.any(0).nonzero()
        out.append((int(m.sum()), int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)))
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["erasing", "cutout"])
def test_ops_preserve_shape_dtype_device(name, dtype, device):
    op = build_batch_augment([name], {})
    x = torch.rand(4, 3, 10, 12, device=device, dtype=dtype)
    out, _ = op(x, torch.eye(4, device=device))
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device


def test_erased_area_lies_in_its_range_and_is_one_box():
    torch.manual_seed(0)
    h, w, scale = 40, 48, (0.05, 0.3)
    x = torch.ones(200, 3, h, w)
    out = random_erasing(x, p=1.0, scale=scale, ratio=(0.3, 3.3), value=-1.0)
    mask = out[:, 0] == -1
    assert torch.equal(mask[:, None].expand_as(out), out == -1)  # all channels erased alike
    boxes = _erased_boxes(mask)
    assert sum(n > 0 for n, _, _ in boxes) >= 190  # a box that fits is found for (nearly) every sample
    for n, bh, bw in boxes:
        if n:
            assert n == bh * bw  # one axis-aligned rectangle
            # The sides are rounded from sqrt(area * ratio): the area is within half a pixel per side.
            assert (bh - 0.5) * (bw - 0.5) <= scale[1] * h * w
            assert (bh + 0.5) * (bw + 0.5) >= scale[0] * h * w
    assert len({b for b in boxes}) > 100  # per-sample boxes


def test_erasing_aspect_ratio_is_log_uniform_in_range():
    torch.manual_seed(0)
    _, _, eh, ew = sample_erasing_boxes(4000, 200, 200, 1.0, (0.1, 0.2), (0.5, 2.0))
    r = torch.log(eh.float() / ew.float())
    assert r.min() > torch.log(torch.tensor(0.5)) - 0.05 and r.max() < torch.log(torch.tensor(2.0)) + 0.05
    assert abs(float(r.mean())) < 0.03  # symmetric around ratio 1 in log space


def test_erasing_probability_and_fill():
    x = torch.rand(64, 3, 16, 16)
    assert torch.equal(random_erasing(x, p=0.0), x)
    torch.manual_seed(1)
    out = random_erasing(x, p=0.5, value=-1.0)
    n = int((out[:, 0] == -1).flatten(1).any(1).sum())
    assert 16 < n < 48
    torch.manual_seed(1)
    rnd = random_erasing(torch.full((8, 3, 16, 16), 5.0), p=1.0, value="random")
    filled = rnd[rnd != 5.0]
    assert filled.numel() > 0 and filled.min() >= 0 and filled.max() <= 1 and filled.std() > 0.1


def test_cutout_square_size_and_clipping():
    torch.manual_seed(0)
    h, w, size = 20, 24, 8
    top, left, bh, bw = cutout_boxes(2000, h, w, size)
    assert (bh <= size).all() and (bw <= size).all() and (bh > 0).all() and (bw > 0).all()
    inside_r = (top > 0) & (top + bh < h)
    inside_c = (left > 0) & (left + bw < w)
    assert (bh[inside_r] == size).all() and (bw[inside_c] == size).all()
    assert (~inside_r).any() and (~inside_c).any()  # centres are uniform, so squares cross the border
    x = torch.ones(50, 1, h, w)
    out = cutout(x, size=size, value=0.0)
    for n, eh, ew in _erased_boxes(out[:, 0] == 0):
        assert n == eh * ew and eh <= size and ew <= size


def test_cutout_fraction_size_and_probability():
    torch.manual_seed(0)
    out = cutout(torch.ones(40, 1, 20, 20), size=0.5, p=1.0, value=0.0)
    assert max(eh for _, eh, _ in _erased_boxes(out[:, 0] == 0)) == 10
    assert torch.equal(cutout(torch.ones(4, 1, 8, 8), size=3, p=0.0), torch.ones(4, 1, 8, 8))


@pytest.mark.parametrize("make", [
    lambda: RandomErasing(p=-0.1),
    lambda: RandomErasing(p=1.1),
    lambda: RandomErasing(scale=(0.0, 0.3)),
    lambda: RandomErasing(scale=(0.5, 1.5)),
    lambda: RandomErasing(scale=(0.3, 0.1)),
    lambda: RandomErasing(ratio=(0.0, 2.0)),
    lambda: RandomErasing(value="noise"),
    lambda: Cutout(size=0),
    lambda: Cutout(size=1.5),
    lambda: Cutout(p=2.0),
])
def test_bad_parameters_raise(make):
    with pytest.raises(MedtrainError):
        make()


def test_an_augment_param_no_chosen_op_reads_is_refused_naming_what_they_read():
    """`--augment cutout --augment-params cutout_sise=8` trained with the default size and recorded the typo."""
    from medtrain.augment import build_batch_augment
    from medtrain.errors import MedtrainError

    (op,) = build_batch_augment(["cutout"], {"cutout_size": 0.25}, given=["cutout_size"]).ops
    assert op.size == 0.25
    with pytest.raises(MedtrainError, match=r"augment_params cutout_sise: no augmentation of --augment cutout reads "
                                            r"it \(they read cutout_p, cutout_size, cutout_value\)"):
        build_batch_augment(["cutout"], {"cutout_sise": 8}, given=["cutout_sise"])
    with pytest.raises(MedtrainError, match="--augment none reads it"):
        build_batch_augment(["none"], {"erasing_p": 1.0}, given=["erasing_p"])


# ---------------------------------------------------------------------------------------------------------
# The functional ops check their own inputs, in one line, as the modules do
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(p=1.5), r"erasing probability must be a probability in \[0, 1\], got 1.5"),
    (dict(scale=(0.5, 0.1)), r"erasing area range must be an increasing pair \(low, high\) within \(0, 1\]"),
    (dict(ratio=(3.3, -0.3)), r"erasing aspect-ratio range must be an increasing pair \(low, high\) within \(0, inf\)"),
    (dict(value="noise"), r"erasing fill must be a finite number or 'random', got 'noise'"),
])
def test_random_erasing_checks_its_parameters_itself(kwargs, message):
    with pytest.raises(MedtrainError, match=message):
        random_erasing(torch.rand(2, 1, 8, 8), **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=0), r"cutout size must be pixels \(int > 0\) or a fraction in \(0, 1\], got 0"),
    (dict(size=1.5), r"cutout size must be pixels \(int > 0\) or a fraction in \(0, 1\], got 1.5"),
    (dict(p=-0.1), r"cutout probability must be a probability in \[0, 1\], got -0.1"),
    (dict(value=float("nan")), r"cutout fill must be a finite number or 'random', got nan"),
])
def test_cutout_checks_its_parameters_itself(kwargs, message):
    with pytest.raises(MedtrainError, match=message):
        cutout(torch.rand(2, 1, 8, 8), **kwargs)


def test_erasing_functions_refuse_a_single_image():
    for fn in (random_erasing, cutout):
        with pytest.raises(MedtrainError, match=rf"{fn.__name__} expects a batch of 2D images \(B, C, H, W\), got "
                                                r"shape \(3, 8, 8\); give a single image a batch axis"):
            fn(torch.rand(3, 8, 8))
