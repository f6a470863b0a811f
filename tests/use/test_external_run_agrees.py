"""``evaluate_external(run_dir, data, run=...)``: ``run`` is the run of ``run_dir`` already loaded (``medtrain eval
--data`` loads it once, for its note on squashed inputs too). A run loaded from another folder had been scored and
its scores written into ``run_dir``'s eval_external file, its images checked against ``run_dir``'s data: a report
mixing two runs. It is refused in one line, nothing written."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from medtrain.errors import MedtrainError
from medtrain.external import evaluate_external, external_file
from medtrain.runmodel import load_run_module


@pytest.fixture(scope="module")
def two_runs(trained_run, tmp_path_factory):
    """The shared 1-epoch run, and another run of the same data: its copy with another seed and no TTA in its
    config.yaml (loaded as a run of those settings; no second training)."""
    run, data, _ = trained_run
    other = tmp_path_factory.mktemp("other") / "run"
    shutil.copytree(run, other)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg.update(seed=cfg["seed"] + 1, tta="none")
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run, other, data


def test_a_run_loaded_from_another_folder_is_refused_and_nothing_is_written(two_runs):
    run, other, data = two_runs
    written = run / external_file(data)  # the shared run: another test may have scored it on these images already
    before = (written.read_bytes(), written.stat().st_mtime_ns) if written.exists() else None
    with pytest.raises(MedtrainError) as e:
        evaluate_external(run, data, verbose=False, run=load_run_module(other))
    said = str(e.value)
    assert "\n" not in said and f"run was not loaded from {run}" in said and "settings" in said, said
    assert ((written.read_bytes(), written.stat().st_mtime_ns) if written.exists() else None) == before  # unwritten
    with pytest.raises(MedtrainError, match="not a str"):
        evaluate_external(run, data, verbose=False, run=str(other))


def test_the_run_of_its_folder_scores_as_loading_it_again_does(two_runs, tmp_path):
    run, _, data = two_runs
    given = evaluate_external(run, data, verbose=False, run=load_run_module(run))
    alone = evaluate_external(run, data, verbose=False)
    assert given["n"] == alone["n"] == 40 and np.isclose(given["auc"], alone["auc"])
    linked = tmp_path / "link"  # the same folder reached by a link: the same run
    linked.symlink_to(run, target_is_directory=True)
    assert np.isclose(evaluate_external(linked, data, verbose=False, run=load_run_module(run))["auc"], alone["auc"])
