"""`medtrain cost` and `medtrain models`: JSON that parses, totals under params/macs, one-line errors."""
import json

import pytest

from medtrain.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cost_json_has_params_and_macs_and_per_layer_rows(capsys):
    out = _json(capsys, ["cost", "resnet18_28", "--input", "28", "--in-chans", "1", "--num-classes", "2", "--json"])
    assert out["params"] == pytest.approx(11.17e6, rel=0.001)  # as in the MedMNIST v2 tables
    assert out["macs"] == sum(layer["macs"] for layer in out["layers"]) > 0
    assert {layer["kind"] for layer in out["layers"]} == {"standard", "pointwise", "linear"}


def test_cost_text_compares_with_the_paper(capsys):
    assert main(["cost", "mobilenetv1_100", "--input", "224"]) == 0
    text = capsys.readouterr().out
    assert "Howard et al. 2017" in text and "569.00M" in text and "channel reduction" not in text


def test_cost_separable_reports_baseline_and_savings(capsys):
    out = _json(capsys, ["cost", "resnet18_28", "--input", "28", "--separable", "--json"])
    assert out["baseline"]["macs"] - out["macs"] == out["savings"]["macs"] > 0
    assert sum(c["macs_saved"] for c in out["savings"]["converted_layers"]) == out["savings"]["macs"]


def test_cost_conv_closed_form(capsys):
    out = _json(capsys, ["cost", "--conv", "DK=3,M=512,N=1024,DG=14", "--json"])
    assert out["standard"]["macs"] == 3 * 3 * 512 * 1024 * 14 * 14
    assert round(out["ratio"], 3) == 0.112 and "separable" in out


def test_cost_of_a_3d_network_counts_its_volume_convolutions(capsys):
    """A 3D network gets a cube of --input voxels (it was fed a 2D image and failed; then it was refused)."""
    out = _json(capsys, ["cost", "med3d_resnet10", "--input", "28", "--in-chans", "1", "--num-classes", "2", "--json"])
    conv1 = out["layers"][0]
    assert out["spatial_dims"] == 3 and conv1["kernel"] == "7x7x7" and conv1["out_shape"] == [1, 64, 14, 14, 14]
    assert conv1["macs"] == 7 * 7 * 7 * 1 * 64 * 14 ** 3
    assert out["layers"][-1]["kind"] == "linear" and out["layers"][-1]["macs"] == 512 * 2


@pytest.mark.parametrize(
    "argv,message",
    [
        (["cost", "resnet_18"], "did you mean"),
        (["cost", "--conv", "DK=3,M=512"], "missing"),
        (["cost"], "give a MODEL"),
        (["models", "--measure", "--names", "mobilenet_v9"], "unknown model"),
        (["cost", "med3d_resnet10", "--input", "28", "--separable"], "is a 3D network"),
        # found in a user walkthrough: each had been a traceback, an error about a 224 px image, or ignored
        (["models", "--measure", "--names", "med3d_resnet10"], "is a 3D network; --measure tables 2D networks"),
        (["cost", "vit_tiny_patch16_224", "--input", "28"], "cannot run on 28 px inputs"),
        (["models", "--names", "nosuch"], "--names applies with --measure or --dataset"),
        (["models", "--csv"], "--csv applies with --measure"),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("medtrain: error:")


def test_models_lists_families_and_the_registered_28px_resnets(capsys):
    out = _json(capsys, ["models", "--json"])
    assert "mobilenetv1_025" in out["MobileNet v1"]["names"] and out["AlexNet"]["source"] == "torchvision"
    assert "resnet18_28" in out["medtrain (registered)"]["names"]


def test_models_measure_gives_a_row_per_network(capsys):
    rows = _json(capsys, ["models", "--measure", "--names", "mobilenetv1_025", "--budget", "0.05", "--json"])
    (row,) = rows
    assert row["macs_224"] == 41_030_272 and row["params"] == 470_072
    assert row["size_bytes"] > 4 * row["params"] and row["cpu_ms_224"] > 0 and row["cpu_ips_224"] > 0


def test_measure_takes_a_timm_name_as_every_other_command_does():
    # `medtrain cost efficientnet_b0` worked, `models --measure --names efficientnet_b0` was 'unknown model'
    from medtrain.models.benchmark import select

    assert select("efficientnet_b0,resnet18_28", quick=False, images_only=True) == ["efficientnet_b0", "resnet18_28"]
    from medtrain.models.benchmark import _source

    assert (_source("ecaresnet26t"), _source("resnet18_28")) == ("timm", "medtrain")  # it had said medtrain


def test_the_per_layer_parameters_and_the_rest_add_up_to_the_total(capsys):
    # the table's params column left out batch norm's without saying so: resnet50 53,120 short of its total
    assert main(["cost", "resnet18_28", "--input", "28", "--all-layers"]) == 0
    text = capsys.readouterr().out
    out = _json(capsys, ["cost", "resnet18_28", "--input", "28", "--json"])
    in_layers = sum({layer["name"]: layer["params"] for layer in out["layers"]}.values())
    assert f"parameters: {in_layers:,} in the conv and linear layers, {out['params'] - in_layers:,} in normalisation" in text
    assert out["params"] - in_layers == 2 * sum(  # BatchNorm's weight and bias, per channel
        n for n in [64] * 5 + [128] * 5 + [256] * 5 + [512] * 5)


def test_conv1d_layers_are_counted_as_flop_counter_counts_them(capsys):
    # timm's ecaresnets' channel attention is a Conv1d: 46,592 MACs short of FlopCounterMode at 224 px
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from medtrain.models import create_model

    out = _json(capsys, ["cost", "ecaresnet26t", "--input", "64", "--num-classes", "2", "--json"])
    model = create_model("ecaresnet26t", in_chans=3, num_classes=2, input_size=64).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    assert out["macs"] == counter.get_total_flops() // 2
    assert any(layer["name"].endswith("conv") and "x" not in layer["kernel"] for layer in out["layers"])
