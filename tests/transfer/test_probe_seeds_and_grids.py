"""A linear probe is a convex fit on a frozen network's codes: probes of different seeds come out the same, and the
run says so (a compare of seeds had shown a spread of exactly 0 with no word why, which read as a seed ignored).
The settings a probe never reads are refused alike by ``train`` and by a ``compare`` grid whose cells are all probes
(``--flip false --class-weights true`` had been refused by train and trained, recorded, by compare), through the
one check of both, :func:`medtrain.config.checks.check_probe_read`; a grid where some cell reads them keeps them."""
from __future__ import annotations

import pytest
import torch

from conftest import make_npz, run_cli
from medtrain.config import check_read, resolve
from medtrain.config.checks import check_typed_for_cells
from medtrain.errors import MedtrainError

pytestmark = pytest.mark.usefixtures("one_thread")

PROBE = {"dataset": "breastmnist", "pretrained": "SRC", "transfer": "linear-probe"}


def train_refusal(flags: dict) -> str:
    with pytest.raises(MedtrainError) as e:
        check_read(resolve(PROBE, flags), flags)
    return str(e.value)


def test_a_grid_of_probes_refuses_what_train_refuses_in_the_same_line():
    flags = {"flip": "false", "class_weights": "true"}
    cells = [resolve(PROBE, flags, {"probe_classifier": c}) for c in ("logreg", "svm")]
    with pytest.raises(MedtrainError) as e:
        check_typed_for_cells(cells, flags)
    assert str(e.value) == train_refusal(flags)
    assert str(e.value).startswith("--flip, --class-weights: a linear probe")


def test_a_grid_where_some_cell_reads_the_setting_keeps_it():
    flags = {"flip": "false", "class_weights": "true"}
    cells = [resolve(PROBE, flags, {"transfer": t}) for t in ("scratch", "linear-probe")]
    check_typed_for_cells(cells, flags)  # the scratch cell trains with them
    check_typed_for_cells([resolve(PROBE, {"probe_layer": "layer3"})], {"probe_layer": "layer3"})  # read: kept


def test_compare_refuses_a_probe_grids_unread_flags_before_writing(tmp_path, capsys):
    data = make_npz(tmp_path / "tiny.npz", sizes=(24, 8, 8))
    code, _, err = run_cli(capsys, "compare", "--data", data, "--pretrained", "timm:resnet18", "--transfer",
                           "linear-probe", "--flip", "false", "--class-weights", "true", "--vary",
                           "probe_classifier=logreg,svm", "--out", tmp_path / "grid")
    assert code == 2 and "Traceback" not in err
    assert "--flip, --class-weights: a linear probe" in err and "recorded but not used" in err
    assert not (tmp_path / "grid").exists()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Tiny two-class data and a source network's weights file (an untrained resnet10_28_half: the codes are
    random features, enough to fit a probe on)."""
    from safetensors.torch import save_file

    from medtrain.data import load_splits
    from medtrain.training.build import build_model

    root = tmp_path_factory.mktemp("probe_seeds")
    data = make_npz(root / "tiny.npz", sizes=(48, 16, 16))
    cfg = resolve({"data": str(data), "model": "resnet10_28_half"})
    torch.manual_seed(0)
    model, _ = build_model(cfg, load_splits(cfg))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(root / "src.safetensors"))
    return root, data


@pytest.mark.parametrize("classifier", ["logreg", "svm"])
def test_probes_of_two_seeds_are_the_same_and_the_run_says_why(source, classifier):
    from medtrain.data import load_splits
    from medtrain.training.probe import fit_probe

    root, data = source
    got = {}
    for seed in (0, 1):
        cfg = resolve({"data": str(data), "model": "resnet10_28_half", "pretrained": str(root / "src.safetensors"),
                       "transfer": "linear-probe", "probe_classifier": classifier, "seed": seed,
                       "accelerator": "cpu"})
        result = fit_probe(cfg, load_splits(cfg), root / f"{classifier}{seed}")
        probe = result.module.model
        got[seed] = (probe.linear.weight.detach().clone(), probe.linear.bias.detach().clone(), result)
    (w0, b0, r0), (w1, b1, r1) = got[0], got[1]
    assert r0.metrics["probe"]["C"] == r1.metrics["probe"]["C"]
    assert r0.metrics["probe"]["val_by_C"] == r1.metrics["probe"]["val_by_C"]
    assert torch.allclose(w0, w1, atol=1e-4) and torch.allclose(b0, b1, atol=1e-4)  # the solver's tolerance
    if classifier == "logreg":
        assert torch.equal(w0, w1) and torch.equal(b0, b1)
    for r in (r0, r1):  # said where a user reads the run: its summary line and metrics.json
        assert "every seed gives the same probe" in r.summary and "convex fit" in r.summary
        assert "every seed gives the same probe" in r.metrics["probe"]["seeds"]
