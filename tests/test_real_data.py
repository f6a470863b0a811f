"""A short real run of the default recipe on PneumoniaMNIST from ../shared/data."""
import json

import pytest

import medtrain


@pytest.mark.real
def test_default_recipe_learns_pneumonia_in_two_epochs(real_data, tmp_path):
    m = medtrain.train({"dataset": "pneumoniamnist", "data_dir": str(real_data), "epochs": 2, "progress": False,
                        "bootstrap": 100, "out": str(tmp_path / "run")}, verbose=False)
    assert m["sizes"] == {"train": 4708, "val": 524, "test": 624} and m["model"] == "resnet18_28_half"
    assert m["val"]["auc"] > 0.90 and m["test"]["auc"] > 0.85
    assert m["test"]["auc_ci"][0] < m["test"]["auc"] < m["test"]["auc_ci"][1]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["test"]["acc"] == m["test"]["acc"]
