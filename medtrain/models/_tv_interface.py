"""timm's classifier interface on the torchvision families of the zoo.

The rest of medtrain (custom heads, MC dropout, CAM, linear probes, transfer) talks to a model through
timm's names: ``num_features`` (and ``head_hidden_size`` where a pre-logits layer exists),
``forward_features``, ``forward_head(x, pre_logits=)``, ``get_classifier`` and ``reset_classifier``.
torchvision's AlexNet, SqueezeNet, GoogLeNet and ShuffleNetV2 have none of them; the subclasses below
add them without renaming any parameter, so torchvision checkpoints still load by name.

``reset_classifier(0)`` makes ``forward`` return the pooled pre-logits features, as in timm. It also
removes the dropout that sat directly before the old classifier (GoogLeNet's ``dropout``, SqueezeNet's
``classifier.0``, ShuffleNet's optional one): a head put on the features brings its own. AlexNet keeps
the dropout inside its 4096-4096 pre-logits MLP, as timm's VGG keeps its ``pre_logits`` block.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor
from torchvision import models as tvm

__all__ = ["AlexNet", "GoogLeNet", "SHUFFLENET_V2_STAGES", "ShuffleNetV2", "SqueezeNet"]


class _TimmInterface:
    """``forward`` as ``forward_head(forward_features(x))``, and ``get_classifier``."""

    num_features: int
    num_classes: int

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self._classifier()


class AlexNet(_TimmInterface, tvm.AlexNet):
    """torchvision's AlexNet; pre-logits are the 4096 outputs of the second fully connected layer."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__(num_classes=num_classes, dropout=dropout)
        self.num_features = self.features[-3].out_channels  # the last convolution (before ReLU, max-pool)
        self.head_hidden_size = self.classifier[-1].in_features
        self.num_classes = num_classes

    def _classifier(self) -> nn.Module:
        return self.classifier[-1]

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.classifier[:-1](torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.classifier[-1](x)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = nn.Linear(self.head_hidden_size, num_classes) if num_classes else nn.Identity()


class SqueezeNet(_TimmInterface, tvm.SqueezeNet):
    """torchvision's SqueezeNet, whose classifier is a 1x1 convolution (+ ReLU) before global pooling.

    Pre-logits are the globally averaged ``features`` (512 channels, pooled by the parameter-free
    ``global_pool`` module, which ``inflate_model`` can turn 3D); with a classifier the original order
    (dropout, 1x1 convolution, ReLU, average pool) is kept.
    """

    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5):
        super().__init__(version=version, num_classes=num_classes, dropout=dropout)
        self.num_features = self.classifier[1].in_channels
        self.num_classes = num_classes
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))

    def _classifier(self) -> nn.Module:
        return self.classifier[1] if self.num_classes else self.classifier

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        if pre_logits or not self.num_classes:
            return torch.flatten(self.global_pool(x), 1)
        return torch.flatten(self.classifier(x), 1)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        if num_classes:
            final = nn.Conv2d(self.num_features, num_classes, kernel_size=1)
            nn.init.normal_(final.weight, mean=0.0, std=0.01)  # torchvision's init of the final conv
            nn.init.zeros_(final.bias)
            if isinstance(self.classifier, nn.Sequential):
                self.classifier[1] = final
            else:  # after reset_classifier(0): torchvision's layout, without the dropout
                self.classifier = nn.Sequential(nn.Identity(), final, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1))
        else:
            self.classifier = nn.Identity()


class GoogLeNet(_TimmInterface, tvm.GoogLeNet):
    """torchvision's GoogLeNet without auxiliary classifiers (``aux_logits=False``); 1024 pre-logits."""

    def __init__(self, num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.2):
        super().__init__(num_classes=num_classes, aux_logits=False, transform_input=False,
                         init_weights=init_weights, dropout=dropout)
        self.num_features = self.fc.in_features
        self.num_classes = num_classes

    def _classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x: Tensor) -> Tensor:
        for name in ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
                     "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
                     "inception5a", "inception5b"):
            x = getattr(self, name)(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        if not num_classes:
            self.dropout = nn.Identity()


#: torchvision's ShuffleNet v2 widths: (blocks per stage, output channels of stem, stages 2-4 and conv5).
SHUFFLENET_V2_STAGES = {
    "shufflenet_v2_x0_5": ([4, 8, 4], [24, 48, 96, 192, 1024]),
    "shufflenet_v2_x1_0": ([4, 8, 4], [24, 116, 232, 464, 1024]),
    "shufflenet_v2_x1_5": ([4, 8, 4], [24, 176, 352, 704, 1024]),
    "shufflenet_v2_x2_0": ([4, 8, 4], [24, 244, 488, 976, 2048]),
}


class ShuffleNetV2(_TimmInterface, tvm.ShuffleNetV2):
    """torchvision's ShuffleNet v2, built by name (``SHUFFLENET_V2_STAGES``); pre-logits are conv5's."""

    def __init__(self, name: str, num_classes: int = 1000, drop_rate: float = 0.0):
        repeats, channels = SHUFFLENET_V2_STAGES[name]
        super().__init__(repeats, channels, num_classes=num_classes)
        self.num_features = channels[-1]
        self.num_classes = num_classes
        if drop_rate:
            self.fc = nn.Sequential(nn.Dropout(drop_rate), self.fc)

    def _classifier(self) -> nn.Module:
        return self.fc[-1] if isinstance(self.fc, nn.Sequential) else self.fc

    def forward_features(self, x: Tensor) -> Tensor:
        for name in ("conv1", "maxpool", "stage2", "stage3", "stage4", "conv5"):
            x = getattr(self, name)(x)
        return x

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = x.mean([2, 3])
        if pre_logits:
            return self.fc[0](x) if isinstance(self.fc, nn.Sequential) else x
        return self.fc(x)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        if not num_classes:
            self.fc = nn.Identity()
        elif isinstance(self.fc, nn.Sequential):
            self.fc[-1] = nn.Linear(self.num_features, num_classes)
        else:
            self.fc = nn.Linear(self.num_features, num_classes)
