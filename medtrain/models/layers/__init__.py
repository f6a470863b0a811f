"""The dropout family: layers that regularise by noise, and test-time uncertainty from them.

One module per method:

* ``nn.Dropout`` (Srivastava et al., JMLR 2014) is used as is: inverted dropout, kept units scaled by
  ``1 / (1 - p)`` during training, so evaluation uses the network unchanged.
* :class:`DropConnectLinear` drops weights instead of units (Wan et al., ICML 2013).
* :class:`AnnealedDropout` lowers its rate to 0 over training (Rennie et al., SLT 2014); the training
  loop calls :func:`set_dropout_epoch` each epoch.
* :class:`StandoutLinear` / :class:`Standout`: input-dependent keep probabilities (Ba & Frey, NIPS 2013).
* :class:`Maxout` units (Goodfellow et al., ICML 2013), designed to be trained with dropout.
* :func:`mc_predict` / :func:`uncertainty_report`: MC dropout at test time (Gal & Ghahramani, ICML 2016).

Spatial dropout (``nn.Dropout2d``), DropBlock (timm) and stochastic depth (``create_model(drop_path=)``)
are reached by name through ``medtrain.models.heads.make_dropout`` and the model factory.
"""
from medtrain.models.layers.annealed import SCHEDULES, AnnealedDropout, annealed_rate, set_dropout_epoch
from medtrain.models.layers.dropconnect import DropConnectLinear
from medtrain.models.layers.maxout import Maxout
from medtrain.models.layers.mc_dropout import (
    MC_DROPOUT_TYPES,
    MCPrediction,
    mc_dropout_mode,
    mc_predict,
    predictive_entropy,
    uncertainty_report,
)
from medtrain.models.layers.standout import Standout, StandoutLinear, beta_for_rate

__all__ = [
    "AnnealedDropout",
    "DropConnectLinear",
    "MCPrediction",
    "MC_DROPOUT_TYPES",
    "Maxout",
    "SCHEDULES",
    "Standout",
    "StandoutLinear",
    "annealed_rate",
    "beta_for_rate",
    "mc_dropout_mode",
    "mc_predict",
    "predictive_entropy",
    "set_dropout_epoch",
    "uncertainty_report",
]
