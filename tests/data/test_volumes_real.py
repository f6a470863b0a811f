"""The real MedMNIST 3D files through the MedMNIST loader, the 3D models and the 3D augmentation.

AdrenalMNIST3D and VesselMNIST3D (Yang et al., Scientific Data 2023), 28x28x28 binary shape masks, from
../shared/data (see its README for the counts checked here).
"""
import pytest
import torch

from conftest import data_dirs, find_real_data
from medtrain.augment import build_batch_augment
from medtrain.data.medmnist import load_medmnist
from medtrain.models import create_model
from medtrain.models import med3d  # noqa: F401  (registers the 3D ResNets)
from medtrain.models.inflate import inflate_model

pytestmark = pytest.mark.real

COUNTS = {  # README: train / val / test and class-1 counts per split
    "adrenalmnist3d": ((1188, 98, 298), (259, 22, 69)),
    "vesselmnist3d": ((1335, 191, 382), (150, 22, 43)),
}


def _load(real_data, name):
    return load_medmnist(name, 28, find_real_data(f"{name}.npz", [real_data] + data_dirs()))


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_3d_medmnist_keeps_the_channel_axis(real_data, name):
    s = _load(real_data, name)
    sizes, positives = COUNTS[name]
    assert tuple(len(s.split(n)) for n in ("train", "val", "test")) == sizes
    assert tuple(int(s.split(n).labels.sum()) for n in ("train", "val", "test")) == positives
    assert s.train.images.shape[1:] == (1, 28, 28, 28) and s.train.images.dtype == torch.uint8
    assert s.task == "binary-class" and s.in_chans == 1
    assert set(s.val.images.unique().tolist()) == {0, 255}  # binary masks, as the README says


def test_real_volumes_through_augmentation_and_3d_models(real_data):
    adrenal = _load(real_data, "adrenalmnist3d")
    torch.manual_seed(0)
    x = adrenal.train.images[:4].float() / 255
    y = torch.nn.functional.one_hot(adrenal.train.labels[:4], 2).float()
    aug = build_batch_augment(["3d_flip", "3d_rot90", "3d_affine", "3d_cutmix"])
    xa, ya = aug(x, y)
    assert xa.shape == x.shape and torch.allclose(ya.sum(1), torch.ones(4))
    m = create_model("resnet10_3d", in_chans=1, num_classes=2).eval()
    i3d = inflate_model(create_model("resnet10_28_half", in_chans=1, num_classes=2)).eval()
    with torch.no_grad():
        assert m(xa).shape == (4, 2) and i3d(xa[:2]).shape == (2, 2)
