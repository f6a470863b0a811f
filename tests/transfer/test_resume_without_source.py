"""An interrupted fine-tune resumes from its own checkpoint, which holds every weight, without its source model:
the source folder may have been moved or deleted since the run started (a user walkthrough: `--resume ft` had
failed with "pretrained: .../src is neither a run directory ...", and `--pretrained src2` was refused)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

import medtrain
from medtrain.errors import TrainingInterrupted
from medtrain.models.weights import load_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import InterruptAt, fast_config, make_npz  # noqa: E402

EPOCHS = 3


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A grey source run (1 epoch) and an RGB target set: the plan adapts the first convolution (1->3)."""
    root = tmp_path_factory.mktemp("resume_without_source")
    make_npz(root / "grey.npz")
    make_npz(root / "rgb.npz", channels=3)
    medtrain.train(fast_config(root / "grey.npz", root / "A", epochs=1), verbose=False)
    return root


def _fine_tune(data, src, out, **kw):
    return fast_config(data / "rgb.npz", out, epochs=EPOCHS, pretrained=str(src), checkpoint="last", **kw)


def _interrupted(data, src, out, **kw):
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(_fine_tune(data, src, out, **kw), verbose=False, callbacks=[InterruptAt(1)])
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0  # after epoch 1


STRATEGIES = {"finetune-top:1, gradual unfreezing": dict(transfer="finetune-top:1", unfreeze_every=1),
              "partial:2, backbone lr x0.5": dict(transfer="partial:2", backbone_lr_mult=0.5),
              "scale": dict(transfer="scale")}


@pytest.mark.parametrize("kw", STRATEGIES.values(), ids=STRATEGIES.keys())
def test_an_interrupted_fine_tune_resumes_after_its_source_moved_and_equals_the_uninterrupted_one(data, tmp_path,
                                                                                                kw):
    src = tmp_path / "src"
    shutil.copytree(data / "A", src)
    straight = medtrain.train(_fine_tune(data, src, tmp_path / "straight", **kw), verbose=False)
    cut = tmp_path / "cut"
    _interrupted(data, src, cut, **kw)
    src.rename(tmp_path / "src2")  # the source moved away: nothing is left at the path the run recorded

    resumed = medtrain.train({"progress": False}, resume=cut, verbose=False)

    assert [h["val_loss"] for h in resumed["history"]] == pytest.approx([h["val_loss"] for h in straight["history"]],
                                                                        abs=1e-6)
    assert [h.get("trainable_stages") for h in resumed["history"]] == \
        [h.get("trainable_stages") for h in straight["history"]]  # the frozen stages unfrozen on the same epochs
    assert resumed["test"]["acc"] == straight["test"]["acc"]
    a, b = load_state(tmp_path / "straight" / "model.safetensors"), load_state(cut / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a), "the same weights"
    # the transfer the run records is the one it started with: its source (by the path it had), the first
    # convolution's adaptation, what was copied, frozen or re-drawn
    assert resumed["transfer"] == straight["transfer"]
    assert resumed["transfer"]["source"] == f"run {src}" and resumed["transfer"]["first_conv"] == "1->3 (repeat/3)"
    assert json.loads((cut / "metrics.json").read_text())["transfer"] == straight["transfer"]


def test_a_fresh_fine_tune_from_a_missing_source_is_still_refused_and_leaves_nothing(data, tmp_path, capsys,
                                                                                      monkeypatch):
    import medtrain.api

    monkeypatch.setattr(medtrain.api, "load_splits", lambda *a: pytest.fail("the data were read"))
    with pytest.raises(medtrain.MedtrainError, match=r"pretrained: .*nowhere is neither a run directory"):
        medtrain.train(_fine_tune(data, tmp_path / "nowhere", tmp_path / "B"), verbose=True)
    assert not (tmp_path / "B").exists()
    # refused before the data are read: no first line naming a run that is never made (a transfer walk)
    assert capsys.readouterr().out == ""


def test_a_checkpoint_that_records_no_transfer_names_the_missing_source(data, tmp_path):
    """A checkpoint of an older medtrain does not record the transfer plan: with its source in place the run
    resumes; with the source gone, one line names the source and says to put it back."""
    src, cut = tmp_path / "src", tmp_path / "cut"
    shutil.copytree(data / "A", src)
    _interrupted(data, src, cut, transfer="finetune-top:1")
    last = cut / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    recorded = [k for k in state["callbacks"] if "TransferRecord" in k]
    assert recorded, "the transfer plan is recorded in the checkpoint"
    for k in recorded:
        del state["callbacks"][k]
    torch.save(state, last)
    src.rename(tmp_path / "src2")
    with pytest.raises(medtrain.MedtrainError, match=rf"{src}.*no longer there.*put it back") as e:
        medtrain.train({"progress": False}, resume=cut, verbose=False)
    assert "\n" not in str(e.value)
    (tmp_path / "src2").rename(src)
    m = medtrain.train({"progress": False}, resume=cut, verbose=False)
    assert m["transfer"]["source"] == f"run {src}" and m["transfer"]["frozen"] == ["stem", "layer1", "layer2", "layer3"]
