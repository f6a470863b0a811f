"""A linear-probe run records in ``metrics.json`` what computed its codes, ``device`` and ``precision``, as every
run does (README: "`device` ... and `precision` (also in the printed summary)"); a probe run had recorded neither.
The codes are float32 on the frozen network's device, whatever ``--precision`` says (no autocast)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from medtrain.api import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import fast_config, make_images  # noqa: E402


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A grey 16x16 two-class dataset and a 1-epoch source run A trained on it."""
    root = tmp_path_factory.mktemp("probe_device")
    arrays = {}
    for split, n, seed in (("train", 96, 0), ("val", 32, 1), ("test", 32, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, channels=1, seed=seed)
    np.savez(root / "grey.npz", **arrays)
    train(fast_config(root / "grey.npz", root / "A", epochs=1), verbose=False)
    return root


@pytest.mark.parametrize("asked", ["32-true", "bf16-mixed"])
def test_a_probe_run_records_the_device_and_precision_its_codes_were_computed_with(source, tmp_path, capsys, asked):
    out = tmp_path / "P"
    m = train(fast_config(source / "grey.npz", out, transfer="linear-probe", pretrained=str(source / "A"),
                          precision=asked), verbose=True)
    recorded = json.loads((out / "metrics.json").read_text())
    assert recorded["device"] == "cpu" == m["device"]  # the frozen network's device (accelerator cpu)
    assert recorded["precision"] == "32-true" == m["precision"]  # float32 codes, whatever was asked
    # and said in the printed summary, as a trained run's "on cpu, bf16-mixed"
    assert any(line.startswith("linear probe (") and " on cpu, 32-true" in line
               for line in capsys.readouterr().out.splitlines())


def test_a_network_on_another_device_or_type_is_recorded_as_it_is():
    import torch
    from torch import nn

    from medtrain.training.probe import extraction_device

    assert extraction_device(nn.Linear(2, 2)) == ("cpu", "32-true")
    assert extraction_device(nn.Linear(2, 2).to(torch.bfloat16)) == ("cpu", "bf16-true")
    if torch.cuda.is_available():
        assert extraction_device(nn.Linear(2, 2).cuda()) == (torch.cuda.get_device_name(0), "32-true")
