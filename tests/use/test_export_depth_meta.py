"""What an exported file says of the bit depth of the run's training images: ``medtrain predict`` refuses an image
file of another depth (tests/test_predict_bit_depth.py), and the file's metadata carry the depth (``image_depth``)
and follow it. An 8-bit run's file had told its user, with no depth named, to stretch grey images of more than 8 bits
between their own percentiles (``more_than_8_bit``): the very conversion predict refuses for that run, intensities
the network never learned. Its colour step had said "rgb" of a grey network's one channel."""
from __future__ import annotations

import dataclasses
import json

import onnx
import torch

import medtrain.export as export_mod
from medtrain._export_inputs import HIGH_BIT_DEPTH
from medtrain.runmodel import RunModel, load_run_module

STRETCH = "to uint8 by more_than_8_bit"


def _with_depth(run: RunModel, depth) -> RunModel:
    """``run`` as if its weights recorded ``depth`` for its training images."""
    return dataclasses.replace(run, meta={**run.meta, "image_depth": depth})


def test_an_8_bit_run_s_onnx_file_names_its_depth_and_prescribes_no_stretch(trained_run, tmp_path):
    run, _, _ = trained_run  # MedMNIST-layout .npz: uint8 images, read as they are
    export_mod.export_run(run, "onnx", tmp_path / "m.onnx", exporter="torchscript")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    pre = json.loads(props["preprocessing"])
    assert props["image_depth"] == "8-bit" and pre["image_depth"] == "8-bit"
    steps = " ".join(pre["before_the_graph"])
    assert STRETCH not in steps and "more_than_8_bit" not in pre
    assert "trained on 8-bit images" in steps and "medtrain predict refuses it" in steps


def test_an_8_bit_run_s_torchscript_file_names_its_depth(trained_run, tmp_path):
    run, _, _ = trained_run
    export_mod.export_run(run, "torchscript", tmp_path / "m.pt")
    extra = {"medtrain.json": ""}
    torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    described = json.loads(extra["medtrain.json"])
    assert described["image_depth"] == "8-bit" and described["preprocessing"]["image_depth"] == "8-bit"
    assert not any(STRETCH in step for step in described["preprocessing"]["before_the_graph"])


def test_a_deeper_run_s_file_gives_the_stretch_and_says_8_bit_images_are_not_what_it_learned(trained_run):
    run = _with_depth(load_run_module(trained_run[0]), "more than 8 bits")
    pre = export_mod.preprocessing(run)
    step = next(s for s in pre["before_the_graph"] if "more_than_8_bit" in s)
    assert "8-bit image" in step and "not what the network learned" in step
    assert pre["more_than_8_bit"] == HIGH_BIT_DEPTH  # the training images' own rule, stated
    assert export_mod.described(run, "torchscript")["image_depth"] == "more than 8 bits"


def test_a_run_of_mixed_or_unrecorded_depth_keeps_each_file_s_own_rule(trained_run):
    loaded = load_run_module(trained_run[0])
    for depth in ("mixed", None):
        pre = export_mod.preprocessing(_with_depth(loaded, depth))
        assert any(s.startswith("grey images of more than 8 bits per pixel: " + STRETCH)
                   for s in pre["before_the_graph"]) and "more_than_8_bit" in pre
        assert pre["image_depth"] == depth


def test_the_graph_s_colour_step_says_a_grey_network_converts_no_colour(trained_run):
    from medtrain.runmodel import untrained_run_model

    inside = export_mod.preprocessing(load_run_module(trained_run[0]))["inside_the_graph"]
    assert inside["color_space"].startswith("none") and "grey channel" in inside["color_space"]
    lab = untrained_run_model("squeezenet1_1", in_chans=3, num_classes=2, input_size=16, color_space="lab")
    assert export_mod.preprocessing(lab)["inside_the_graph"]["color_space"] == "lab (the graph converts from RGB)"
