"""What the loaders say of a data set (a label read like a missing value, squashed images, cut volumes...) is said
when a run trains on it, not again by every later command on the finished run: `medtrain eval RUN` and
`medtrain export RUN` re-read the run's own data and had repeated the training CSV's "label 'none'" line (and
`eval RUN --data NEW` said it of the training CSV beside the one of NEW). New data a user gives is still said of."""
import warnings

import pytest

from conftest import make_images, png_csv, run_cli

SAID = "have the label 'none'"


def _data(root, seed):
    root.mkdir()
    images, labels = make_images(40, seed=seed)
    return png_csv(root, images, labels, classes=["none", "lesion"])  # 'none': what a spreadsheet writes for NaN


def _said(err: str, csv) -> int:
    return sum(SAID in line and str(csv) in line for line in err.splitlines())


@pytest.fixture(autouse=True)
def _every_warning_shown():
    """Each command as a process of its own: a warning said before in this process is shown again."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        yield


def test_the_training_data_is_said_of_once_by_train_not_by_eval_or_export_of_the_run(tmp_path, capsys):
    data, new = _data(tmp_path / "d", 0), _data(tmp_path / "new", 5)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--data", data, "--model", "resnet10_28_half", "--epochs", "1",
                           "--batch-size", "16", "--bootstrap", "0", "--flip", "true", "--precision", "32-true",
                           "--out", run, "--no-progress")
    assert code == 0 and _said(err, data) == 1, err

    for argv in (["eval", run], ["export", run, "--out", tmp_path / "m.pt", "--format", "torchscript"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 0 and SAID not in err, (argv, err)

    code, _, err = run_cli(capsys, "eval", run, "--data", new)  # new data with the same problem: news, said
    assert code == 0 and _said(err, new) == 1 and _said(err, data) == 0, err
