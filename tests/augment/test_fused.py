"""Specifications of the fused flip -> rrc -> jitter -> erasing -> CutMix pipeline."""
import pytest
import torch

from medtrain.augment import FusedPipeline, build_batch_augment, fuse
from medtrain.augment.mixing import mix_targets
from medtrain.errors import MedtrainError

OPS = ["flip", "rrc", "jitter", "erasing", "cutmix"]


def _data(b=12, c=3, s=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, s, s), dtype=torch.uint8, generator=g), torch.eye(b)


def test_fuse_recognises_the_op_list_and_keeps_its_parameters():
    params = {"rrc_scale": (0.3, 1.0), "erasing_p": 0.25, "cutmix_alpha": 0.5, "jitter_hue": 0.05}
    fp = fuse(build_batch_augment(OPS, params))
    assert isinstance(fp, FusedPipeline)
    assert fp.rrc[0] == (0.3, 1.0) and fp.erasing[0] == 0.25 and fp.cutmix_alpha == 0.5 and fp.jitter[3] == 0.05
    assert isinstance(fuse(build_batch_augment(["flip", "cutmix"], {})), FusedPipeline)
    for names in (["rrc", "flip"], ["flip", "affine"], ["jitter", "mixup"], ["vflip"]):
        ops = build_batch_augment(names, {})
        assert fuse(ops) is ops  # not fusable: returned unchanged


@pytest.mark.parametrize("out_dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("c", [3, 1])
@pytest.mark.parametrize("b,s", [(12, 20), (7, 20), (6, 64), (5, 64)])  # groups of pairs / one pair at a time
def test_per_sample_and_batched_executions_agree(out_dtype, c, b, s):
    x, y = _data(b=b, c=c, s=s)
    res = {}
    for mode in ("batched", "per_sample"):
        torch.manual_seed(0)
        res[mode] = FusedPipeline(out_dtype=out_dtype, mode=mode)(x, y)
    (xb, yb), (xs, ys) = res["batched"], res["per_sample"]
    assert xb.dtype == xs.dtype == out_dtype and xb.shape == xs.shape == x.shape
    torch.testing.assert_close(yb, ys)
    scale = 255.0 if out_dtype == torch.uint8 else 1.0
    d = (xb.float() - xs.float()).abs() / scale
    # Same random parameters; only the uint8 rounding of the per-sample resize differs.
    assert d.mean() < 0.003 and d.max() < 0.03
    torch.manual_seed(0)
    xf, _ = FusedPipeline(out_dtype=out_dtype, mode="per_sample")(x.float() / 255, y)
    torch.testing.assert_close(xf.float() / scale, xb.float() / scale, atol=1e-5 if scale == 1 else 1.01 / 255, rtol=0)


def test_disabled_stages_give_the_identity():
    x, y = _data()
    for mode in ("batched", "per_sample"):
        fp = FusedPipeline(flip_p=None, rrc=None, jitter=None, erasing=None, cutmix_alpha=None, mode=mode)
        out, y2 = fp(x, y)
        torch.testing.assert_close(out, x.float() / 255)
        assert torch.equal(y2, y)


def test_outputs_are_in_range_and_labels_match_the_pasted_boxes():
    x, y = _data(b=16, s=32)
    torch.manual_seed(1)
    fp = FusedPipeline(mode="per_sample")
    p = fp.sample_params(16, 3, 32, 32, "cpu")
    torch.manual_seed(1)
    out, y2 = fp(x, y)
    assert out.min() >= 0 and out.max() <= 1 and out.std() > 0.1
    torch.testing.assert_close(y2, mix_targets(y, p["lam"]))
    top, left, bh, bw = p["cut"]
    torch.testing.assert_close(p["lam"], 1 - (bh * bw).float() / (32 * 32))
    torch.testing.assert_close(y2.sum(1), torch.ones(16))


def test_samples_get_their_own_parameters():
    x, y = _data(b=1, s=24)
    x, y = x.expand(8, -1, -1, -1).contiguous(), torch.eye(8)
    torch.manual_seed(0)
    out, _ = FusedPipeline(cutmix_alpha=None)(x, y)
    assert all(not torch.allclose(out[0], out[i]) for i in range(1, 8))


def test_output_size_and_buffer():
    x, y = _data(s=32)
    out = torch.empty(12, 3, 16, 16)
    res, _ = FusedPipeline(size=16)(x, y, out=out)
    assert res is out and out.min() >= 0 and out.max() <= 1


def test_bad_inputs_raise():
    with pytest.raises(MedtrainError):
        FusedPipeline(flip_p=1.5)
    with pytest.raises(MedtrainError):
        FusedPipeline(out_dtype=torch.float16)
    with pytest.raises(MedtrainError):
        FusedPipeline()(torch.zeros(2, 4, 8, 8, dtype=torch.uint8), torch.eye(2))


@pytest.mark.parametrize("mode", ["batched", "per_sample"])
@pytest.mark.parametrize("s", [20, 64])
def test_fused_equals_the_separate_ops_with_the_same_seed(mode, s):
    x, y = _data(b=10, s=s)
    xf = x.float() / 255
    ops = build_batch_augment(OPS, {})
    torch.manual_seed(5)
    ref_x, ref_y = ops(xf, y)
    torch.manual_seed(5)
    out, y2 = fuse(ops, mode=mode)(xf, y)
    torch.testing.assert_close(y2, ref_y)
    torch.testing.assert_close(out, ref_x, atol=1e-5, rtol=0)
