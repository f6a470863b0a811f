"""medtrain models --dataset: accuracy beside cost."""


def test_models_dataset_trains_each_network_and_draws_the_scatter(tiny_npz, tmp_path, monkeypatch, capsys):
    """--dataset: one short run per network beside its MACs, and a scatter PNG."""
    import shutil

    from medtrain.cli import main

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(tiny_npz, data / "breastmnist.npz")  # a MedMNIST name, tiny synthetic content
    monkeypatch.setenv("MEDTRAIN_DATA", str(data))
    code = main(["models", "--dataset", "breastmnist", "--names", "resnet18", "--epochs", "1",
                 "--plot", str(tmp_path / "s.png"), "--runs", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0 and "| `resnet18` |" in out and (tmp_path / "s.png").stat().st_size > 1000
    assert (tmp_path / "runs" / "resnet18" / "metrics.json").is_file()
