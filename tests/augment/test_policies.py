"""AutoAugment / RandAugment / TrivialAugment policies, batched on tensors."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

from medtrain.augment import build_batch_augment
from medtrain.augment._policy_ops import OP_NAMES, OPS
from medtrain.augment.policies import (
    AUTOAUGMENT_POLICIES, RANDAUGMENT_OPS, AutoAugment, OpSpec, Policy, PolicyAugment, RandAugment,
    TrivialAugment, autoaugment_policy, load_policy, randaugment_policy, save_policy, trivialaugment_policy,
)  # fmt: skip
from medtrain.errors import MedtrainError


def smooth_images(b: int = 6, c: int = 3, h: int = 32, w: int = 28, seed: int = 0) -> torch.Tensor:
    """uint8 images with structure (smooth blobs and a bright bar), so geometric ops have something to move."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(b, c, h // 4, w // 4, generator=g)
    img = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    img = (img * 200).round().to(torch.uint8)
    img[:, :, 5:9, 3:20] = 250
    return img


def levels(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().to(torch.int32)


# The published magnitude mapping (torchvision's AutoAugment tables, 10 bins 0..9): level -> reference call.
L = 9.0
H, W = 32, 28
REFERENCE = {
    "Invert": (None, lambda img, m, s: TF.invert(img)),
    "Solarize": (3, lambda img, m, s: TF.solarize(img, 255.0 * (1 - m / L))),
    "Posterize": (6, lambda img, m, s: TF.posterize(img, int(8 - round(4 * m / L)))),
    "AutoContrast": (None, lambda img, m, s: TF.autocontrast(img)),
    "Equalize": (None, lambda img, m, s: TF.equalize(img)),
    "Rotate": (6, lambda img, m, s: TF.rotate(img, s * 30.0 * m / L)),
    "ShearX": (5, lambda img, m, s: TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0,
                                              shear=[math.degrees(math.atan(s * 0.3 * m / L)), 0.0], center=[0, 0])),
    "ShearY": (8, lambda img, m, s: TF.affine(img, angle=0.0, translate=[0, 0], scale=1.0,
                                              shear=[0.0, math.degrees(math.atan(s * 0.3 * m / L))], center=[0, 0])),
    "TranslateY": (9, lambda img, m, s: TF.affine(img, angle=0.0, translate=[0, int(s * 150 / 331 * H * m / L)],
                                                  scale=1.0, shear=[0.0, 0.0])),
    "TranslateX": (4, lambda img, m, s: TF.affine(img, angle=0.0, translate=[int(s * 150 / 331 * W * m / L), 0],
                                                  scale=1.0, shear=[0.0, 0.0])),
    "Brightness": (7, lambda img, m, s: TF.adjust_brightness(img, 1 + s * 0.9 * m / L)),
    "Contrast": (8, lambda img, m, s: TF.adjust_contrast(img, 1 + s * 0.9 * m / L)),
    "Sharpness": (9, lambda img, m, s: TF.adjust_sharpness(img, 1 + s * 0.9 * m / L)),
    "Color": (6, lambda img, m, s: TF.adjust_saturation(img, 1 + s * 0.9 * m / L)),
}
GEOMETRIC = {"Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"}


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", list(REFERENCE))
def test_each_op_at_probability_one_matches_torchvision_on_uint8(name, channels):
    level, ref = REFERENCE[name]
    img = smooth_images(c=channels, h=H, w=W)
    aug = PolicyAugment(Policy([[OpSpec(name, 1.0, level)]], max_level=L))
    plan = aug.draw(len(img))
    assert plan.applied() == [[name]] * len(img)
    out = levels(aug.apply(img.float() / 255, plan))
    expected = torch.stack([ref(img[i], level, float(plan.sign[i, 0])) for i in range(len(img))]).int()
    diff = (out - expected).abs()
    if name in GEOMETRIC:  # nearest-neighbour sampling: a pixel on a rounding tie may pick its neighbour
        assert (diff <= 1).float().mean() >= 0.99
    else:  # torchvision truncates blends to uint8 where we keep floats
        assert diff.max() <= 2
    if name != "Color" or channels == 3:
        assert not torch.equal(out, img.int())  # and the op did change the image


def test_color_is_the_identity_on_grey_images():
    img = smooth_images(c=1)
    aug = PolicyAugment(Policy([[OpSpec("Color", 1.0, 9)]]))
    assert torch.equal(aug(img.float() / 255, torch.zeros(len(img), 2))[0], img.float() / 255)


def test_an_op_fires_with_its_probability_per_sample():
    torch.manual_seed(0)
    x = torch.rand(2000, 1, 4, 4)
    out, _ = PolicyAugment(Policy([[OpSpec("Invert", 0.3)]]))(x, torch.zeros(2000, 2))
    changed = (out != x).flatten(1).any(1).float().mean().item()
    assert abs(changed - 0.3) < 0.05


def test_each_sample_draws_its_own_sub_policy():
    torch.manual_seed(0)
    x = torch.rand(400, 1, 4, 4) * 0.5  # below the Solarize threshold used: only Invert changes them
    policy = Policy([[OpSpec("Invert", 1.0)], [OpSpec("Posterize", 1.0, 0)]])  # 8 bits: no change
    out, _ = PolicyAugment(policy)(x, torch.zeros(400, 2))
    inverted = torch.isclose(out, 1 - x).flatten(1).all(1)
    assert 0.4 < inverted.float().mean() < 0.6


def test_sub_policy_ops_apply_in_order_each_with_its_own_coin():
    torch.manual_seed(0)
    aug = PolicyAugment(Policy([[OpSpec("Invert", 0.5), OpSpec("Equalize", 0.2)]]))
    applied = aug.draw(4000).applied()
    firsts = sum(a[:1] == ["Invert"] for a in applied) / 4000
    equalized = sum("Equalize" in a for a in applied) / 4000
    assert abs(firsts - 0.5) < 0.03 and abs(equalized - 0.2) < 0.03
    assert all(a in ([], ["Invert"], ["Equalize"], ["Invert", "Equalize"]) for a in applied)


@pytest.mark.parametrize("name", AUTOAUGMENT_POLICIES)
def test_published_autoaugment_policies_have_25_sub_policies_of_two_ops(name):
    policy = autoaugment_policy(name)
    assert len(policy.sub_policies) == 25
    assert all(len(sub) == 2 for sub in policy.sub_policies)
    assert all(op.magnitude is None or 0 <= op.magnitude <= 9 for sub in policy.sub_policies for op in sub)


def test_published_tables_match_the_paper_spot_checks():
    assert autoaugment_policy("imagenet").sub_policies[0] == [OpSpec("Posterize", 0.4, 8), OpSpec("Rotate", 0.6, 9)]
    assert autoaugment_policy("cifar10").sub_policies[-1] == [OpSpec("TranslateY", 0.7, 9),
                                                             OpSpec("AutoContrast", 0.9, None)]
    assert autoaugment_policy("svhn").sub_policies[0] == [OpSpec("ShearX", 0.9, 4), OpSpec("Invert", 0.2, None)]


def test_unknown_autoaugment_policy_names_the_choices():
    with pytest.raises(MedtrainError, match="imagenet"):
        autoaugment_policy("imagenett")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_randaugment_applies_exactly_n_ops_drawn_from_its_14(n):
    torch.manual_seed(0)
    applied = RandAugment(n, 9).draw(3000).applied()
    assert all(len(a) == n for a in applied)
    assert {op for a in applied for op in a} == set(RANDAUGMENT_OPS)


def test_randaugment_uses_one_magnitude_and_rejects_the_torchvision_scale():
    plan = RandAugment(2, 5).draw(500)
    with_magnitude = [i for i, name in enumerate(OP_NAMES) if OPS[name].has_magnitude]
    scaled = torch.isin(plan.ops, torch.tensor(with_magnitude))
    assert scaled.any() and torch.all(plan.frac[scaled] == 0.5)
    with pytest.raises(MedtrainError, match="0, 10"):
        randaugment_policy(2, 15)
    with pytest.raises(MedtrainError, match="N"):
        randaugment_policy(0, 5)


def test_trivialaugment_applies_one_op_at_a_random_wide_magnitude():
    torch.manual_seed(0)
    aug = TrivialAugment()
    plan = aug.draw(2000)
    assert all(len(a) == 1 for a in plan.applied())
    assert len(plan.frac.unique()) == 31 and plan.frac.min() == 0 and plan.frac.max() == 1
    assert aug.policy.space == "wide"


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("make", [lambda: AutoAugment("imagenet"), lambda: AutoAugment("svhn"),
                                  lambda: RandAugment(3, 10), TrivialAugment],
                         ids=["autoaugment-imagenet", "autoaugment-svhn", "randaugment-3-10", "trivialaugment"])
def test_policies_keep_shape_range_and_targets_for_grey_and_rgb(make, channels):
    torch.manual_seed(0)
    x, y = smooth_images(b=32, c=channels).float() / 255, torch.eye(2)[torch.arange(32) % 2]
    out, y2 = make()(x, y)
    assert out.shape == x.shape and out.dtype == x.dtype and y2 is y
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, x)


def test_same_seed_same_augmentation():
    x = smooth_images(b=16).float() / 255
    aug = RandAugment(2, 9)
    torch.manual_seed(3)
    a = aug(x, torch.zeros(16, 2))[0]
    torch.manual_seed(3)
    b = aug(x, torch.zeros(16, 2))[0]
    assert torch.equal(a, b)


def test_volumes_are_refused_with_a_clear_error():
    with pytest.raises(MedtrainError, match="2-D"):
        RandAugment()(torch.rand(2, 1, 4, 8, 8), torch.zeros(2, 2))


def test_yaml_round_trip_keeps_the_policy(tmp_path):
    for policy in (autoaugment_policy("cifar10"), randaugment_policy(3, 7.5), trivialaugment_policy()):
        policy.metadata = {"note": "made in a test"}
        path = save_policy(policy, tmp_path / f"{policy.name}.yaml", comment="a comment")
        assert path.read_text().splitlines()[2] == "# a comment"
        assert load_policy(path) == policy


def test_yaml_written_by_hand_is_validated(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("sub_policies:\n- [[equalize, 0.5], [Rotate, 1.0, 4]]\n")
    assert load_policy(path).sub_policies == [[OpSpec("Equalize", 0.5, None), OpSpec("Rotate", 1.0, 4)]]
    path.write_text("sub_policies:\n- [[Rotate, 5e-1, 4e0]]\n")  # YAML 1.1 would read "5e-1" as a string
    assert load_policy(path).sub_policies == [[OpSpec("Rotate", 0.5, 4.0)]]
    for text, message in [
        ("sub_policies:\n- [[Rotat, 0.5, 3]]\n", "did you mean Rotate"),
        ("sub_policies:\n- [[Rotate, 1.5, 3]]\n", "probability"),
        ("sub_policies:\n- [[Rotate, 0.5]]\n", "needs a magnitude"),
        ("sub_policies:\n- [[Rotate, 0.5, 12]]\n", "magnitude must be in"),
        ("sub_policies: []\n", "at least one"),
        ("layer: 2\nsub_policies:\n- [[Invert, 0.5]]\n", "did you mean layers"),
        ("sub_policies: [[[", "not valid YAML"),
        (b"\xad\xff sub_policies", "not UTF-8 text"),
    ]:
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
        with pytest.raises(MedtrainError, match=message):
            load_policy(path)
    with pytest.raises(MedtrainError, match="not found"):
        load_policy(tmp_path / "missing.yaml")


@pytest.mark.parametrize("text, message", [
    # a bool is no number: true had trained as probability 1, as a quoted "0.5" is refused
    ("- - [Rotate, true, 3]\n", "sub-policy 0, op Rotate: probability must be in [0, 1], got True"),
    ("- - [Rotate, 0.5, false]\n", "sub-policy 0, op Rotate: magnitude must be in [0, 9], got False"),
    # Equalize takes no magnitude: a 7 had been ignored silently
    ("- - [Rotate, 0.5, 3]\n- - [Rotate, 0.5, 3]\n  - [Equalize, 0.5, 7]\n",
     "sub-policy 1, op Equalize: takes no magnitude, got 7; give null or leave it out ([Equalize, 0.5])"),
])
def test_a_policy_file_s_wrong_value_is_refused_naming_its_sub_policy_and_op(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text("sub_policies:\n" + text)
    with pytest.raises(MedtrainError) as e:
        load_policy(path)
    assert str(e.value) == f"policy file {path}: {message}"


def test_a_magnitude_free_op_with_null_or_without_a_magnitude_loads(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("sub_policies:\n- - [Equalize, 0.5, null]\n  - [Invert, 1]\n")
    assert load_policy(path).sub_policies == [[OpSpec("Equalize", 0.5, None), OpSpec("Invert", 1, None)]]


@pytest.mark.parametrize("text, message", [
    ("sub_policies:\n- - [Rotat, 0.5, 3]\n", "sub-policy 0: unknown op 'Rotat'; did you mean Rotate"),
    ("sub_polices:\n- - [Rotate, 0.5, 3]\n", "unknown key 'sub_polices'; did you mean sub_policies"),
    ("space: wdie\nsub_policies:\n- - [Rotate, 0.5, 3]\n", "unknown magnitude space 'wdie'; did you mean wide"),
])
def test_an_unknown_name_in_a_policy_file_is_said_unknown_not_the_file(tmp_path, text, message):
    path = tmp_path / "p.yaml"  # "unknown policy file X: sub-policy 0: op 'Rotat'" had read as if the file were
    path.write_text(text)
    with pytest.raises(MedtrainError) as e:
        load_policy(path)
    assert str(e.value).startswith(f"policy file {path}: {message}")


def test_registered_ops_build_from_run_settings(tmp_path):
    path = save_policy(randaugment_policy(1, 4), tmp_path / "ra.yaml")
    cases = [
        (["autoaugment"], {"aa_policy": "svhn"}, "autoaugment-svhn"),
        (["randaugment"], {"ra_n": 3, "ra_m": 5}, "randaugment-n3-m5"),
        (["trivialaugment"], {}, "trivialaugment-wide"),
        (["policy"], {"policy_file": str(path)}, "randaugment-n1-m4"),
    ]
    for names, params, expected in cases:
        (op,) = build_batch_augment(names, params).ops
        assert op.policy.name == expected
    with pytest.raises(MedtrainError, match="policy file"):
        build_batch_augment(["policy"], {})
    with pytest.raises(MedtrainError, match="cifar10"):
        build_batch_augment(["autoaugment"], {"aa_policy": "mnist"})


def test_cutout_erases_a_grey_square_of_up_to_the_published_size():
    torch.manual_seed(0)
    x = torch.zeros(200, 1, 32, 28)
    out, _ = PolicyAugment(Policy([[OpSpec("Cutout", 1.0, 9)]]))(x, torch.zeros(200, 2))
    erased = (out == 0.5).flatten(1).sum(1)
    side = round(60 / 331 * 28)  # the AutoAugment range: 60 px on 331 px images
    assert erased.max() == side * side and (erased > 0).all()  # squares may be clipped at the border


@pytest.mark.parametrize("name", [n for n in OP_NAMES if n != "Cutout"])
def test_every_op_gives_the_same_result_on_channels_last_batches(name):
    x = smooth_images(b=4).float() / 255
    aug = PolicyAugment(Policy([[OpSpec(name, 1.0, 5 if OPS[name].has_magnitude else None)]]))
    plan = aug.draw(4)
    assert torch.allclose(aug.apply(x.contiguous(memory_format=torch.channels_last), plan), aug.apply(x, plan))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_policies_give_the_same_draws_on_gpu_and_cpu():
    x = smooth_images(b=64).float() / 255
    for aug in (AutoAugment("imagenet"), RandAugment(2, 9), TrivialAugment()):
        plan = aug.draw(64)
        on_gpu = aug.apply(x.cuda(), plan).cpu()
        diff = (levels(on_gpu) - levels(aug.apply(x, plan))).abs()
        assert (diff <= 1).float().mean() > 0.99


@pytest.mark.parametrize("field, value", [("random_magnitude", "false"), ("layers", True)])
def test_policy_fields_of_the_wrong_type_are_refused(field, value):
    # a quoted "false" is a true string: it had drawn every level 0..9 instead of the level written
    from medtrain.augment.policy_spec import OpSpec, Policy

    policy = Policy([[OpSpec("Rotate", 1.0, 3)]], **{field: value})
    with pytest.raises(MedtrainError, match=field):
        policy.validate()
