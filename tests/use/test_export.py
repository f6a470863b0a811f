"""``medtrain export``: the exported file gives the probabilities ``predict`` gives (TTA included), runs
with onnxruntime and numpy alone, carries its labels and preprocessing, and every export is checked."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

import medtrain.export as export_mod
from medtrain.runmodel import RunModel, load_run_module, untrained_run_model
from medtrain.cli import main
from medtrain.errors import MedtrainError
from medtrain.predictor import Predictor, load

ORT_ONLY = r"""
import json, sys
import numpy as np
import onnxruntime as ort
sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
p = sess.run(None, {sess.get_inputs()[0].name: x})[0]
meta = sess.get_modelmeta().custom_metadata_map
print(json.dumps({"probs": p.tolist(), "labels": json.loads(meta["label_names"]),
                  "shape": [d if isinstance(d, int) else str(d) for d in sess.get_inputs()[0].shape],
                  "foreign": sorted(m for m in ("torch", "medtrain") if m in sys.modules)}))
"""


def test_run_exports_to_onnx_that_runs_without_medtrain_and_equals_predict(trained_run, tmp_path, capsys):
    """The run is the default 2D network (resnet18_28_half), exported with the dynamo exporter."""
    run, _, arrays = trained_run
    out = tmp_path / "model.onnx"
    assert main(["export", str(run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "via dynamo; max |exported - PyTorch|" in printed and "the run's first 8 test images" in printed
    images = arrays["test_images"][:, None]  # (N, 1, 16, 16) uint8
    np.save(tmp_path / "x.npy", images.astype(np.float32) / 255.0)
    script = tmp_path / "ort_only.py"
    script.write_text(ORT_ONLY)
    res = subprocess.run([sys.executable, "-I", str(script), str(out), str(tmp_path / "x.npy")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["foreign"] == []
    assert got["shape"][1:] == [1, 16, 16] and not isinstance(got["shape"][0], int)  # dynamic batch
    p = load(run)
    assert got["labels"] == p.labels
    # the test-time views are in the graph: its output is predict's, the probability the run's threshold
    # was chosen on (without them 6 of 156 operating-point decisions of a BreastMNIST run differed)
    assert p.run.cfg.tta == "hflip"
    np.testing.assert_allclose(np.array(got["probs"]), p.predict(images), atol=1e-5)
    no_tta = Predictor(RunModel(p.run.module, dataclasses.replace(p.run.cfg, tta="none"), p.run.meta))
    assert np.abs(no_tta.predict(images) - np.array(got["probs"])).max() > 1e-4
    raw = Predictor(p.run, calibrated=False).predict(images)
    assert np.abs(raw - np.array(got["probs"])).max() > 1e-2  # the run's temperature (T != 1) is in the graph


def test_export_without_tta_equals_predict_without_tta(trained_run, tmp_path, capsys):
    """--no-tta leaves the flip out of the graph: its output is predict --no-tta's, and its metadata say so."""
    import onnxruntime as ort

    run, _, arrays = trained_run
    out = tmp_path / "one.onnx"
    assert main(["export", str(run), "--out", str(out), "--no-tta", "--exporter", "torchscript"]) == 0
    images = arrays["test_images"][:, None]
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: images.astype(np.float32) / 255.0})[0]
    np.testing.assert_allclose(got, load(run, tta=False).predict(images), atol=1e-5)
    assert np.abs(got - load(run).predict(images)).max() > 1e-4
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["preprocessing"])["inside_the_graph"]["tta"] == "none"
    assert "test-time views" not in props["output"]


def test_onnx_metadata_names_labels_and_preprocessing(trained_run, tmp_path):
    run, _, _ = trained_run
    res = export_mod.export_run(run, "onnx", tmp_path / "m.onnx", exporter="torchscript")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(props["label_names"]) == load(run).labels
    pre = json.loads(props["preprocessing"])
    assert pre["color_space"] == "rgb" and len(pre["mean"]) == 1 and pre["inside_the_graph"]["tta"] == "hflip"
    assert any("Image.BILINEAR" in step for step in pre["before_the_graph"])  # the filter predict resizes with
    assert any("exif_transpose" in step for step in pre["before_the_graph"])
    assert json.loads(props["input_shape"]) == [1, 16, 16]
    assert res["max_abs_diff"] < 1e-4 and res["exporter"] == "torchscript"


def test_onnx_metadata_says_how_a_16_bit_image_becomes_the_input_medtrain_reads(trained_run, tmp_path):
    """Following the file's own description of a 16-bit grey image's conversion gives the very uint8 image
    medtrain's reader makes of it (a user of the ONNX file alone would otherwise clip or rescale it wrongly), for a
    run trained on such images (an 8-bit run's file gives no conversion: tests/use/test_export_depth_meta.py)."""
    from PIL import Image

    from medtrain.data.folder import read_image

    run, _, _ = trained_run
    loaded = load_run_module(run)
    deeper = RunModel(loaded.module, loaded.cfg, {**loaded.meta, "image_depth": "more than 8 bits"})
    export_mod.export_model(deeper, tmp_path / "m.onnx", "onnx", "torchscript")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    rule = json.loads(props["preprocessing"])["more_than_8_bit"]
    x = (np.random.default_rng(0).gamma(2.0, 400.0, (16, 16)) + 100).clip(0, 4095).astype(np.uint16)  # 12-bit data
    Image.fromarray(x).save(tmp_path / "x16.png")
    lo, hi = np.percentile(x.astype(np.float32), rule["percentiles"])
    ours = np.round(255 * np.clip((x - lo) / (hi - lo), 0, 1)).astype(np.uint8)
    medtrain_reads = read_image(tmp_path / "x16.png").numpy()[0]
    assert np.array_equal(ours, medtrain_reads) and not np.array_equal(ours, (x >> 4).astype(np.uint8))


def test_torchscript_export_equals_pytorch(trained_run, tmp_path):
    run, _, arrays = trained_run
    res = export_mod.export_run(run, "torchscript", tmp_path / "m.pt")
    extra = {"medtrain.json": ""}
    ts = torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    x = torch.from_numpy(arrays["test_images"][:5, None]).float() / 255.0
    expected = export_mod.ProbabilityGraph(load(run).run)(x)
    assert torch.allclose(ts(x), expected, atol=1e-5)
    described = json.loads(extra["medtrain.json"])
    assert described["exporter"] == "torch.jit.trace" and res["max_abs_diff"] < 1e-4
    assert described["label_names"] == load(run).labels  # one JSON object, not JSON strings inside it


def test_default_3d_network_exports_with_the_dynamo_exporter(tmp_path):
    run = untrained_run_model("med3d_resnet10", in_chans=1, num_classes=3, input_size=16, spatial_dims=3)
    res = export_mod.export_model(run, tmp_path / "m.onnx", "onnx", "dynamo")
    assert res["exporter"] == "dynamo" and res["fallback"] is None
    assert res["max_abs_diff"] < 1e-4


# Ten zoo families besides the defaults, exported through the TorchScript-based ONNX exporter (the
# command's fallback; the dynamo exporter's results for every family are in docs/results/export.md).
# About 90 s on 2 shared cores in all, hence slow.
FAMILIES = ["resnet18", "resnext50_32x4d", "densenet121", "mobilenetv1_025", "mobilenetv2_100",
            "mobilenetv3_small_100", "mnasnet_100", "shufflenet_v2_x0_5", "squeezenet1_1", "googlenet",
            "resnet10_3d"]


@pytest.mark.slow
@pytest.mark.parametrize("model", FAMILIES)
def test_zoo_families_export_within_tolerance(tmp_path, model):
    dims = 3 if model.endswith("_3d") else 2
    run = untrained_run_model(model, in_chans=3 if dims == 2 else 1, num_classes=4, input_size=16 if dims == 3 else 28,
                              spatial_dims=dims)
    x, _ = export_mod.check_images(run)
    probs = export_mod.ProbabilityGraph(run)(x).detach()
    # not saturated to one-hot (a wrong graph could hide behind exact 0s and 1s)
    assert (probs.topk(2, dim=1).values[:, 1] > 1e-5).float().mean() >= 0.5
    res = export_mod.export_model(run, tmp_path / "m.onnx", "onnx", "torchscript")
    assert res["max_abs_diff"] < 1e-4 and (tmp_path / "m.onnx").stat().st_size > 1000


def test_a_failed_check_writes_nothing(tmp_path, monkeypatch):
    run = untrained_run_model("squeezenet1_1", in_chans=1, num_classes=2, input_size=16)
    monkeypatch.setattr(export_mod, "TOLERANCE", -1.0)  # every difference, even 0, is now too large
    with pytest.raises(MedtrainError, match="differs from PyTorch"):
        export_mod.export_model(run, tmp_path / "m.onnx", "onnx", "torchscript")
    assert not (tmp_path / "m.onnx").exists()


def test_a_colour_space_without_onnx_form_is_refused_before_exporting(tmp_path):
    run = untrained_run_model("squeezenet1_1", in_chans=3, num_classes=2, input_size=16, color_space="lch")
    with pytest.raises(MedtrainError, match="colour space lch cannot be exported to ONNX"):
        export_mod.export_model(run, tmp_path / "m.onnx", "onnx", "dynamo")
    assert not (tmp_path / "m.onnx").exists()


def test_not_a_run_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a finished run" in err


@pytest.mark.parametrize("argv, message", [
    (["--format", "torchscript", "--exporter", "dynamo"], "--exporter chooses the ONNX exporter"),
    (["--format", "onnx", "--out", "m.pt"], "an ONNX file is named *.onnx"),
])
def test_export_options_that_would_be_ignored_or_mislead_are_refused(trained_run, tmp_path, capsys, argv, message):
    run, _, _ = trained_run
    argv = [a if a != "m.pt" else str(tmp_path / "m.pt") for a in argv]
    assert main(["export", str(run), *argv]) == 2
    assert message in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_volume_metadata_names_the_pad_value_and_the_window_numbers():
    # a deployer zero-padded as the text said (medtrain pads with the volume's minimum): 0.0195 off; and
    # "(level, width) = abdomen HU" gave no numbers
    run = untrained_run_model("med3d_resnet10", in_chans=1, num_classes=2, input_size=16, spatial_dims=3)
    run = RunModel(run.module, dataclasses.replace(run.cfg, spacing=2.0, window="abdomen"), run.meta)
    steps = " ".join(export_mod.preprocessing(run)["before_the_graph"])
    assert "pad with the volume's minimum" in steps and "zero" not in steps and "(40.0, 400.0) HU" in steps


def test_train_help_gives_every_window_preset_its_numbers():
    from medtrain.config.descriptions import DESCRIPTIONS as HELP
    from medtrain.data.intensity import WINDOW_PRESETS

    for name, (level, width) in WINDOW_PRESETS.items():
        assert f"{name} {level:g},{width:g}" in HELP["window"]


def test_exporting_an_mc_dropout_run_says_the_file_is_one_pass(tmp_path, capsys):
    # the file is one deterministic pass; said only in its metadata, 5 of 156 decisions had differed unnoticed
    import medtrain
    from conftest import fast_config, make_npz

    run = tmp_path / "mc"
    # the choices made on validation pinned (tests/training/test_choices.py): with MC dropout each of their
    # scorings is 3 passes (6 with the flipped view), and the note depends on neither; a third of tiny_npz's
    # images (the note depends on no number the run learned)
    data = make_npz(tmp_path / "small.npz", sizes=(32, 16, 16))
    medtrain.train(fast_config(data, run, epochs=1, dropout=0.3, mc_dropout=3, bootstrap=0, tta="none",
                               class_weights="true"), verbose=False)
    assert main(["export", str(run), "--format", "torchscript"]) == 0
    err = capsys.readouterr().err
    assert "MC dropout (3 passes averaged)" in err and "differ from medtrain predict" in err
