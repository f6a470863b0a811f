"""Every augmentation the ``augment`` key accepts, trained through ``medtrain.train`` on CPU.

Ops are trained in a few groups (one training each, to fit the suite's time budget). Each test checks
that the run learned the bright-square task, that ``medtrain.evaluate`` reproduces its test metrics, and,
for every op of the group, that it is in the training module's pipeline and changed the first training
batch the way that op does (a mirror, a rotation, a box of zeros, mixed targets...).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medtrain.augment import available
from medtrain.augment.erasing import Cutout
from medtrain.augment.fused import FusedPipeline
from medtrain.augment.geometric import ElasticDeform, RandomAffine, RandomFlip, RandomRot90, RandomShift
from medtrain.augment.intensity import ColorJitter, HEDJitter, PCALighting, RandomGamma, RandomWindow
from medtrain.augment.mixing import Mixup, MixupOrCutMix
from medtrain.augment.policies import PolicyAugment, autoaugment_policy, randaugment_policy, save_policy
from medtrain.augment.policies import trivialaugment_policy
from medtrain.augment.volume import (CutMix3d, Mixup3d, RandomAffine3d, RandomErasing3d, RandomFlip3d,
                                     RandomGamma3d, RandomIntensity3d, RandomRot90_3d)
from technique_helpers import FirstBatch, train_check

CLASSES = {
    "vflip": RandomFlip, "shift": RandomShift, "affine": RandomAffine, "rot90": RandomRot90, "elastic": ElasticDeform,
    "gamma": RandomGamma, "window": RandomWindow, "cutout": Cutout, "mixup": Mixup, "jitter": ColorJitter,
    "pca": PCALighting, "hed": HEDJitter, "mix": MixupOrCutMix, "autoaugment": PolicyAugment,
    "randaugment": PolicyAugment, "trivialaugment": PolicyAugment, "policy": PolicyAugment,
    "learned.yaml": PolicyAugment, "3d_flip": RandomFlip3d, "3d_rot90": RandomRot90_3d,
    "3d_affine": RandomAffine3d, "3d_intensity": RandomIntensity3d, "3d_gamma": RandomGamma3d,
    "3d_erasing": RandomErasing3d, "3d_mixup": Mixup3d, "3d_cutmix": CutMix3d,
}
#: flip, rrc, jitter, erasing and cutmix in that order run as one FusedPipeline (medtrain.augment.fused)
FUSED = ("flip", "rrc", "erasing", "cutmix")
GROUPS = {  # a group's ops run one after the other on the same batch
    "grey-geometric": ("vflip", "shift", "affine", "rot90", "elastic", "gamma", "window", "cutout", "mixup"),
    "grey-fused": FUSED,
    "rgb-colour": ("jitter", "pca", "hed", "mix"),
    "policies": ("autoaugment", "randaugment", "trivialaugment", "policy", "learned.yaml"),
}
VOLUME_OPS = ("3d_flip", "3d_rot90", "3d_affine", "3d_intensity", "3d_gamma", "3d_erasing", "3d_mixup", "3d_cutmix")
MIXING = {"mixup", "cutmix", "mix", "3d_mixup", "3d_cutmix"}
IN_RANGE = {"shift", "affine", "rot90", "elastic", "gamma", "window", "jitter", "3d_flip", "3d_rot90", "3d_gamma"}


def test_every_registered_op_is_covered_here():  # a new op must get its end-to-end test
    covered = {n for g in GROUPS.values() for n in g} | set(VOLUME_OPS)
    assert set(available()) == covered - {"learned.yaml"}


def _check_batch(name: str, x, y, xo, yo) -> None:
    assert xo.shape == x.shape and torch.isfinite(xo).all()
    changed = (xo - x).abs().flatten(1).amax(1) > 1e-6
    assert changed.any(), f"{name} left every image of the first batch unchanged"
    if name in MIXING:  # soft targets that still sum to one, some strictly mixed
        assert torch.allclose(yo.sum(1), torch.ones(len(yo))) and ((yo > 0.01) & (yo < 0.99)).any()
    else:
        assert torch.equal(yo, y), f"{name} must not touch the targets"
    same = lambda a: (xo == a).flatten(1).all(1)  # noqa: E731
    if name == "vflip":  # each image is itself or its upside-down mirror, and some are mirrored
        assert (same(x) | same(x.flip(-2))).all() and (same(x.flip(-2)) & changed).any()
    if name == "rot90":
        assert torch.stack([same(torch.rot90(x, k, (-2, -1))) for k in range(4)]).any(0).all()
    if name == "3d_flip":  # one of the 8 combinations of axis flips
        combos = [d for m in range(8) for d in [[2 + i for i in range(3) if m >> i & 1]]]
        assert torch.stack([same(x.flip(d) if d else x) for d in combos]).any(0).all()
    if name in ("cutout", "3d_erasing"):  # changed voxels are the fill value 0
        assert (xo[(xo - x).abs() > 1e-6] == 0).all()
    if name in IN_RANGE:
        assert xo.min() >= 0 and xo.max() <= 1


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_augment_group_trains_and_each_op_reaches_the_batch(group, learnable_npz, learnable_rgb_npz, tmp_path):
    names = list(GROUPS[group])
    over = {}
    if group == "policies":
        policy_file = save_policy(randaugment_policy(1, 5), tmp_path / "learned.yaml", comment="a learned policy")
        over = dict(aa_policy="svhn", ra_n=3, ra_m=4, augment_params={"policy_file": str(policy_file)})
        names[names.index("learned.yaml")] = str(policy_file)
    rec = FirstBatch()
    data = learnable_rgb_npz if group.startswith("rgb") else learnable_npz
    train_check(data, tmp_path / "run", callbacks=[rec], augment=names, **over)
    if group == "grey-fused":  # fused into one pass with each stage on
        (op,) = rec.ops
        assert isinstance(op, FusedPipeline) and op.flip_p == 0.5 and op.rrc is not None
        assert op.erasing is not None and op.cutmix_alpha == 1.0
        _check_batch("cutmix", *rec.seen[0])  # the fused pass ends with CutMix: mixed targets
        return
    assert [type(op) for op in rec.ops] == [CLASSES[n] for n in GROUPS[group]]
    for i, name in enumerate(GROUPS[group]):
        _check_batch(name, *rec.seen[i])
    if group == "grey-geometric":
        assert rec.ops[0].dim in (-2, 2)
    if group == "policies":  # each op runs the policy it was named for
        expected = [autoaugment_policy("svhn"), randaugment_policy(3, 4), trivialaugment_policy(),
                    randaugment_policy(1, 5), randaugment_policy(1, 5)]
        for op, want in zip(rec.ops, expected):
            assert op.policy.sub_policies == want.sub_policies and op.policy.layers == want.layers


@pytest.fixture(scope="module")
def volume_npz(tmp_path_factory):
    """Class 1 volumes carry a bright 4^3 cube in noise; 96 / 32 / 48 volumes of 8^3, 2 test labels flipped."""
    arrays = {}
    for split, n, seed in (("train", 96, 0), ("val", 32, 1), ("test", 48, 2)):
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 2, n)
        vols = rng.integers(0, 90, (n, 8, 8, 8)).astype(np.uint8)
        for i in np.flatnonzero(labels):
            d, r, c = rng.integers(0, 5, 3)
            vols[i, d:d + 4, r:r + 4, c:c + 4] = 230
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = vols, labels.reshape(-1, 1).astype(np.uint8)
    arrays["test_labels"][:2] = 1 - arrays["test_labels"][:2]
    path = tmp_path_factory.mktemp("volumes") / "cubes.npz"
    np.savez(path, **arrays)
    return path


def test_volume_ops_train_and_each_reaches_the_batch(volume_npz, tmp_path):
    rec = FirstBatch()
    train_check(volume_npz, tmp_path / "run", callbacks=[rec], augment=list(VOLUME_OPS), batch_size=16)
    assert [type(op) for op in rec.ops] == [CLASSES[n] for n in VOLUME_OPS]
    for i, name in enumerate(VOLUME_OPS):
        assert rec.seen[i][0].ndim == 5
        _check_batch(name, *rec.seen[i])
