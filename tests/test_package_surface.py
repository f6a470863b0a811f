"""What a notebook user learns of ``medtrain`` from ``help()``, signatures and tab completion alone: the top-level
wrappers take exactly the parameters of the functions they call (``medtrain.train(..., idle_settings=True)`` had
been a TypeError, ``medtrain.create_model`` showed ``(*args, **kwargs)``), ``help(medtrain.train)`` says what
the call returns and raises, and the error classes and ``medtrain.errors`` are reachable from ``medtrain``
without importing torch."""
from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import medtrain
from medtrain import api, predictor
from medtrain.models import factory

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("public, implementation", [(medtrain.train, api.train), (medtrain.evaluate, api.evaluate),
                                                    (medtrain.load, predictor.load),
                                                    (medtrain.create_model, factory.create_model)],
                         ids=["train", "evaluate", "load", "create_model"])
def test_the_wrappers_take_the_parameters_of_what_they_call(public, implementation):
    # names, kinds (keyword-only), defaults and annotations, as help() and tab completion show them
    assert inspect.signature(public).parameters == inspect.signature(implementation).parameters


def test_create_model_shows_its_parameters():
    assert list(inspect.signature(medtrain.create_model).parameters)[:3] == ["name", "in_chans", "num_classes"]


def test_help_of_train_says_what_it_returns_and_raises():
    doc = medtrain.train.__doc__
    for said in ("run_dir", "(images, labels)", "runs/", "returned as it is, not trained", "TrainingInterrupted",
                 "KeyboardInterrupt", "TrainingDiverged", "MedtrainError", "idle_settings"):
        assert said in doc, said


def test_help_of_train_names_exactly_the_settings_a_resume_may_change():
    # the docstring lists reuse.RESUMABLE_KEYS by hand; a key added there (or dropped) must show in help() too
    from medtrain.reuse import RESUMABLE_KEYS

    doc = " ".join(medtrain.train.__doc__.split())
    said = re.search(r"they must equal the run's own, except (.*?)\.(?:\s|$)", doc)
    assert said, "help(medtrain.train) no longer says which settings a resume may change"
    assert re.findall(r"``(\w+)``", said.group(1)) == list(RESUMABLE_KEYS), said.group(1)


def test_help_of_the_package_names_its_entry_points_and_they_exist():
    doc = medtrain.__doc__
    for dotted in ("medtrain.compare.compare", "medtrain.tune.tune", "medtrain.export.export_run",
                   "medtrain.explain.explain"):
        assert dotted in doc, dotted
        module, name = dotted.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), dotted
    for name in ("train", "evaluate", "load", "create_model", "list_models", "Config", "MedtrainError",
                 "TrainingInterrupted", "TrainingDiverged"):
        assert name in doc and hasattr(medtrain, name), name


@pytest.mark.parametrize("call", [medtrain.train, api.train], ids=["medtrain.train", "api.train"])
def test_a_positional_flag_is_refused_at_the_call(tmp_path, call):
    # medtrain.train(cfg, True) had been resume=True, a TypeError eight frames deep in pathlib
    with pytest.raises(TypeError, match=r"takes from 0 to 1 positional arguments but 2 were given"):
        call({"out": str(tmp_path / "run")}, True)
    assert not (tmp_path / "run").exists()


def test_errors_are_reachable_from_the_package_without_torch(tmp_path):
    script = """
        import sys
        import medtrain

        offered = [n for n in ("errors", "TrainingInterrupted", "TrainingDiverged") if n not in dir(medtrain)]
        errors = medtrain.errors
        same = (medtrain.TrainingInterrupted is errors.TrainingInterrupted
                and medtrain.TrainingDiverged is errors.TrainingDiverged
                and medtrain.MedtrainError is errors.MedtrainError)
        kinds = issubclass(medtrain.TrainingInterrupted, KeyboardInterrupt), issubclass(medtrain.TrainingDiverged,
                                                                                       medtrain.MedtrainError)
        exported = [n for n in ("TrainingInterrupted", "TrainingDiverged") if n not in medtrain.__all__]
        print(offered, errors.__name__, same, kinds, exported, [m for m in ("torch", "numpy") if m in sys.modules])
        """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert (p.stdout, p.stderr) == ("[] medtrain.errors True (True, True) [] []\n", "")
