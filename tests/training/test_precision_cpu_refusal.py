"""--precision 16-mixed on a CPU is refused in one line: Lightning had trained such a run in bf16-mixed, with a raw
line of its own, while the run's stdout, config.yaml, metrics.json and report said 16-mixed (a bad-input walk)."""
import pytest
from conftest import run_cli

from medtrain import config as config_mod
from medtrain.errors import MedtrainError
from medtrain.training.build import trainer_precision

LINE = ("medtrain: error: --precision 16-mixed (float16 autocast) needs a GPU (CUDA or Apple MPS); on a CPU use "
        "bf16-mixed, 32-true or auto")


def test_train_refuses_it_on_the_cpu_and_leaves_no_run_folder(tiny_npz, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "--data", tiny_npz, "--epochs", "1", "--flip", "true",
                                "--bootstrap", "0", "--no-progress", "--accelerator", "cpu",
                                "--precision", "16-mixed", "--out", out)
    assert code == 2 and err.strip().splitlines() == [LINE]
    assert not out.exists()


@pytest.mark.parametrize("accelerator", ["cpu", "auto"])
def test_the_rule_refuses_the_cpu_and_keeps_the_gpu_s_16_mixed(monkeypatch, accelerator):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("torch.backends.mps.is_available", lambda: False)
    with pytest.raises(MedtrainError, match=r"needs a GPU \(CUDA or Apple MPS\)"):
        trainer_precision(config_mod.resolve({"precision": "16-mixed", "accelerator": accelerator}))
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    gpu = "gpu" if accelerator == "cpu" else "auto"
    assert trainer_precision(config_mod.resolve({"precision": "16-mixed", "accelerator": gpu})) == "16-mixed"


def test_auto_on_a_mac_s_gpu_keeps_it(monkeypatch):
    """Lightning runs 16-mixed on Apple's MPS: auto there is no CPU."""
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("torch.backends.mps.is_available", lambda: True)
    assert trainer_precision(config_mod.resolve({"precision": "16-mixed", "accelerator": "auto"})) == "16-mixed"
