"""Transfer learning: reuse a source model A (a medtrain run, a weights file, ImageNet hub weights) on a
target dataset B.

* :mod:`~medtrain.transfer.sources`: read A and fit its weights onto B (1 <-> 3 channels, new head);
* :mod:`~medtrain.transfer.strategies`: scratch, linear-probe, finetune, finetune-top:K, partial:K,
  scale (what is copied, frozen, re-drawn), applied by ``build_model`` when ``--transfer`` is set;
* :mod:`~medtrain.transfer.probe`: the linear classifier on CNN codes (no Lightning loop);
* :mod:`~medtrain.transfer.advisor`: how large and how similar B is to A's data, and which strategy
  that suggests (``medtrain advise``).
"""
from medtrain.transfer.sources import Source, adapt_in_chans, adapt_state_dict, load_source
from medtrain.transfer.strategies import (
    STRATEGIES,
    TransferPlan,
    apply_transfer,
    model_stages,
    parse_transfer,
    transfer_callbacks,
)

__all__ = ["STRATEGIES", "Source", "TransferPlan", "adapt_in_chans", "adapt_state_dict", "apply_transfer",
           "load_source", "model_stages", "parse_transfer", "transfer_callbacks", "train_probe", "advise"]


def __getattr__(name):  # the probe and the advisor pull in scikit-learn/scipy: load them on use
    if name == "train_probe":
        from medtrain.transfer.probe import train_probe

        return train_probe
    if name == "advise":
        from medtrain.transfer.advisor import advise

        return advise
    raise AttributeError(name)
