"""A network inflate_model must refuse is refused before it is copied: VGG had deep-copied its 129M parameters and
inflated its ``features`` (0.3-0.6 s) before its pre-logits were refused."""
import copy

import pytest
import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models import inflate


def _late_refusal() -> nn.Sequential:
    """Convolutions that inflate, then (at ``2.1``) a 2D layer with no 3D twin, then another after it."""
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4),
                         nn.Sequential(nn.Conv2d(4, 4, 3), nn.InstanceNorm2d(4), nn.LPPool2d(2, 2)))


def test_a_refused_network_is_neither_copied_nor_partly_inflated(monkeypatch):
    copied, inflated = [], []
    deepcopy, inflate_conv = copy.deepcopy, inflate.inflate_conv
    monkeypatch.setattr(inflate.copy, "deepcopy", lambda m, *a: copied.append(m) or deepcopy(m, *a))
    monkeypatch.setattr(inflate, "inflate_conv", lambda c, **kw: inflated.append(c) or inflate_conv(c, **kw))
    model = _late_refusal()
    with pytest.raises(MedtrainError, match=r"^cannot inflate 2\.1 of type InstanceNorm2d: no 3D twin is known$"):
        inflate.inflate_model(model)  # (the first refused module in the order inflation visits them)
    assert not copied and not inflated, f"{len(copied)} deep copies and {len(inflated)} convolutions inflated"
    model[2][1] = nn.Identity()
    with pytest.raises(MedtrainError, match=r"^cannot inflate 2\.2 of type LPPool2d: no 3D twin is known$"):
        inflate.inflate_model(model)
    assert not copied and not inflated
    model[2][2] = nn.Identity()
    assert isinstance(inflate.inflate_model(model)[2][0], nn.Conv3d) and copied[0] is model and len(inflated) == 2


def test_a_vision_transformer_is_refused_at_its_patch_embedding():
    """timm's ViT patch embedding unpacks ``B, C, H, W = x.shape``: inflated, a ViT on volumes had failed there with
    a traceback after the data were loaded (a walk)."""
    import timm

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=2, in_chans=1, img_size=28,
                            depth=1)
    with pytest.raises(MedtrainError, match=r"^cannot inflate patch_embed of type PatchEmbed: its forward is 2D-only code$"):
        inflate.inflate_model(vit)
