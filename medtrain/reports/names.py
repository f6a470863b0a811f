"""Names the reports show, in one place and without matplotlib (a search's report, :mod:`medtrain.tune.report`,
names its metric as the learning curve does, and imports this without drawing anything): the monitored metrics'
labels."""
from __future__ import annotations

__all__ = ["METRIC_NAMES", "metric_name"]

#: how a figure or table names a monitored metric (``--monitor``, ``--early-stop``); another key is shown as it is
METRIC_NAMES = {"val_auc": "val AUC", "val_acc": "val ACC", "val_loss": "val loss"}


def metric_name(key: str) -> str:
    """The label of a monitored metric (:data:`METRIC_NAMES`), or the key itself."""
    return METRIC_NAMES.get(key, key)

