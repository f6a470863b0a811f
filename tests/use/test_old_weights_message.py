"""A run an older medtrain trained (model.safetensors metadata without input_size) is named as such, not as a
damaged file listing every metadata key."""
import shutil

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import run_cli


def test_eval_of_a_run_whose_weights_lack_input_size_says_older_medtrain(trained_run, tmp_path, capsys):
    src, _, _ = trained_run
    run = tmp_path / "old_run"
    shutil.copytree(src, run)
    weights = run / "model.safetensors"
    with safe_open(str(weights), framework="pt") as f:
        meta = dict(f.metadata())
    assert "input_size" in meta and "mean" in meta
    del meta["input_size"]
    save_file(load_file(str(weights)), str(weights), metadata=meta)

    code, out, err = run_cli(capsys, "eval", run)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "input_size" in lines[0] and "older medtrain" in lines[0]
    assert "mean" not in lines[0] and "num_classes" not in lines[0]
    assert "Traceback" not in err
