"""Names the reports show, in one place and without matplotlib (a search's report, :mod:`medtrain.tune.report`,
names its metric as the learning curve does, and imports this without drawing anything): the monitored metrics'
labels, and a run's class (multi-label: label) names in index order."""
from __future__ import annotations

#: how a figure or table names a monitored metric (``--monitor``, ``--early-stop``); another key is shown as it is
METRIC_NAMES = {"val_auc": "val AUC", "val_acc": "val ACC", "val_loss": "val loss"}


def metric_name(key: str) -> str:
    """The label of a monitored metric (:data:`METRIC_NAMES`), or the key itself."""
    return METRIC_NAMES.get(key, key)



def class_names(label_names: dict, count: int | None = None) -> list[str]:
    """The names of classes ``0 .. count - 1`` (``count``: as many as ``label_names`` holds) as text, from a run's
    ``label_names`` (``{"0": name, ...}``, as its data and its weights' metadata hold them); a class it does not
    name is shown by its index."""
    n = len(label_names) if count is None else count
    return [str(label_names.get(str(i), i)) for i in range(n)]
