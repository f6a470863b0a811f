"""``model.safetensors``: the same weights and metadata give the same bytes, so a checksum identifies a model."""
from __future__ import annotations

import hashlib

import torch

from medtrain.models.weights import load_state, read_meta, save_weights


def test_identical_weights_give_identical_files(tmp_path):
    """safetensors' writer orders the metadata by a randomly seeded hash map: the same run written twice had
    different bytes (a reproducibility walkthrough); medtrain sorts the header's metadata keys."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    meta = {f"key{i}": {"value": i, "name": f"Läsion {i}"} for i in range(12)}
    digests = set()
    for i in range(6):
        save_weights(model, tmp_path / f"{i}.safetensors", meta)
        digests.add(hashlib.sha256((tmp_path / f"{i}.safetensors").read_bytes()).hexdigest())
    assert len(digests) == 1
    assert read_meta(tmp_path / "0.safetensors") == meta
    state = load_state(tmp_path / "0.safetensors")
    assert torch.equal(state["weight"], model.weight.detach()) and torch.equal(state["bias"], model.bias.detach())
