"""The advisor: size and similarity on a scale that says what "similar" means, and its quadrant."""
from __future__ import annotations

import numpy as np
import torch
import pytest

from medtrain.cli import main
from medtrain.transfer.advisor import advise, domain_accuracy, frechet_distance

from test_sources_strategies import make_source  # a source run directory made without training


def _npz(path, images, labels):
    np.savez(path, train_images=images, train_labels=labels, val_images=images[:20], val_labels=labels[:20],
             test_images=images[:20], test_labels=labels[:20])
    return path


@pytest.fixture
def datasets(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    labels = (np.arange(n) % 2).reshape(-1, 1).astype(np.uint8)
    smooth = rng.integers(60, 120, (n, 16, 16)).astype(np.uint8)  # one kind of image
    checker = np.indices((16, 16)).sum(0) % 2 * 255  # a clearly different kind: hard checkerboards
    other = np.broadcast_to(checker, (n, 16, 16)).astype(np.uint8) ^ rng.integers(0, 40, (n, 16, 16)).astype(np.uint8)
    src = _npz(tmp_path / "src.npz", smooth, labels)
    make_source(tmp_path / "A", in_chans=1, data=str(src))
    rgb_other = np.repeat(other[..., None], 3, axis=-1)  # RGB target: fitted to the grey source by channel mean
    return tmp_path, src, _npz(tmp_path / "other.npz", rgb_other, labels)


def test_identical_data_is_similar_and_a_different_target_is_not(datasets):
    root, src, other = datasets
    same = advise(root / "A", str(src), max_images=60)
    diff = advise(root / "A", str(other), max_images=60)
    assert same.domain_acc < 0.7 and same.similarity == "similar"
    assert diff.domain_acc > 0.9 and diff.similarity == "different"
    assert same.fd < diff.fd and diff.fd > 5 * diff.fd_floor
    assert same.size == "small" and same.per_class == 60
    assert same.recommend == {"transfer": "linear-probe"}
    assert diff.recommend == {"transfer": "linear-probe", "probe_layer": "layer3"}
    big = advise(root / "A", str(other), max_images=60, small_per_class=10)
    assert big.size == "large" and big.recommend == {"transfer": "finetune"} and "scratch" in big.quadrant


def test_frechet_distance_and_domain_accuracy_scales():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4))
    assert frechet_distance(a, b) < 0.05
    assert frechet_distance(a, b + 3.0) == pytest.approx(4 * 9.0, rel=0.05)  # |delta mu|^2
    assert abs(domain_accuracy(a[:300], b[:300]) - 0.5) < 0.1
    assert domain_accuracy(a[:300], b[:300] + 5.0) > 0.99


def test_cli_prints_the_numbers_and_the_recommendation(datasets, capsys):
    root, src, other = datasets
    assert main(["advise", "--source", str(root / "A"), "--target", str(other), "--max-images", "40"]) == 0
    out = capsys.readouterr().out
    assert "domain classifier accuracy" in out and "Frechet distance" in out
    # the printed command trains on the target (without --data it trained the default dataset)
    assert f"recommendation: medtrain train --data {other} --pretrained {root / 'A'}" in out
    assert "--probe-layer layer3" in out


def test_a_linear_probe_run_is_a_source_its_probed_network(datasets):
    """Its weights hold the probed network under model. (and the probe under linear.): as a source it was 'a
    different architecture', and advise measured a randomly initialised network (a user walkthrough)."""
    import medtrain
    from medtrain.models.pretrained import load_source, source_model

    root, src, other = datasets
    probe = root / "probe"
    medtrain.train({"data": str(src), "pretrained": str(root / "A"), "transfer": "linear-probe", "bootstrap": 0,
                    "model": "resnet10_28_half",
                    "progress": False, "logger": "none", "out": str(probe)}, verbose=False)
    a, p = source_model(load_source(str(root / "A"))), source_model(load_source(str(probe)))
    for k, v in a.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(p.state_dict()[k], v), k
    assert advise(probe, str(other), max_images=60).domain_acc == advise(root / "A", str(other),
                                                                        max_images=60).domain_acc


def test_cli_source_must_be_a_run(datasets, capsys):
    root, src, _ = datasets
    assert main(["advise", "--source", str(src), "--target", str(src)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "run directory" in err


def test_convergence_epoch_and_verify_table():
    from medtrain.transfer.advisor import convergence_epoch, verify_table

    hist = [{"val_auc": v} for v in (0.5, 0.80, 0.95, 0.90, 1.0)]
    assert convergence_epoch(hist) == 3  # first epoch >= 0.95 * best, counted from 1
    assert convergence_epoch([]) is None
    rows = [{"candidate": "transfer=linear-probe", "recommended": True, "val_auc": 0.7, "val_acc": 0.6,
             "test_auc": 0.69, "test_acc": 0.5, "wall_s": 3.0},
            {"candidate": "transfer=finetune", "recommended": False, "val_auc": 0.8, "val_acc": 0.6,
             "test_auc": 0.7, "test_acc": 0.5, "wall_s": 9.0}]
    table = verify_table(rows, 3)
    assert "linear-probe (recommended)" in table and "finetune ← best on val" in table


def test_verify_trains_the_recommendation_and_each_alternative(datasets, capsys, tmp_path):
    import json

    root, src, other = datasets
    out = tmp_path / "verify"
    assert main(["advise", "--source", str(root / "A"), "--target", str(other), "--max-images", "40", "--verify",
                 "--budget-epochs", "1", "--out", str(out), "--json", str(tmp_path / "advice.json")]) == 0
    printed = capsys.readouterr().out
    rows = json.loads((tmp_path / "advice.json").read_text())["verify"]
    advice = json.loads((tmp_path / "advice.json").read_text())["advice"]
    assert len(rows) == 1 + len(advice["alternatives"]) >= 3
    assert rows[0]["recommended"] and not any(r["recommended"] for r in rows[1:])
    assert "(recommended)" in printed and "← best on val" in printed
    for r in rows:  # every candidate is a finished run directory with the numbers shown
        m = json.loads((out / r["candidate"].replace(":", "_") / "metrics.json").read_text())
        assert m["val"]["auc"] == r["val_auc"] and m["test"]["auc"] == r["test_auc"]


@pytest.mark.parametrize("recorded", [True, False], ids=["size-recorded", "older-run-without-size"])
def test_a_small_image_zoo_source_is_rebuilt_with_its_own_stem(datasets, recorded):
    """A timm resnet18 trained on small images has the 3x3/1 stem the zoo gives small inputs; the advisor
    must rebuild it so (it used to rebuild the stock 7x7 stem and fail on the weights' shapes)."""
    import yaml

    from medtrain.models import create_model
    from medtrain.models.weights import save_weights

    root, src, other = datasets
    net = create_model("resnet18", in_chans=1, num_classes=2, input_size=16)
    assert net.conv1.weight.shape[-1] == 3  # the small-image stem
    run = root / "R18"
    run.mkdir()
    meta = {"model": "resnet18", "in_chans": 1, "num_classes": 2, "mean": [0.5], "std": [0.25]}
    save_weights(net, run / "model.safetensors", {**meta, **({"input_size": 16} if recorded else {})})
    (run / "config.yaml").write_text(yaml.safe_dump({"data": str(src), "dataset": None, "model": "resnet18"}))
    (run / "metrics.json").write_text("{}")  # a finished run
    same = advise(run, str(src), max_images=40)
    assert same.similarity == "similar" and same.n_images == 40


def test_a_target_of_the_other_dimensionality_is_one_error_line(datasets, capsys):
    # a 2D source and 3D volumes had been a traceback from F.interpolate, exit 1
    root, _, _ = datasets
    rng = np.random.default_rng(1)
    volumes = rng.integers(0, 255, (40, 8, 8, 8)).astype(np.uint8)
    target = _npz(root / "volumes.npz", volumes, (np.arange(40) % 2).reshape(-1, 1).astype(np.uint8))
    assert main(["advise", "--source", str(root / "A"), "--target", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "trained on 2D images" in err and "holds 3D volumes" in err and "inflates" in err


def test_target_volumes_of_another_size_are_resized_as_the_source_sees_them():
    """advise with a 3D source and 3D target of other sizes had stopped with "bilinear mode needs 4D input" (a walk)."""
    from medtrain.transfer.advisor import _fit_images

    cube = torch.zeros(2, 1, 8, 8, 8, dtype=torch.uint8)
    cube[:, :, 2:6, 2:6, 2:6] = 200
    fitted = _fit_images(cube, 1, (16, 16, 16))
    assert fitted.shape == (2, 1, 16, 16, 16) and fitted.dtype == torch.uint8
    assert fitted[0, 0, 8, 8, 8] == 200 and fitted[0, 0, 0, 0, 0] == 0  # the bright cube stays in the middle
