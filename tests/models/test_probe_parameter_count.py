"""A linear probe's parameter count (``metrics.json["parameters"]``, ``medtrain cost``) is the network as it computes:
the frozen source up to the codes it reads and the probe's own linear layer, not the source's classifier (nor, for a
probe of an earlier stage, the stages after it) that the probe network carries unused."""
import torch
from torch import nn

from medtrain.models import create_model
from medtrain.models.cost import count_cost, count_parameters
from medtrain.training.network import ProbeModel


def _n(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _probe(layer: int, features: int):
    torch.manual_seed(0)
    source = create_model("resnet18_28_half", 1, 2, input_size=28)
    return source, ProbeModel(source, layer, torch.zeros(3, features), torch.zeros(3))


def test_a_probe_of_the_pooled_codes_counts_the_source_without_its_classifier():
    source, probe = _probe(-1, 256)
    counted = count_parameters(probe)
    assert counted == {"total": _n(source) - _n(source.fc) + 256 * 3 + 3, "trainable": 256 * 3 + 3}
    report = count_cost(probe, 28, 1)
    assert report.params == counted["total"]
    bn = sum(_n(m) for m in source.modules() if isinstance(m, nn.BatchNorm2d))
    assert report.params - sum(layer.params for layer in report.layers) == bn  # "normalisation and other layers"


def test_a_probe_of_an_earlier_stage_counts_the_stages_it_runs():
    source, probe = _probe(1, 32)  # stem and layer1
    used = _n(source.conv1) + _n(source.bn1) + _n(source.layer1)
    assert count_parameters(probe)["total"] == used + 32 * 3 + 3
    assert count_parameters(source)["total"] == _n(source)  # any other network: every parameter
