"""A run saved by an older medtrain with annealed dropout and MC dropout (``dropout_kind: annealed``,
``mc_dropout: 2``, the rate reaching 0 before the last epoch) stays usable: ``eval`` of it had exited 2 with
"mc_dropout with annealed dropout samples nothing ...", naming flags nobody typed. A new ``train`` given those
flags is still refused in one line, exit 2, before anything is written."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import fast_config, make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def older_run(tmp_path_factory):
    """A finished 1-epoch annealed-dropout run whose config.yaml records ``mc_dropout: 2``, as an older medtrain
    wrote it (it trained such runs: anneal_epochs unset, so the rate reached 0 by epoch epochs - 1)."""
    import medtrain

    root = tmp_path_factory.mktemp("annealed")
    data = make_npz(root / "tiny.npz", sizes=(48, 16, 16))
    run = root / "run"
    medtrain.train(fast_config(data, run, epochs=1, bootstrap=0, dropout=0.5, dropout_kind="annealed",
                               tta="none", class_weights="false"), verbose=False)
    path = run / "config.yaml"
    lines = path.read_text().splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith("mc_dropout:")]
    assert len(at) == 1
    lines[at[0]] = "mc_dropout: 2"
    path.write_text("\n".join(lines) + "\n")
    return run, data


def test_a_saved_config_with_annealed_mc_dropout_resolves():
    from medtrain.config import check_read, resolve
    from medtrain.errors import MedtrainError

    saved = {"dataset": "breastmnist", "dropout": 0.5, "dropout_kind": "annealed", "mc_dropout": 2, "epochs": 3}
    cfg = resolve(saved)  # a saved run's config.yaml: loadable
    assert (cfg.dropout_kind, cfg.mc_dropout, cfg.anneal_epochs) == ("annealed", 2, None)
    check_read(cfg, {})  # nothing typed: a compare cell's saved config stays trainable as before
    for typed in ({"mc_dropout": 2}, {"epochs": 3}, {"dropout_kind": "annealed"}, {"anneal_epochs": 2}):
        with pytest.raises(MedtrainError, match="samples nothing once its rate reaches 0"):
            check_read(resolve(saved, typed), typed)
    check_read(resolve(saved, {"anneal_epochs": 3}), {"anneal_epochs": 3})  # annealed to 0 only after the end


def test_an_older_annealed_mc_dropout_run_is_evaluated(older_run, tmp_path, capsys):
    run, _ = older_run
    old = tmp_path / "old"
    shutil.copytree(run, old)
    code, _, err = run_cli(capsys, "eval", old)
    assert code == 0, err
    assert "samples nothing" not in err
    assert json.loads((old / "eval_test.json").read_text())["n"] == 16


def test_a_new_run_typed_with_annealed_mc_dropout_is_refused_in_one_line(tmp_path, capsys):
    data = make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16))
    code, _, err = run_cli(capsys, "train", "--data", data, "--dropout", "0.5", "--dropout-kind", "annealed",
                           "--mc-dropout", "2", "--epochs", "3", "--out", tmp_path / "new")
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "samples nothing once its rate reaches 0" in err
    assert not (tmp_path / "new").exists()
