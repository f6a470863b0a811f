"""A run with a source records which weights it started from, not only their path: the SHA-256 of the file read
(a run's model.safetensors, a weights file, a MedicalNet .pth), and for a source run the data it trained on, its
seed and the medtrain that trained it; its report.html has a Transfer section saying it (a walkthrough found only
``"source": "run runs/srcP"``: retraining runs/srcP left the target unable to say which weights it used)."""
from __future__ import annotations

import hashlib
import json

import pytest
import torch

import medtrain
from conftest import HtmlTables, fast_config
from medtrain.config import Config
from medtrain.errors import MedtrainError
from medtrain.models import create_model, med3d
from medtrain.models.weights import save_weights
from medtrain.training.transfer import apply_transfer

#: the keys the transfer block had before it recorded the source's identity: kept as they were
KEPT = {"strategy", "source", "stages", "copied", "frozen", "redrawn", "random", "head", "first_conv", "lr_mult",
        "unfreeze_every", "copied_tensors", "inflated_2d"}


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_fine_tune_records_its_source_runs_weights_digest_data_and_version(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    src, out = tmp_path / "src", tmp_path / "ft"
    medtrain.train(fast_config(tiny_npz, src, epochs=1, bootstrap=0, seed=3), verbose=False)
    m = medtrain.train(fast_config(tiny_npz, out, epochs=1, bootstrap=0, pretrained=str(src),
                                   transfer="finetune-top:1"), verbose=False)
    tr = m["transfer"]
    source = json.loads((src / "metrics.json").read_text())
    assert KEPT <= set(tr) and tr["source"] == f"run {src}" and tr["strategy"] == "finetune-top:1"
    assert tr["source_sha256"] == _sha256(src / "model.safetensors")
    assert tr["source_file"] == str(src / "model.safetensors")
    assert tr["source_dataset"] == source["dataset"] == "tiny"
    assert tr["source_data"] == source["data"]["source"]
    assert tr["source_seed"] == 3
    assert tr["source_medtrain"] == source["provenance"]["medtrain"]

    page = (out / "report.html").read_text()
    assert "<h2>Transfer</h2>" in page
    rows = {r[0]: r[1] for t in HtmlTables(page).tables for r in t if len(r) == 2}
    assert rows["strategy"] == "finetune-top:1"
    assert tr["source_sha256"][:12] in rows["source"] and f"run {src}" in rows["source"]
    assert "tiny" in rows["source trained on"] and "seed 3" in rows["source trained on"]
    assert rows["copied from the source"].startswith("stem, layer1, layer2, layer3, layer4")
    assert rows["frozen"] == "stem, layer1, layer2, layer3"
    assert rows["head"].startswith("new fc") and rows["first convolution"].startswith("kept")

    # the same command again is the finished run while the source holds the same weights; retrained (other weights
    # under the same name), the old transfer had been returned "already finished (same settings)" (a walk)
    again = fast_config(tiny_npz, out, epochs=1, bootstrap=0, pretrained=str(src), transfer="finetune-top:1")
    assert medtrain.train(again, verbose=False)["transfer"]["source_sha256"] == tr["source_sha256"]
    torch.manual_seed(1)
    save_weights(create_model("resnet10_28_half", in_chans=1, num_classes=2), src / "model.safetensors",
                 {"model": "resnet10_28_half"})
    with pytest.raises(MedtrainError, match=rf"^{out} is finished with these settings but was trained from other "
                                            rf"weights of {src} \(.*sha256 {tr['source_sha256'][:12]}\.\.\. then"):
        medtrain.train(again, verbose=False)


def test_a_weights_file_and_a_medicalnet_source_record_the_digest_of_the_file_read(tmp_path, monkeypatch):
    torch.manual_seed(0)
    a = create_model("resnet10_28_half", in_chans=1, num_classes=2)
    w = tmp_path / "a.safetensors"
    save_weights(a, w, {"model": "resnet10_28_half"})
    plan = apply_transfer(create_model("resnet10_28_half", in_chans=1, num_classes=2),
                          Config(model="resnet10_28_half", pretrained=str(w), transfer="finetune"))
    assert plan.to_dict()["source_sha256"] == _sha256(w) and plan.source_file == str(w)
    assert plan.source_dataset is None and plan.source_seed is None  # a file says nothing of its training

    cache = tmp_path / "cache"
    (cache / "weights").mkdir(parents=True)
    ref = med3d.build_resnet3d(10, 1, 2, small_input=False)
    pth = cache / "weights" / "resnet_10.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items() if not k.startswith("fc.")}},
               pth)
    monkeypatch.setattr(med3d, "_download", lambda url, dest: (_ for _ in ()).throw(AssertionError(url)))
    plan = apply_transfer(create_model("med3d_resnet10", num_classes=2, in_chans=1),
                          Config(model="med3d_resnet10", pretrained="medicalnet:10", transfer="finetune-top:0",
                                 data_dir=str(cache)))
    assert plan.source == "medicalnet:10"
    assert plan.source_sha256 == _sha256(pth) and plan.source_file == str(pth)


def test_a_source_run_of_another_colour_space_is_said_and_recorded(tmp_path):
    """A walk's linear probe fed an HSV-trained network's frozen stages RGB images without a word, and the record did
    not say what the source learned from."""
    import warnings

    from medtrain import rundir
    from medtrain.training.transfer import ColorSpaceMismatchWarning

    src = tmp_path / "src"  # a model handed on alone: its weights and config.yaml
    src.mkdir()
    save_weights(create_model("resnet10_28_half", in_chans=3, num_classes=2), src / "model.safetensors",
                 {"model": "resnet10_28_half"})
    rundir.write_config(src, Config(model="resnet10_28_half", color_space="hsv"))
    for space, said in (("rgb", True), ("hsv", False)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = apply_transfer(create_model("resnet10_28_half", in_chans=3, num_classes=2),
                                  Config(model="resnet10_28_half", pretrained=str(src), transfer="linear-probe",
                                         color_space=space))
        assert plan.to_dict()["source_color_space"] == "hsv"
        lines = [str(w.message) for w in caught if issubclass(w.category, ColorSpaceMismatchWarning)]
        assert lines == ([f"the source run {src} learned from hsv inputs and this run gives its copied stages rgb ones "
                          "(--color-space rgb), which they did not learn from; --color-space hsv gives them the "
                          "source's"] if said else [])
