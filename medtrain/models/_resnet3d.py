"""The 3D ResNet class behind :mod:`medtrain.models.med3d`: MONAI's ``monai.networks.nets.resnet.ResNet``
with timm's feature API.

Private, and imported only when a 3D network is built (``med3d.build_resnet3d``): MONAI adds about 2 s to
``import medtrain.api`` on the 2-core CPU (10.1 -> 8.2 s without it), which every 2D run and every command
would otherwise pay.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.nets.resnet import ResNet, ResNetBlock, ResNetBottleneck

from medtrain.errors import MedtrainError

__all__ = ["ResNet3d", "BLOCKS"]

#: ``med3d._LAYOUT``'s block names.
BLOCKS = {"basic": ResNetBlock, "bottleneck": ResNetBottleneck}


class ResNet3d(ResNet):
    """MONAI's ResNet plus dropout before the classifier (timm's ``drop_rate``) and timm's feature API.

    ``feature_info`` (stem, layer1-4), ``num_features``, ``forward_features``, ``forward_head(pre_logits=)``,
    ``forward_intermediates``, ``get_classifier`` and ``reset_classifier`` follow timm's names, so the
    transfer strategies (stage-wise copy/freeze, linear probes on any stage) and the custom heads of
    ``medtrain.models.heads`` treat a 3D ResNet like a 2D timm model.
    """

    def __init__(self, *args, drop_rate: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.drop_rate = float(drop_rate)
        stem_stride = self.conv1.stride[0]
        chs = [self.conv1.out_channels] + [_out_channels(getattr(self, f"layer{i}")) for i in range(1, 5)]
        reductions = [stem_stride] + [stem_stride * (1 if self.no_max_pool else 2) * r for r in (1, 2, 4, 8)]
        self.feature_info = [{"module": m, "num_chs": c, "reduction": r}
                             for m, c, r in zip(["act", "layer1", "layer2", "layer3", "layer4"], chs, reductions)]
        self.num_features = chs[-1]  # pooled features handed to the classifier (timm's name)
        self.num_classes = self.fc.out_features if isinstance(self.fc, nn.Linear) else 0

    def _stages(self, x: torch.Tensor):
        if x.ndim != 5:
            raise MedtrainError(f"3D ResNets take (B, C, D, H, W) volumes, got a tensor of shape {tuple(x.shape)}")
        x = self.act(self.bn1(self.conv1(x)))
        yield x
        if not self.no_max_pool:
            x = self.maxpool(x)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            yield x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for x in self._stages(x):
            pass
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.avgpool(x).flatten(1)
        if self.drop_rate:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits or self.fc is None else self.fc(x)

    def forward_intermediates(self, x: torch.Tensor, indices=None, intermediates_only: bool = True,
                              stop_early: bool = True) -> list:
        """The outputs of stages ``indices`` (0 = stem); only ``intermediates_only`` is supported."""
        if not intermediates_only:
            raise MedtrainError("ResNet3d.forward_intermediates returns the intermediates only")
        n = len(self.feature_info)
        wanted = sorted(i % n for i in (indices if indices is not None else range(n)))
        out = []
        for i, x in enumerate(self._stages(x)):
            if i in wanted:
                out.append(x)
            if stop_early and i >= wanted[-1]:
                break
        return out

    def get_classifier(self) -> nn.Module | None:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh ``num_classes``-way classifier; 0 makes ``forward`` return the pooled features (timm's API)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _out_channels(layer: nn.Sequential) -> int:
    """Channels a residual stage puts out (its last block's last convolution)."""
    return [m for m in layer.modules() if isinstance(m, nn.Conv3d)][-1].out_channels
