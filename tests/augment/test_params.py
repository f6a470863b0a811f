"""Every augmentation setting a user can give through ``--augment-params``: a value of the wrong kind or
outside its range is one MedtrainError naming it, never a Python error in the first epoch, and a value
that is accepted keeps images finite and in [0, 1]."""
import pytest
import torch

from medtrain.augment import available, build_batch_augment
from medtrain.augment.catalogue import op_settings
from medtrain.errors import MedtrainError

NEEDS_FIT = ("pca", "policy")  # built from fitted statistics / a file, tested in their own modules
BAD = ["abc", -5, 5.0, 0, [1, "x"], [0.5, 0.1], {"a": 1}]


CASES = [(n, k) for n in available() if n not in NEEDS_FIT for k in sorted(op_settings(n))]


def test_the_cases_cover_the_settings_users_mistyped():
    assert {("cutout", "cutout_p"), ("mixup", "mixup_alpha"), ("shift", "shift_frac"), ("rrc", "rrc_size"),
            ("3d_erasing", "erasing_value"), ("autoaugment", "aa_fill")} <= set(CASES)


@pytest.mark.parametrize("name, key", CASES)
def test_a_bad_value_is_refused_by_name_or_keeps_images_in_range(name, key):
    x = torch.rand(4, 3, 8, 8, 8) if name.startswith("3d") else torch.rand(4, 3, 16, 16)
    y = torch.eye(2)[[0, 1, 0, 1]]
    for value in BAD:
        try:
            op = build_batch_augment([name], {key: value}, given=[key])
            torch.manual_seed(0)
            out, target = op(x.clone(), y.clone())
        except MedtrainError:
            continue
        assert out.shape[:2] == x.shape[:2] and out.isfinite().all(), (key, value)  # rrc_size sets the size
        assert out.min() >= 0 and out.max() <= 1, (key, value)
        assert torch.allclose(target.sum(1), torch.ones(4)), (key, value)


def test_the_refusal_names_the_op_and_the_value():
    with pytest.raises(MedtrainError, match=r"augment_params for cutout: cannot use cutout_p='abc'"):
        build_batch_augment(["cutout"], {"cutout_p": "abc"}, given=["cutout_p"])


def test_a_zero_shift_is_the_identity_and_a_negative_one_is_refused():
    x = torch.rand(8, 1, 28, 28)
    (op,) = build_batch_augment(["shift"], {"shift_frac": 0}, given=["shift_frac"]).ops
    assert torch.equal(op(x, None)[0], x)  # a shift of up to 0 pixels had still moved 90% of the images
    with pytest.raises(MedtrainError, match=r"shift_frac .* must be in \[0, 0.5\], got -1"):
        build_batch_augment(["shift"], {"shift_frac": -1}, given=["shift_frac"])


@pytest.mark.parametrize("key", ["erasing_p", "mixup_alpha", "ra_n"])
def test_a_setting_of_its_own_given_in_augment_params_is_refused_naming_its_flag(key):
    """``--erasing-p 1.0 --augment-params erasing_p=0`` had trained with 0 (no image erased) while config.yaml and the
    report recorded both (a walk)."""
    from medtrain.config import Config
    from medtrain.config.checks import check_typed_for_a_new_run

    with pytest.raises(MedtrainError, match=rf"^{key} is a setting of its own \(--{key.replace('_', '-')}\), not an "
                                            "op parameter"):
        check_typed_for_a_new_run(Config(augment=("erasing", "mixup", "randaugment"), augment_params={key: 1}),
                                  {"augment_params"})
