"""Which input sizes a network takes (medtrain.models.input_size): refused in one line naming the network, the size
and the sizes it takes; timm's fixed-size networks (ViT) built at the run's size; the small-input stem's cost said;
and timings that are medians of several forwards (a user walkthrough with their own images at real resolution)."""
from __future__ import annotations

import warnings

import pytest
import torch

from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.cost import count_cost, time_forward
from medtrain.models.input_size import SmallInputStemWarning, check_input_size, warn_small_stem


def test_a_size_the_network_shrinks_to_nothing_is_one_line_naming_the_smallest_that_works():
    with pytest.raises(MedtrainError) as e:
        check_input_size("convnext_atto", 16)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("convnext_atto cannot run on 16 px inputs")
    assert "it takes 32 px or more" in msg  # convnext's total stride is 32
    check_input_size("convnext_atto", 32)  # and it does


def test_a_network_with_a_small_input_stem_names_both_ranges_it_takes():
    with pytest.raises(MedtrainError, match=r"inception_v3 cannot run on 70 px inputs.*it takes 75 px or more, or "
                                            r"64 px or less with medtrain's small-input stem"):
        check_input_size("inception_v3", 70)


def test_a_vit_is_built_at_the_run_size_and_runs_there():
    check_input_size("vit_tiny_patch16_224", 64)
    net = create_model("vit_tiny_patch16_224", in_chans=1, num_classes=3, input_size=64).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 1, 64, 64)).shape == (2, 3)


def test_a_vit_is_refused_a_size_its_patches_do_not_tile():
    # timm's strided patch convolution would silently drop the 12 px beyond the one 16 px patch of a 28 px image
    with pytest.raises(MedtrainError, match=r"cannot run on 28 px inputs: its 16x16 px patches do not tile it.*"
                                            r"e\.g\. 32 px"):
        check_input_size("vit_tiny_patch16_224", 28)


def test_the_small_input_stem_is_said_with_both_mac_counts():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_small_stem("resnet18", 64, 3, 2)
    said = [w for w in caught if issubclass(w.category, SmallInputStemWarning)]
    assert len(said) == 1 and "\n" not in str(said[0].message)
    adapted = count_cost(create_model("resnet18", in_chans=3, num_classes=2, input_size=64), 64).macs
    stock = count_cost(create_model("resnet18", in_chans=3, num_classes=2), 64).macs
    assert adapted > 5 * stock  # the point of saying it
    text = str(said[0].message)
    assert f"{adapted / 1e9:.3f} GMACs" in text and f"{stock / 1e6:.1f} MMACs" in text and "--image-size 65" in text


def test_no_stem_warning_above_64_px_or_for_networks_without_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallInputStemWarning)
        assert warn_small_stem("resnet18", 65) is None
        assert warn_small_stem("resnet18_28_half", 64) is None  # its stem is its own, said by train's note
        assert warn_small_stem("inception_v3", 64) is None  # the standard stem cannot take 64 px: no choice


def test_a_timing_is_a_median_of_at_least_three_forwards_whatever_the_budget():
    net = torch.nn.Conv2d(3, 4, 3)
    assert time_forward(net, 1, 16, budget_s=1e-9)["reps"] >= 3
