"""``medtrain eval RUN --vs OTHER``: two runs compared on the same test images, paired; refused, in one line,
where the test images are not the same."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from conftest import run_cli
from medtrain.external import external_file
from medtrain.versus import versus_file


def _other(run, dest, change, bootstrap=200):
    """A copy of ``run`` whose test probabilities are ``change(p1)`` (the second model), with ``bootstrap`` draws
    (the shared run has none)."""
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("eval_*.json", "checkpoints", "report.html", "*.png"))
    config = dest / "config.yaml"
    config.write_text(config.read_text().replace("bootstrap: 0\n", f"bootstrap: {bootstrap}\n"))
    path = dest / "predictions_test.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    p0, p1 = head.index("p0"), head.index("p1")
    for r in rows[1:]:
        q = float(np.clip(change(float(r[p1])), 0, 1))
        r[p0], r[p1] = f"{1 - q:.8f}", f"{q:.8f}"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return dest


def test_a_run_against_another_on_its_test_images(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    y = arrays["test_labels"][:, 0]
    rng = np.random.default_rng(0)
    noisy = rng.normal(0, 0.4, len(y))
    other = _other(run, tmp_path / "other", lambda p, it=iter(noisy): p + next(it))
    code, out, err = run_cli(capsys, "eval", run, "--vs", other)  # the shared run: bootstrap 0, no interval
    assert code == 0, err
    got = json.loads((run / versus_file(other)).read_text())
    test = json.loads((run / "metrics.json").read_text())["test"]
    oth = json.loads((other / "metrics.json").read_text())  # a copy: its own metrics are the first run's
    assert got["auc"]["run"] == pytest.approx(test["auc"]) and got["acc"]["run"] == pytest.approx(test["acc"])
    assert got["auc"]["other"] != pytest.approx(oth["test"]["auc"])  # its changed predictions are what is scored
    assert got["auc"]["difference"] == pytest.approx(got["auc"]["run"] - got["auc"]["other"])
    assert got["same_test_set"] == "sha256" and got["n"] == len(y)
    assert got["auc"]["test"] == "DeLong" and 0 < got["auc"]["p"] < 1
    assert got["acc"]["test"] == "McNemar exact"
    assert got["acc"]["run_only_correct"] - got["acc"]["other_only_correct"] == round(
        got["acc"]["difference"] * len(y))
    assert "DeLong p =" in out and "McNemar exact p =" in out and "written to" in out
    # the shared run has no bootstrap, the other 200 draws: the comparison takes the larger, in either order
    lo, hi = got["auc"]["difference_ci"]
    assert got["bootstrap"] == 200 and lo <= got["auc"]["difference"] <= hi
    assert run_cli(capsys, "eval", other, "--vs", run)[0] == 0
    back = json.loads((other / versus_file(run)).read_text())
    assert back["auc"]["difference_ci"] == pytest.approx([-hi, -lo]) and back["auc"]["p"] == pytest.approx(
        got["auc"]["p"])
    assert json.loads((run / "metrics.json").read_text())["test"] == test  # the run's own metrics are untouched


def test_the_same_predictions_are_no_difference(trained_run, tmp_path, capsys):
    run, _, _ = trained_run
    twin = _other(run, tmp_path / "twin", lambda p: p)
    assert run_cli(capsys, "eval", twin, "--vs", run)[0] == 0
    got = json.loads(next(twin.glob("eval_vs_*.json")).read_text())
    assert got["auc"]["difference"] == pytest.approx(0, abs=1e-7) and got["acc"]["difference"] == 0
    assert got["acc"]["p"] == 1.0 and got["acc"]["run_only_correct"] == got["acc"]["other_only_correct"] == 0


def test_runs_on_different_test_images_are_refused_in_one_line(trained_run, tmp_path, capsys):
    run, _, _ = trained_run
    other = _other(run, tmp_path / "elsewhere", lambda p: p)
    m = json.loads((other / "metrics.json").read_text())
    m["provenance"]["data_sha256"]["test"] = "0" * 64
    (other / "metrics.json").write_text(json.dumps(m))
    before = sorted(p.name for p in run.iterdir())
    code, out, err = run_cli(capsys, "eval", run, "--vs", other)
    assert code == 2 and "different test images" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written

    del m["provenance"]["data_sha256"]  # a run from before digests: matched by its labels, and said so
    (other / "metrics.json").write_text(json.dumps(m))
    code, out, err = run_cli(capsys, "eval", run, "--vs", other)
    assert code == 0 and "matched by their labels only" in out
    with open(other / "predictions_test.csv", newline="") as f:
        rows = list(csv.reader(f))
    rows[1][rows[0].index("label0")] = str(1 - int(rows[1][rows[0].index("label0")]))
    with open(other / "predictions_test.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    code, out, err = run_cli(capsys, "eval", run, "--vs", other)
    assert code == 2 and "their labels or inputs differ" in err
    rows[1][rows[0].index("label0")] = str(1 - int(rows[1][rows[0].index("label0")]))  # labels as they were,
    i, lab = rows[0].index("input"), rows[0].index("label0")
    a, b = [r for r in rows[1:] if r[lab] == rows[1][lab]][:2]
    a[i], b[i] = b[i], a[i]  # but two images of one label named in another order
    with open(other / "predictions_test.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert run_cli(capsys, "eval", run, "--vs", other)[0] == 2


def test_vs_split_chooses_only_an_external_npz_s_split(trained_run, tmp_path, capsys):
    run, _, _ = trained_run
    code, _, err = run_cli(capsys, "eval", run, "--vs", tmp_path, "--split", "val")
    assert code == 2 and "--split chooses the split of a --data .npz only" in err


def test_two_runs_compared_on_external_data_are_both_scored_on_it(trained_run, tmp_path, capsys):
    """Which model carries over to another site: both runs scored on the external data now, then compared
    image by image, as on their own test split; the numbers are each run's own external evaluation."""
    import medtrain
    from conftest import fast_config

    run, data, _ = trained_run
    other = tmp_path / "seed1"
    medtrain.train(fast_config(data, other, model="resnet18_28_half", epochs=1, bootstrap=100, tta="hflip",
                               seed=1), verbose=False)
    code, out, err = run_cli(capsys, "eval", other, "--vs", run, "--data", data, "--split", "val")
    assert code == 0, err
    got = json.loads((other / versus_file(run, data, "val")).read_text())
    mine = json.loads((other / external_file(data, "val")).read_text())  # an .npz's val split: named so
    theirs = json.loads((run / external_file(data, "val")).read_text())
    assert got["split"] == f"external {data} (val split)" and got["n"] == mine["n"] == 16  # the .npz's val split
    assert got["auc"]["run"] == pytest.approx(mine["auc"]) and got["auc"]["other"] == pytest.approx(theirs["auc"])
    assert got["acc"]["difference"] == pytest.approx(mine["acc"] - theirs["acc"])
    assert got["same_test_set"] == "external data, scored now" and "16 images of external" in out


def test_a_run_against_itself_or_an_unfinished_folder_is_refused(trained_run, tmp_path, capsys):
    run, _, _ = trained_run
    assert "the run itself" in run_cli(capsys, "eval", run, "--vs", run)[2]
    code, _, err = run_cli(capsys, "eval", run, "--vs", tmp_path)
    assert code == 2 and "not a finished run" in err


def test_with_several_images_per_patient_only_the_patient_interval_is_given(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    noisy = iter(np.random.default_rng(1).normal(0, 0.4, len(arrays["test_labels"])))
    first, second = _other(run, tmp_path / "a", lambda p: p), _other(run, tmp_path / "b", lambda p: p + next(noisy))
    for r in (first, second):  # the same patients in both: 4 images each
        path = r / "predictions_test.csv"
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        rows = [rows[0] + ["group"]] + [row + [f"patient{i // 4}"] for i, row in enumerate(rows[1:])]
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(rows)
    code, out, err = run_cli(capsys, "eval", first, "--vs", second)
    assert code == 0, err
    got = json.loads((first / versus_file(second)).read_text())
    assert got["patients"] == 10 and got["auc"]["p"] is None and got["acc"]["p"] is None
    assert "of 10 patients" in out and "not independent" in out and "DeLong p" not in out
    lo, hi = got["auc"]["difference_ci"]
    assert lo <= got["auc"]["difference"] <= hi and got["auc"]["difference_ci_draws"] > 100


def test_comparisons_with_runs_of_one_name_in_other_folders_keep_their_own_files(tmp_path):
    """runs/x/a/seed0 and runs/y/a/seed0 had both written eval_vs_a-seed0.json, the second over the first."""
    names = {versus_file(tmp_path / "x" / "a" / "seed0"), versus_file(tmp_path / "y" / "a" / "seed0"),
             versus_file(tmp_path / "p-q" / "seed0"), versus_file(tmp_path / "p" / "q-seed0"),
             versus_file(tmp_path / "x" / "a" / "seed0", "d.npz", "test"),
             versus_file(tmp_path / "x" / "a" / "seed0", "d.npz", "val")}
    assert len(names) == 6 and all(n.startswith("eval_vs_") for n in names)


def test_a_cross_validation_folder_points_to_its_fold_runs(trained_run, tmp_path, capsys):
    run, _, _ = trained_run
    cv = tmp_path / "cv"
    for k in range(2):
        shutil.copytree(run, cv / f"fold{k}", ignore=shutil.ignore_patterns("eval_*.json", "checkpoints", "*.png"))
    code, _, err = run_cli(capsys, "eval", run, "--vs", cv)
    assert code == 2 and "not a finished run (no metrics.json); compare its fold runs (fold0, fold1)" in err


def test_a_fold_run_and_a_plain_run_of_one_npz_compare_though_they_name_images_apart(trained_run, tmp_path, capsys):
    """A fold run of an .npz names test image 0 'test/0', a plain run '0'; their digests agree, so they are the
    same test set, and the comparison after cross-validation the README suggests is not refused."""
    run, _, _ = trained_run
    fold = _other(run, tmp_path / "fold0", lambda p: p)
    path = fold / "predictions_test.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    i = rows[0].index("input")
    for r in rows[1:]:
        r[i] = f"test/{r[i]}"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    code, out, err = run_cli(capsys, "eval", run, "--vs", fold)
    assert code == 0, err
    assert "(the two runs make the same call on every image)" in out  # not '+0.000 [+0.000, +0.000]'


def test_with_few_positives_the_auc_difference_takes_the_mover_interval_and_patients_keep_the_bootstrap(
        trained_run, tmp_path, capsys):
    """19 positives of 40 test images (fewer than intervals.FEW_FOR_AUC, where a run's own AUC takes Newcombe's
    interval): the paired bootstrap's interval of the AUC difference (83-91% in simulated test sets) and DeLong's
    difference +- 1.96 se (89-95%) are too narrow there, so it is MOVER's (Newcombe's interval of each AUC with
    DeLong's correlation, 95-98%), named so in metrics and on the printed line; ACC's difference keeps the
    bootstrap."""
    from medtrain._predictions_csv import read_saved
    from medtrain.significance import mover_interval

    run, _, arrays = trained_run
    assert int(arrays["test_labels"].sum()) < 30
    noisy = iter(np.random.default_rng(2).normal(0, 0.3, len(arrays["test_labels"])))
    other = _other(run, tmp_path / "other", lambda p: p + next(noisy))
    code, out, err = run_cli(capsys, "eval", other, "--vs", run)
    assert code == 0, err
    got = json.loads((other / versus_file(run)).read_text())
    a = got["auc"]
    assert a["difference_ci_method"] == "mover" and a["difference_ci_reason"] == "few images of a class"
    y = arrays["test_labels"][:, 0]
    want = mover_interval(y, read_saved(other, "test").scores[:, -1], read_saved(run, "test").scores[:, -1])
    lo, hi = a["difference_ci"]
    assert [lo, hi] == pytest.approx(want["difference_ci"], abs=1e-6) and a["r"] == pytest.approx(want["r"], abs=1e-6)
    assert -1 <= lo < a["difference"] < hi <= 1 and a["test"] == "DeLong" and a["se"] > 0
    assert "MOVER interval, Newcombe's interval of each AUC with DeLong's correlation: fewer than 30" in out
    assert "difference_ci_method" not in got["acc"] and got["acc"]["difference_ci_draws"] > 100
    for r in (run, other):  # the same images as 10 patients of 4: DeLong's independent images do not hold
        shutil.copytree(r, tmp_path / f"grouped_{r.name}", ignore=shutil.ignore_patterns("eval_*.json", "checkpoints"))
        path = tmp_path / f"grouped_{r.name}" / "predictions_test.csv"
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        rows = [rows[0] + ["group"]] + [row + [f"patient{i // 4}"] for i, row in enumerate(rows[1:])]
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(rows)
    code, out, err = run_cli(capsys, "eval", tmp_path / "grouped_other", "--vs", tmp_path / "grouped_run")
    assert code == 0, err
    grouped = json.loads((tmp_path / "grouped_other" / versus_file(tmp_path / "grouped_run")).read_text())
    assert "difference_ci_method" not in grouped["auc"] and grouped["auc"]["difference_ci_draws"] > 100


@pytest.mark.parametrize("positives", [29, 30])
def test_the_auc_difference_takes_mover_below_30_images_of_a_class_and_the_bootstrap_from_30(
        trained_run, tmp_path, capsys, positives):
    """The switch is a run's own (intervals.FEW_FOR_AUC, metrics.few_for_auc): a binary test set whose rarer
    class has 29 images gets MOVER's interval of the AUC difference, one of 30 keeps the paired bootstrap's; both
    keep DeLong's test."""
    run, _, _ = trained_run
    rng = np.random.default_rng(positives)
    y = np.r_[np.ones(positives, int), np.zeros(60, int)]
    shared = rng.normal(0, 1, len(y))
    pair = []
    for name, lift in (("a", 2.0), ("b", 1.5)):  # two runs of one test set (the run's digest): new predictions
        dest = _other(run, tmp_path / name, lambda p: p)
        q = 1 / (1 + np.exp(-(lift * y + shared + rng.normal(0, 0.7, len(y)))))
        with open(dest / "predictions_test.csv", "w", newline="") as f:
            csv.writer(f).writerows([["index", "label0", "p0", "p1", "input"]] + [
                [str(i), str(y[i]), f"{1 - q[i]:.9g}", f"{q[i]:.9g}", str(i)] for i in range(len(y))])
        pair.append(dest)
    code, out, err = run_cli(capsys, "eval", *pair[:1], "--vs", pair[1])
    assert code == 0, err
    a = json.loads((pair[0] / versus_file(pair[1])).read_text())["auc"]
    assert a["test"] == "DeLong" and 0 <= a["p"] <= 1
    lo, hi = a["difference_ci"]
    assert -1 <= lo < a["difference"] < hi <= 1
    if positives < 30:
        assert a["difference_ci_method"] == "mover" and "difference_ci_draws" not in a and "MOVER interval" in out
    else:
        assert "difference_ci_method" not in a and a["difference_ci_draws"] > 100 and "MOVER" not in out
