"""What a methods section takes from a run's report.html, as a specification: the software and machine the run
recorded (metrics.json's provenance, device, precision, wall time, memory), the network's parameter count (total and
trainable, also in metrics.json and from ``medtrain cost RUN``), and the settings as the run applied them: a
resolved ``auto`` with what it became, and no val_fraction/test_fraction where the data come split (a researcher's
walkthrough: the page had no version, commit, device or thread count, showed ``precision = auto`` for a bf16-mixed
run and listed val_fraction 0.1 for MedMNIST's official split)."""
from __future__ import annotations

import json
import re

import pytest

from conftest import make_npz, run_cli
from medtrain import rundir

TRAIN = ("--model", "resnet10_28_half", "--epochs", "1", "--batch-size", "32", "--no-progress", "--bootstrap", "0",
         "--accelerator", "cpu", "--flip", "false", "--tta", "none", "--logger", "none")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny run on an .npz (its own train/val/test arrays) and a linear probe of it."""
    from medtrain.cli import main

    root = tmp_path_factory.mktemp("prov")
    data = make_npz(root / "tiny.npz", sizes=(64, 32, 32))
    assert main(["train", "--data", str(data), *TRAIN, "--out", str(root / "A")]) == 0
    probe = ("--model", "resnet10_28_half", "--no-progress", "--bootstrap", "0", "--accelerator", "cpu", "--tta", "none",
             "--logger", "none")  # (a probe reads no epochs, batch size or flips)
    assert main(["train", "--data", str(data), *probe, "--pretrained", str(root / "A"), "--transfer", "linear-probe",
                 "--out", str(root / "P")]) == 0
    return root, data


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").split())


def _section(html: str, title: str) -> str:
    """The text of the section under ``<h2>title</h2>`` up to the next heading."""
    part = html[html.index(f"<h2>{title}</h2>") + len(title) + 9:]
    return _text(part[:part.index("<h2>")] if "<h2>" in part else part)


def test_the_report_names_the_software_and_machine_metrics_json_recorded(runs):
    root, _ = runs
    m = rundir.read_metrics(root / "A")
    p = m["provenance"]
    sw = _section((root / "A" / "report.html").read_text(), "Software and machine")
    git = p.get("medtrain_git")
    said = f"medtrain = {p['medtrain']}" + (f" (commit {git['commit'][:12]}"
                                            + (", modified checkout)" if git["modified"] else ")") if git else "")
    assert said in sw
    for k in ("torch", "lightning", "timm", "monai", "python"):
        assert f"{k} = {p[k]}" in sw, k
    assert f"device = {m['device']}" in sw and m["device"] == "cpu" and f"({p['cpu']})" in sw
    assert f"CPU threads = {p['torch_threads']}" in sw
    assert f"precision = {m['precision']}" in sw
    assert f"wall time = {m['wall_s']:.0f} s" in sw
    assert f"peak memory = {m['peak_rss_mb']:,.0f} MB resident" in sw
    n = m["parameters"]
    assert f"parameters = {n['total']:,} (all trainable)" in sw


def test_the_configuration_shows_settings_as_applied_and_not_the_split_fractions_of_split_data(runs):
    root, _ = runs
    m = rundir.read_metrics(root / "A")
    html = (root / "A" / "report.html").read_text()
    cfg_text = _section(html, "Configuration")
    assert rundir.read_config(root / "A")["precision"] == "auto" and m["precision"] != "auto"
    assert f"precision = auto ({m['precision']})" in cfg_text  # what 'auto' became
    assert "accelerator = cpu" in cfg_text  # given, not auto: shown as given
    assert "val_fraction =" not in cfg_text and "test_fraction =" not in cfg_text
    assert "these data come split (the .npz's train, val and test arrays)" in cfg_text
    assert rundir.read_config(root / "A")["val_fraction"] == 0.1  # config.yaml keeps every key


def test_a_folder_run_keeps_the_fractions_it_was_split_by(runs, tmp_path):
    """The same run's report re-rendered for data a folder's images (split by the fractions), and for images given
    in memory (written as the cache's arrays.npz, whose missing splits the fractions drew)."""
    root, _ = runs
    m = rundir.read_metrics(root / "A")
    # as the loader records such data's splits (split_origin; the run's own .npz records "own")
    drawn = {**m, "data": {**m["data"], "split_origin": "drawn"}}
    for data in (str(tmp_path / "images"), str(tmp_path / "arrays" / ("0" * 64) / "arrays.npz")):
        cfg = {**rundir.read_config(root / "A"), "data": data}
        rundir.write_report(tmp_path, cfg, drawn)
        cfg_text = _section((tmp_path / "report.html").read_text(), "Configuration")
        assert "val_fraction = 0.1" in cfg_text and "test_fraction = 0.2" in cfg_text, data
        assert "come split" not in cfg_text
    cfg = {**rundir.read_config(root / "A"), "data": None, "dataset": "breastmnist"}
    rundir.write_report(tmp_path, cfg, m)
    cfg_text = _section((tmp_path / "report.html").read_text(), "Configuration")
    assert "val_fraction =" not in cfg_text and "MedMNIST set's official train/val/test split" in cfg_text


def test_parameters_are_counted_on_the_trained_network_and_a_probe_trains_only_its_linear_layer(runs):
    root, _ = runs
    from medtrain.runmodel import load_run_module

    a, probe = rundir.read_metrics(root / "A"), rundir.read_metrics(root / "P")
    net = load_run_module(root / "A").module.model
    assert a["parameters"] == {"total": sum(p.numel() for p in net.parameters()),
                               "trainable": sum(p.numel() for p in net.parameters())}
    head = net.get_classifier()  # 1 channel, 2 classes: not the 3-channel, 1000-class count of `cost resnet10_28_half`
    assert head.out_features == 2 and net.conv1.in_channels == 1
    dim = probe["probe"]["feature_dim"]
    assert probe["parameters"]["trainable"] == 2 * dim + 2  # the linear layer on the frozen network's codes
    # the network as it computes: A's up to its codes and the linear layer, not A's classifier it holds unused
    assert probe["parameters"]["total"] == a["parameters"]["total"] - sum(p.numel() for p in head.parameters()) \
        + 2 * dim + 2
    sw = _section((root / "P" / "report.html").read_text(), "Software and machine")
    assert f"parameters = {probe['parameters']['total']:,} ({2 * dim + 2:,} trainable)" in sw


def test_cost_of_a_run_folder_is_its_network_as_trained(runs, capsys):
    root, _ = runs
    a = rundir.read_metrics(root / "A")
    code, out, _ = run_cli(capsys, "cost", root / "A", "--json")
    r = json.loads(out)
    assert code == 0 and (r["in_chans"], r["num_classes"], r["input_size"]) == (1, 2, 16)
    assert r["params"] == a["parameters"]["total"] and r["trainable"] == a["parameters"]["trainable"]
    code, out, _ = run_cli(capsys, "cost", root / "P")
    probe = rundir.read_metrics(root / "P")["parameters"]
    assert code == 0 and f"total: {probe['total']:,} parameters" in out
    assert f"trainable when the run ended: {probe['trainable']:,}" in out
    code, _, err = run_cli(capsys, "cost", root / "A", "--in-chans", "3")
    assert code == 2 and err.count("\n") == 1 and "leave out --in-chans" in err
    code, _, err = run_cli(capsys, "cost", root)  # a folder that is no run
    assert code == 2 and err.count("\n") == 1 and "not a finished run" in err
