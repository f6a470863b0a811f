"""Every call that loads a finished run refuses a ``run_dir`` that is no path in one MedtrainError line naming
``run_dir``: ``explain(None)``, ``explain(result)`` and ``export_run(result, ...)`` (``result``: what ``train()`` or
``tune()`` returns, which the package docstring says to take ``.run_dir`` of) had ended in pathlib's TypeError, since
only ``medtrain.load`` and ``medtrain.evaluate`` checked it. ``runmodel.load_run_module``, which all of them go
through, checks it now. No run is needed: the argument is refused before anything is read."""
from __future__ import annotations

import pytest

import medtrain
from medtrain.errors import MedtrainError
from medtrain.explain import explain
from medtrain.export import export_run
from medtrain.reuse import RunResult

RESULT = RunResult({"model": "resnet18", "test": {"auc": 0.9}}, "runs/x")  # train()'s result, as a notebook holds it
BEST = {"run_dir": "runs/x", "val_auc": 0.9}  # tune()'s result: best.json's content


@pytest.mark.parametrize("call", [
    lambda: explain(None),
    lambda: explain(123),
    lambda: explain(RESULT),
    lambda: explain(BEST),
    lambda: export_run(None),
    lambda: export_run(RESULT, "onnx"),
    lambda: export_run(BEST, "onnx"),
    lambda: medtrain.load(RESULT),
    lambda: medtrain.evaluate(BEST),
], ids=["explain-None", "explain-int", "explain-result", "explain-tune-dict", "export-None", "export-result",
        "export-tune-dict", "load-result", "evaluate-tune-dict"])
def test_a_run_dir_that_is_no_path_is_one_line_naming_run_dir(call):
    with pytest.raises(MedtrainError) as e:
        call()
    shown = str(e.value)
    assert shown.startswith("run_dir must be the path of a run directory") and "\n" not in shown, shown


@pytest.mark.parametrize("given, pointed", [(RESULT, ".run_dir"), (BEST, "['run_dir']")])
def test_a_result_given_for_its_run_is_pointed_to_its_run_dir(given, pointed):
    for call in (explain, export_run):
        with pytest.raises(MedtrainError) as e:
            call(given)
        assert str(e.value).endswith(pointed), str(e.value)


def test_a_missing_path_is_still_said_to_be_no_run(tmp_path):
    with pytest.raises(MedtrainError, match="is not a finished run directory"):
        export_run(tmp_path / "nosuch")
    with pytest.raises(MedtrainError, match="is not a finished run directory"):
        explain(str(tmp_path))
