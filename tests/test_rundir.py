"""What a run records about its data for the report: class balance per split and patient groups."""
from __future__ import annotations

import pytest
import torch

from medtrain.data.base import Split, Splits
from medtrain.errors import MedtrainError
from medtrain.rundir import data_summary, read_config


def _split(labels) -> Split:
    labels = torch.as_tensor(labels)
    return Split(torch.zeros(len(labels), 1, 4, 4, dtype=torch.uint8), labels)


def test_class_balance_per_split_counts_every_class_even_an_absent_one():
    s = Splits("x", "multi-class", {"0": "a", "1": "b", "2": "c"}, _split([0, 0, 1, 2]), _split([1, 1]),
               _split([0, 2, 2]), source="x.csv")
    d = data_summary(s)
    assert d["classes"] == ["a", "b", "c"] and d["shape"] == [1, 4, 4] and d["source"] == "x.csv"
    assert [(r["name"], r["n"], r["counts"]) for r in d["splits"]] == [
        ("train", 4, [2, 1, 1]), ("val", 2, [0, 2, 0]), ("test", 3, [1, 0, 2])]
    assert "groups" not in d


def test_multilabel_counts_are_images_carrying_each_label():
    y = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    d = data_summary(Splits("m", "multi-label, binary-class", {"0": "a", "1": "b"}, _split(y), _split(y), _split(y)))
    assert d["splits"][0]["counts"] == [2, 1] and d["splits"][0]["n"] == 3


def test_groups_seen_in_two_splits_are_counted():
    s = Splits("x", "binary-class", {"0": "a", "1": "b"}, _split([0, 1, 0]), _split([1]), _split([0, 1]),
               extra={"groups": {"train": ["p1", "p1", "p2"], "val": ["p3"], "test": ["p2", "p4"]}})
    d = data_summary(s)
    assert d["groups"] == {"train": 2, "val": 1, "test": 2}
    assert d["shared_groups"] == 1  # p2 is in train and test


@pytest.mark.parametrize("content, message", [(b"\xad\xff\x00", "not UTF-8 text"), (b"lr: [1e-3", "not valid YAML"),
                                              (b"- a list", "does not hold a mapping")])
def test_a_damaged_run_config_is_named_in_one_error_not_a_traceback(tmp_path, content, message):
    (tmp_path / "config.yaml").write_bytes(content)
    with pytest.raises(MedtrainError, match=message):
        read_config(tmp_path)
