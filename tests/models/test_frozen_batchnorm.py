"""A frozen stage keeps its batch-norm statistics through a real training run: the running mean and variance a
fine-tune copied from its source are the ones it saves, with validation epochs in between, with ``--ema`` (whose
averaged copy is what validation and the saved model use) and while gradual unfreezing frees the stages above.
An unfrozen stage's statistics learn, as the network's mode says."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import torch

from medtrain.api import train
from medtrain.models.weights import load_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import fast_config, make_npz  # noqa: E402


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A 1-epoch source run A and its data (16x16 grey bright squares)."""
    root = tmp_path_factory.mktemp("frozen_bn")
    data = make_npz(root / "d.npz")
    train(fast_config(data, root / "A", epochs=1), verbose=False)
    return data, root / "A"


def _stats(state: dict, stages: tuple[str, ...]) -> dict:
    return {k: v for k, v in state.items() if k.startswith(stages) and k.endswith(("running_mean", "running_var"))}


@pytest.mark.parametrize("settings, frozen, trained", [
    ({"transfer": "finetune-top:1"}, ("conv1", "bn1", "layer1", "layer2", "layer3"), "layer4"),
    ({"transfer": "finetune-top:1", "ema": 1.0}, ("conv1", "bn1", "layer1", "layer2", "layer3"), "layer4"),
    # layer4 trainable from epoch 1 on, the rest never: frozen statistics survive another stage's unfreezing
    ({"transfer": "finetune-top:0", "unfreeze_every": 1, "ema": 1.0}, ("conv1", "bn1", "layer1", "layer2", "layer3"),
     "layer4"),
], ids=["plain", "ema", "gradual-ema"])
def test_frozen_stages_keep_their_batch_norm_statistics(source, tmp_path, settings, frozen, trained):
    data, a = source
    out = tmp_path / "B"
    # 2 epochs: a validation epoch (eval mode, then each module's mode restored) lies between the two training
    # epochs; checkpoint last: the saved statistics are those of the end of training, not of an earlier epoch
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        train(fast_config(data, out, epochs=2, checkpoint="last", pretrained=str(a), **settings), verbose=False)
    # frozen batch norm is in eval mode on purpose: Lightning's "Found N module(s) in eval mode" is not the user's
    assert not [w for w in said if "eval mode" in str(w.message)], [str(w.message) for w in said]
    src, got = load_state(a / "model.safetensors"), load_state(out / "model.safetensors")
    kept = _stats(got, frozen)
    assert len(kept) == 2 * sum(1 for k in got if k.startswith(frozen) and k.endswith("running_mean")) > 0
    for k, v in kept.items():
        if "ema" in settings:  # the average decay * x + (1 - decay) * x of an unchanged x rounds to x within an ulp
            torch.testing.assert_close(v, src[k], rtol=1e-6, atol=1e-7, msg=f"{k} moved")
        else:
            assert torch.equal(v, src[k]), f"{k} moved"
    learnt = _stats(got, (trained,))
    assert learnt and not all(torch.equal(v, src[k]) for k, v in learnt.items()), f"{trained} did not learn"
