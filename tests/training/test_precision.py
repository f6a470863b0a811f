"""``precision: auto`` trains in bfloat16 where the hardware computes it natively, and only there."""
from __future__ import annotations

import pytest

import medtrain
from conftest import fast_config
from medtrain.config import resolve
from medtrain.training import build


def test_auto_is_bf16_only_where_bfloat16_is_native(monkeypatch):
    monkeypatch.setattr(build.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(build, "_cpu_has_bf16", lambda: True)
    assert build.trainer_precision(resolve({"accelerator": "cpu"})) == "bf16-mixed"
    monkeypatch.setattr(build, "_cpu_has_bf16", lambda: False)  # emulated bf16 would be slower than float32
    assert build.trainer_precision(resolve({"accelerator": "cpu"})) == "32-true"
    assert build.trainer_precision(resolve({"accelerator": "cpu", "precision": "bf16-mixed"})) == "bf16-mixed"
    assert build.trainer_precision(resolve({"accelerator": "mps"})) == "32-true"


@pytest.mark.skipif(not build._cpu_has_bf16(), reason="this CPU has no native bfloat16")
def test_a_bf16_run_learns_records_its_precision_and_eval_reproduces_it(learnable_npz, tmp_path):
    m = medtrain.train(fast_config(learnable_npz, tmp_path / "r", precision="auto", epochs=2, lr=3e-3, bootstrap=0,
                                   augment=[], tta="none"), verbose=False)
    assert m["precision"] == "bf16-mixed"
    assert m["test"]["auc"] > 0.9
    again = medtrain.evaluate(tmp_path / "r", verbose=False)  # evaluation runs in float32 on the saved weights
    assert again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-9)
