"""Transfer learning's advisor: how large the target is and how similar to the source's data, and which
strategy that suggests (``medtrain advise``).

The pieces it builds on live in their layers: sources (run directories, weight files, hub weights) in
:mod:`medtrain.models.pretrained`, stages in :mod:`medtrain.models.stages`, strategy names and their
checks in :mod:`medtrain.config`, the strategies themselves in :mod:`medtrain.training.transfer` and the
linear probe in :mod:`medtrain.training.probe`.
"""
from medtrain.transfer.advisor import Advice, advise, transfer_table, verify

__all__ = ["Advice", "advise", "transfer_table", "verify"]
