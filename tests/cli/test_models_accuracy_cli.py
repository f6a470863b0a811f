"""medtrain models --dataset: accuracy beside cost."""


def test_models_dataset_trains_each_network_and_draws_the_scatter(tiny_npz, tmp_path, monkeypatch, capsys):
    """--dataset: one short run per network beside its MACs, and a scatter PNG."""
    import shutil

    from medtrain.cli import main

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(tiny_npz, data / "breastmnist.npz")  # a MedMNIST name, tiny synthetic content
    monkeypatch.setenv("MEDTRAIN_DATA", str(data))
    # the smallest network of the zoo: what the command does per network does not depend on which (resnet18 had been
    # ~4x the training time)
    code = main(["models", "--dataset", "breastmnist", "--names", "resnet10_28_half", "--epochs", "1",
                 "--plot", str(tmp_path / "s.png"), "--runs", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0 and "| `resnet10_28_half` |" in out and (tmp_path / "s.png").stat().st_size > 1000
    # the row (tiny_npz is 16 px): | model | params (M) | MMACs @16 | test AUC | test ACC | val AUC | wall (s) |, from the run's own files
    import json

    assert "| model | params (M) | MMACs @16 |" in out
    row = next(line for line in out.splitlines() if line.startswith("| `resnet10_28_half` |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    m = json.loads((tmp_path / "runs" / "resnet10_28_half" / "metrics.json").read_text())
    assert float(cells[3]) == round(m["test"]["auc"], 3) and float(cells[4]) == round(m["test"]["acc"], 3)
    assert float(cells[5]) == round(m["val"]["auc"], 3)
    assert main(["cost", "resnet10_28_half", "--input", "16", "--in-chans", "1", "--num-classes", "2", "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)  # the same count as `medtrain cost`
    assert float(cells[2]) == round(cost["macs"] / 1e6, 1) and float(cells[1]) == round(cost["params"] / 1e6, 2)


def test_a_run_of_two_networks_is_costed_as_two(tiny_npz, tmp_path, monkeypatch, capsys):
    """A run that averaged two networks (the default 3D network in bf16) had been costed as one beside the
    ensemble's accuracy: its row now counts both."""
    import json
    import shutil

    import yaml

    import medtrain.api
    from medtrain.cli import main

    def two_networks(cfg, **_):  # what a finished run of `members: 2` leaves, without training it
        out = tmp_path / "runs" / cfg.model
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump({"model": cfg.model, "members": 2}))
        return {"test": {"auc": 0.7, "acc": 0.6}, "val": {"auc": 0.8}, "wall_s": 1.0}

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(tiny_npz, data / "breastmnist.npz")
    monkeypatch.setenv("MEDTRAIN_DATA", str(data))
    monkeypatch.setattr(medtrain.api, "train_or_reuse", two_networks)
    code = main(["models", "--dataset", "breastmnist", "--names", "resnet18", "--epochs", "1", "--json",
                 "--plot", str(tmp_path / "s.png"), "--runs", str(tmp_path / "runs")])
    row = json.loads(capsys.readouterr().out)[0]
    assert code == 0 and row["members"] == 2
    assert main(["cost", "resnet18", "--input", "16", "--in-chans", "1", "--num-classes", "2", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert (row["params"], row["macs"]) == (2 * one["params"], 2 * one["macs"])
    # --csv: the same row as CSV (it had printed the Markdown table)
    assert main(["models", "--dataset", "breastmnist", "--names", "resnet18", "--epochs", "1", "--csv",
                 "--plot", str(tmp_path / "s.png"), "--runs", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "name,members,params,macs,test_auc,test_acc,val_auc,wall_s"
    assert lines[1] == f"resnet18,2,{row['params']},{row['macs']},0.7,0.6,0.8,1.0"
