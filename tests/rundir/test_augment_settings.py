"""A run says every augmentation setting its ops used, defaults included: a ``jitter`` run's config.yaml held
``augment_params = {}`` and its report nothing more, so the strengths it trained with (0.4 / 0.4 / 0.4 / 0.1) were
written nowhere (walk "colour")."""
from __future__ import annotations

import html
import re

from medtrain._run_report import augment_settings
from medtrain.config import Config
from medtrain.reports.html import run_report


def test_each_op_gets_its_given_values_and_its_defaults():
    cfg = Config(augment=("flip", "jitter", "cutmix"), augment_params={"jitter_contrast": 0.2}, cutmix_alpha=0.5)
    assert augment_settings(cfg.to_dict()) == {
        "flip": {"flip_p": 0.5},
        "jitter": {"jitter_brightness": 0.4, "jitter_contrast": 0.2, "jitter_saturation": 0.4, "jitter_hue": 0.1},
        "cutmix": {"cutmix_alpha": 0.5, "cutmix_p": 1.0}}  # its own flag's value, not the op's default 1.0
    # grey images: jitter's colour settings, which it never applies to them, are not said to have been used
    assert augment_settings(cfg.to_dict(), grey=True)["jitter"] == {"jitter_brightness": 0.4, "jitter_contrast": 0.2}
    erasing = augment_settings(Config(augment=("erasing",)).to_dict())["erasing"]
    assert erasing["erasing_scale"] == [0.02, 0.33] and erasing["erasing_ratio"] == [0.3, 3.3]  # JSON lists
    assert augment_settings(Config(augment=("none",)).to_dict()) == {}


def test_a_policy_file_records_how_it_resamples_and_fills_and_reads_those_settings(tmp_path):
    # a review: a policy YAML named by its path had ignored aa_interpolation and aa_fill (refused as unread) and
    # recorded nothing
    from medtrain.augment import build_batch_augment
    from medtrain.augment.policies import randaugment_policy, save_policy

    path = str(save_policy(randaugment_policy(1, 5), tmp_path / "ra.yaml"))
    cfg = Config(augment=("flip", path), augment_params={"aa_fill": 0.5})
    assert augment_settings(cfg.to_dict())[path] == {"aa_interpolation": "nearest", "aa_fill": 0.5}
    op = build_batch_augment([path], {"aa_fill": 0.5, "aa_interpolation": "bilinear"}, given=("aa_fill",
                                                                                             "aa_interpolation"))
    assert (op.ops[0].fill, op.ops[0].interpolation) == (0.5, "bilinear")


def test_a_linear_probe_which_reads_no_augmentation_records_none():
    config = {**Config(augment=("flip", "jitter")).to_dict(), "transfer": "linear-probe"}
    assert augment_settings(config) == {}


def test_the_report_shows_them_beside_the_configuration():
    metrics = {"task": "binary-class", "history": [], "best_epoch": 0, "stop_epoch": 0, "val": {"auc": 0.9, "acc": 0.8},
               "test": {"auc": 0.9, "acc": 0.8},
               "augment_settings": {"flip": {"flip_p": 0.5}, "rot90": {},
                                    "jitter": {"jitter_brightness": 0.4, "jitter_hue": 0.1}}}
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", run_report({}, metrics, {}))).split())
    assert ("Augmentation settings as the ops used them, given or default ( medtrain augment list says what each "
            "does): flip: flip_p=0.5; jitter: jitter_brightness=0.4, jitter_hue=0.1.") in text
    assert "rot90:" not in text  # an op without settings adds nothing
    assert "Augmentation settings" not in run_report({}, {**metrics, "augment_settings": {}}, {})
