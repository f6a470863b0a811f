"""``compare`` writes its summary tables and ``report.html`` for the grid it ran (training replaced by canned
metrics: what is tested here is the bookkeeping, not the runs)."""
from __future__ import annotations

import math
import statistics
from types import SimpleNamespace

import pytest

import medtrain.compare as compare_mod
from medtrain.errors import MedtrainError
from medtrain.reports.tables import FOLDS_NOTE, paired_differences, summarise, to_csv, to_markdown


def test_compare_writes_a_report_with_every_cell_and_seed(tmp_path, monkeypatch):
    def fake_run(cfg):
        auc = 0.8 + 0.1 * float(cfg.dropout) + 0.01 * cfg.seed
        return {"seed": cfg.seed, "test": {"auc": auc, "acc": 0.7}, "val": {"auc": auc}, "best_epoch": 0,
                "stop_epoch": 1, "wall_s": 1.0}

    monkeypatch.setattr(compare_mod, "train_or_reuse", fake_run)
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    compare_mod.compare({"data": "x.npz"}, {"dropout": ["0", "0.5"]}, [0, 1], tmp_path, verbose=False)
    html = (tmp_path / "report.html").read_text()
    assert (tmp_path / "summary.md").is_file() and (tmp_path / "seeds.png").is_file()
    assert "dropout=0" in html and "0.805 ± 0.007" in html  # seeds 0 and 1 of the first cell: 0.80, 0.81
    assert '<tr class="own"><th scope="row">dropout=0.5</th>' in html and "0.850, 0.860" in html


def test_one_seed_shows_its_value_without_a_standard_deviation(tmp_path, monkeypatch):
    """The std of one run is undefined: '0.800 ± 0.000' read as 'no spread' (a user walkthrough)."""
    def fake_run(cfg):
        return {"seed": cfg.seed, "test": {"auc": 0.8, "acc": 0.7}, "val": {"auc": 0.75}, "best_epoch": 0,
                "stop_epoch": 1, "wall_s": 1.0}

    monkeypatch.setattr(compare_mod, "train_or_reuse", fake_run)
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    compare_mod.compare({"data": "x.npz"}, {"dropout": ["0"]}, [0], tmp_path, verbose=False)
    md, csv_text = (tmp_path / "summary.md").read_text(), (tmp_path / "summary.csv").read_text()
    assert "| 0 | 1 | 0.700 | 0.800 | 0.750 |" in md and "±" not in md.split("\n", 2)[2]
    header, row = csv_text.splitlines()[:2]
    values = dict(zip(header.split(","), row.split(",")))
    assert values["test_auc"] == "0.8" and values["test_auc_std"] == ""
    assert "±" not in (tmp_path / "report.html").read_text().split("<tbody>", 1)[1].split("</tbody>")[0]


def test_the_summary_header_writes_the_base_settings_as_flags_a_user_can_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(compare_mod, "train_or_reuse", lambda cfg: {
        "seed": cfg.seed, "test": {"auc": 0.8, "acc": 0.7}, "val": {"auc": 0.75}, "best_epoch": 0, "stop_epoch": 1,
        "wall_s": 1.0})
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    compare_mod.compare({"data": "x.npz", "progress": False, "augment": ["flip", "shift"], "epochs": 2},
                        {"dropout": ["0"]}, [0], tmp_path, verbose=False)
    head = (tmp_path / "summary.md").read_text().splitlines()[0]
    assert head.endswith("base settings: --data x.npz --no-progress --augment flip,shift --epochs 2")


def test_a_setting_for_all_cells_applies_where_a_cell_reads_it(tmp_path):
    # --mixup-alpha with --vary augment=flip,mixup: the flip cell does not read it, and is not refused for it
    # (a single `medtrain train` refuses a setting no op of its --augment reads)
    import numpy as np

    from conftest import fast_config, make_images
    from medtrain.compare import compare

    arrays = {}
    for split, n, seed in (("train", 48, 0), ("val", 16, 1), ("test", 16, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    np.savez(tmp_path / "tiny.npz", **arrays)
    base = {**fast_config(tmp_path / "tiny.npz", None, epochs=1, bootstrap=0), "mixup_alpha": 0.4}
    base.pop("out", None)
    rows = compare(base, {"augment": ["flip", "mixup"]}, [0], tmp_path / "cmp", verbose=False)
    assert len(rows) == 2
    # so do augment_params (cutout_p given to a shift,cutout grid had its shift cell refused)
    params = {**base, "mixup_alpha": 0.2, "augment_params": {"cutout_p": 0.5}}
    assert len(compare(params, {"augment": ["shift", "cutout"]}, [0], tmp_path / "cmp2", verbose=False)) == 2
    # and a setting no cell reads is refused before any cell trains
    with pytest.raises(MedtrainError, match="cutout_sise: no cell's --augment reads it"):
        compare({**params, "augment_params": {"cutout_sise": 8}}, {"augment": ["shift", "cutout"]}, [0],
                tmp_path / "cmp3", verbose=False)
    assert not (tmp_path / "cmp3").exists()


def test_an_op_that_cannot_apply_to_the_data_stops_the_grid_before_any_cell_trains(tmp_path):
    # `--vary augment=shift,hed` on grey images had trained the shift cell, then failed in the hed cell
    from medtrain.compare import compare

    base = _tiny(tmp_path)
    with pytest.raises(MedtrainError, match="HED jitter needs RGB images"):
        compare(base, {"augment": ["shift", "hed"]}, [0], tmp_path / "cmp", verbose=False)
    assert not (tmp_path / "cmp").exists()


def _tiny(tmp_path):
    import numpy as np

    from conftest import fast_config, make_images

    arrays = {}
    for split, n, seed in (("train", 32, 0), ("val", 16, 1), ("test", 16, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    np.savez(tmp_path / "tiny.npz", **arrays)
    base = fast_config(tmp_path / "tiny.npz", None, epochs=1, bootstrap=0)
    base.pop("out", None)
    return base


@pytest.mark.parametrize("grid, over, message", [
    # found in a user walkthrough: each trained (a cell, or the grid) before failing, or was dropped silently
    ({"color_space": ["rgb", "hed"]}, {}, "color_space hed needs RGB images"),
    ({"model": ["resnet10_28_half", "med3d_resnet10"]}, {}, "med3d_resnet10 is a 3D network"),
    ({"dropout": ["0", "0.5"]}, {"dropout": 0.3}, "dropout is both varied and given as --dropout 0.3"),
])
def test_a_grid_that_cannot_run_as_given_stops_before_any_cell_trains(tmp_path, grid, over, message):
    base = {k: v for k, v in _tiny(tmp_path).items() if k not in grid}
    base.update(over)
    with pytest.raises(MedtrainError, match=message):
        compare_mod.compare(base, grid, [0], tmp_path / "cmp", verbose=False)
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("vary, message", [
    (["dropout=0,0.0"], "'0.0' repeats a value given before it"),  # the same setting had trained twice
    (["dropout=0,0"], "'0' repeats a value"),
    (["progress=true,false"], "it does not change a run's result"),
])
def test_a_grid_of_one_setting_twice_is_refused(vary, message):
    with pytest.raises(MedtrainError, match=message):
        compare_mod.parse_vary(vary)


def test_seed_is_refused_rather_than_dropped(tmp_path, capsys):
    from medtrain.cli import main

    assert main(["compare", "--dataset", "breastmnist", "--seed", "5", "--vary", "dropout=0,0.5",
                 "--out", str(tmp_path / "cmp")]) == 2
    assert "--seed 5: compare runs seeds 0..N-1" in capsys.readouterr().err and not (tmp_path / "cmp").exists()


def test_a_changed_setting_is_refused_before_the_new_cells_train(tmp_path, monkeypatch):
    # it was refused only on reaching an old cell, after a new cell had trained beside runs of the old settings
    from medtrain import config as config_mod
    from medtrain.rundir import write_config

    base = _tiny(tmp_path)
    old = tmp_path / "cmp" / "dropout=0" / "seed0"
    old.mkdir(parents=True)
    write_config(old, config_mod.resolve(base, {"dropout": "0", "seed": 0, "out": str(old), "progress": False}))
    trained = []
    monkeypatch.setattr(compare_mod, "train_or_reuse", lambda cfg: trained.append(cfg) or {})
    with pytest.raises(MedtrainError, match="was run with other settings \\(epochs: 1, now 2\\)"):
        compare_mod.compare({**base, "epochs": 2}, {"dropout": ["0.25", "0"]}, [0], tmp_path / "cmp", verbose=False)
    assert not trained


def test_each_cell_is_compared_with_the_first_seed_by_seed_with_an_interval(tmp_path, monkeypatch):
    # the outputs had only each cell's mean ± std: a difference of +0.02 on every seed hid under a seed spread of 0.1
    seed_effect = {0: 0.60, 1: 0.70, 2: 0.80}
    gain = {0: 0.01, 1: 0.03, 2: 0.02}

    def fake_run(cfg):
        auc = seed_effect[cfg.seed] + (gain[cfg.seed] if float(cfg.dropout) > 0 else 0.0)
        return {"seed": cfg.seed, "test": {"auc": auc, "acc": 0.7}, "val": {"auc": auc}, "best_epoch": 0,
                "stop_epoch": 1, "wall_s": 1.0}

    monkeypatch.setattr(compare_mod, "train_or_reuse", fake_run)
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    rows = compare_mod.compare({"data": "x.npz"}, {"dropout": ["0", "0.5"]}, [0, 1, 2], tmp_path, verbose=False)
    d = rows[1]["paired"]
    half = 4.302653 * 0.01 / 3 ** 0.5  # Student t, 2 degrees of freedom; the differences' sd is 0.01
    assert d["pairs"] == 3 and d["d_val_auc"] == pytest.approx(0.02)
    assert d["d_val_auc_ci"] == pytest.approx([0.02 - half, 0.02 + half], abs=1e-6)
    assert rows[0]["paired"] is None and rows[1]["val_auc_std"] > 0.09  # the unpaired spread
    table = (tmp_path / "summary.md").read_text()
    assert "| reference | reference |" in table and "+0.020 [-0.005, +0.045]" in table
    assert "+0.020 [-0.005, +0.045]" in (tmp_path / "report.html").read_text()
    header, first, second = (tmp_path / "summary.csv").read_text().splitlines()
    assert "d_val_auc_lo" in header and second.split(",")[header.split(",").index("pairs")] == "3"


def test_fold_pairs_get_nadeau_and_bengios_wider_interval_and_say_so(tmp_path, monkeypatch):
    # compare --vary x --folds 5: the five fold runs share 3/4 of their training images, so the plain t interval
    # over them was too narrow; the corrected variance is (1/J + n_held/n_train) s^2 (Nadeau & Bengio 2003)
    gain = {0: 0.01, 1: 0.03, 2: 0.02, 3: 0.00, 4: 0.04}

    def fake_cv(cfg):
        return [{"seed": cfg.seed, "cv": {"folds": 5, "fold": k, "held_out": "val"},
                 "sizes": {"train": 400, "val": 100, "test": 50},
                 "test": {"auc": 0.7, "acc": 0.7}, "val": {"auc": 0.6 + k / 50 + (gain[k] if float(cfg.dropout) else 0)},
                 "best_epoch": 0, "stop_epoch": 1, "wall_s": 1.0} for k in range(5)]

    cells = [{"cell": {"dropout": v}, "runs": fake_cv(SimpleNamespace(seed=0, dropout=v))} for v in ("0", "0.5")]
    d = paired_differences(cells)[1]
    sd = statistics.stdev(gain.values())
    half = 2.776445 * sd * math.sqrt(1 / 5 + 100 / 400)  # t, 4 degrees of freedom
    assert d["ci_method"] == "nadeau-bengio" and d["pairs"] == 5
    assert d["d_val_auc_ci"] == pytest.approx([0.02 - half, 0.02 + half], abs=1e-6)
    plain = 2.776445 * sd / math.sqrt(5)
    assert half == pytest.approx(1.5 * plain)  # sqrt((1/5 + 1/4) / (1/5)): the plain one was a third too narrow
    rows = summarise(cells)
    assert FOLDS_NOTE in to_markdown(rows, ["dropout"]) and ",nadeau-bengio," in to_csv(rows, ["dropout"])
    seeds_only = [{"cell": c["cell"], "runs": [{**r, "cv": None, "seed": r["cv"]["fold"]} for r in c["runs"]]}
                  for c in cells]
    assert paired_differences(seeds_only)[1]["ci_method"] == "t"
    assert FOLDS_NOTE not in to_markdown(summarise(seeds_only), ["dropout"])
    from medtrain.reports.html import write_comparison_report
    html = write_comparison_report(tmp_path, ["dropout"], cells).read_text()
    assert "Nadeau &amp; Bengio" in html


def _canned(trained):
    def fake_run(cfg):
        trained.append(cfg.out)
        return {"seed": cfg.seed, "test": {"auc": 0.8, "acc": 0.7}, "val": {"auc": 0.75}, "best_epoch": 0,
                "stop_epoch": 1, "wall_s": 1.0}
    return fake_run


def test_a_folder_holding_another_grid_is_refused_before_any_cell_trains(tmp_path, monkeypatch):
    # `--vary dropout=0,0.5` then `--vary weight_decay=0,0.1` into one --out: the second silently replaced the
    # summary, and the dropout cells, still on disk, were summarised nowhere (a user walkthrough)
    trained = []
    monkeypatch.setattr(compare_mod, "train_or_reuse", _canned(trained))
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    base = {"data": "x.npz", "epochs": 2}
    compare_mod.compare(base, {"dropout": ["0", "0.5"]}, [0, 1], tmp_path, verbose=False)
    summary = (tmp_path / "summary.md").read_text()
    for grid, seeds, over in (({"weight_decay": ["0", "0.1"]}, [0, 1], {}),  # other axes
                              ({"dropout": ["0"]}, [0, 1], {}),  # a value of the folder's grid left out
                              ({"dropout": ["0", "0.5"]}, [0], {}),  # a seed left out
                              ({"dropout": ["0.25"]}, [0, 1], {})):  # other values only
        trained.clear()
        with pytest.raises(MedtrainError, match=r"holds the comparison of another grid \(--vary dropout=0,0.5 x "
                                                r"seeds 0, 1\), whose cells this one's summary would leave out"):
            compare_mod.compare({**base, **over}, grid, seeds, tmp_path, verbose=False)
        assert not trained and (tmp_path / "summary.md").read_text() == summary
    with pytest.raises(MedtrainError, match=r"holds this grid run with other base settings \(epochs: 2, now 3\)"):
        compare_mod.compare({**base, "epochs": 3}, {"dropout": ["0", "0.5"]}, [0, 1], tmp_path, verbose=False)
    assert not trained and (tmp_path / "summary.md").read_text() == summary


def test_the_same_grid_again_or_one_that_extends_it_rewrites_the_summary(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(compare_mod, "train_or_reuse", _canned(trained))
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    base = {"data": "x.npz", "epochs": 30}  # the default
    compare_mod.compare(base, {"dropout": ["0", "0.5"]}, [0], tmp_path, verbose=False)
    # the same grid (the default given as a flag, or left out: one setting), then one with a value and a seed more
    assert len(compare_mod.compare({"data": "x.npz"}, {"dropout": ["0", "0.5"]}, [0], tmp_path, verbose=False)) == 2
    rows = compare_mod.compare(base, {"dropout": ["0", "0.25", "0.5"]}, [0, 1], tmp_path, verbose=False)
    assert len(rows) == 3 and "x seeds [0, 1]" in (tmp_path / "summary.md").read_text()
    # the folder now holds the larger grid: the first one alone would leave cells out
    with pytest.raises(MedtrainError, match="another grid"):
        compare_mod.compare(base, {"dropout": ["0", "0.5"]}, [0], tmp_path, verbose=False)


def _cv_runs(seed: int, folds: int | None, auc: float, only: list[int] | None = None) -> list[dict]:
    """A cell's runs for one seed: its fold runs of a ``folds``-fold cross-validation (``only`` those folds), or
    one run without folds."""
    if not folds:
        return [{"seed": seed, "test": {"auc": auc, "acc": 0.7}, "val": {"auc": auc}, "best_epoch": 0,
                 "stop_epoch": 1, "wall_s": 1.0}]
    return [{"seed": seed, "cv": {"folds": folds, "fold": k, "held_out": "val"},
             "sizes": {"train": 400, "val": 100, "test": 50}, "test": {"auc": auc + k / 100, "acc": 0.7},
             "val": {"auc": auc + k / 100 + seed / 50}, "best_epoch": 0, "stop_epoch": 1, "wall_s": 1.0}
            for k in (range(folds) if only is None else only)]


def test_a_cell_whose_runs_share_no_split_with_the_first_is_said_not_paired(tmp_path):
    # `compare --vary folds=0,3 --seeds 2`: the fold runs share no (seed, fold) with the runs without folds; the
    # Δ columns had printed +nan (the csv 0 pairs, ci_method t) under a note calling every cell paired seed by seed
    from medtrain.reports.html import write_comparison_report
    from medtrain.reports.tables import NOT_PAIRED

    cells = [{"cell": {"folds": "0"}, "runs": _cv_runs(0, 0, 0.7) + _cv_runs(1, 0, 0.8)},
             {"cell": {"folds": "3"}, "runs": _cv_runs(0, 3, 0.9) + _cv_runs(1, 3, 0.9)}]
    rows = summarise(cells)
    md, csv_text = to_markdown(rows, ["folds"]), to_csv(rows, ["folds"])
    assert "nan" not in md.lower() and "nan" not in csv_text.lower()
    assert f"| {NOT_PAIRED} | {NOT_PAIRED} |" in md
    assert "Not paired with the first cell: folds=3." in md
    header, _, second = csv_text.splitlines()
    values = dict(zip(header.split(","), second.split(",")))
    assert values["ci_method"] == "unpaired" and values["pairs"] == "0" and values["d_val_auc"] == ""
    html = write_comparison_report(tmp_path, ["folds"], cells).read_text()
    assert "+nan" not in html and html.count(NOT_PAIRED) == 3  # its three Δ columns (val AUC, test AUC, test ACC)
    assert "Not paired with the first cell: folds=3." in html
    # fold 0 of 3 folds and fold 0 of 5 are different splits too: not pairs
    other_k = [{"cell": {"folds": "3"}, "runs": _cv_runs(0, 3, 0.9)}, {"cell": {"folds": "5"}, "runs": _cv_runs(0, 5, 0.9)}]
    assert paired_differences(other_k)[1]["ci_method"] == "unpaired"
    # a cell that does share seeds and splits with the first is paired as before
    same = [{"cell": {"dropout": v}, "runs": _cv_runs(0, 3, 0.9) + _cv_runs(1, 3, 0.9)} for v in ("0", "0.5")]
    assert paired_differences(same)[1]["pairs"] == 6


def test_seeds_of_one_fold_get_the_plain_t_interval_not_nadeau_and_bengios(tmp_path):
    # `--folds 3 --fold 0 --seeds 2`: every pair trains on the one fold's training images in both cells; the
    # correction for training sets that overlap between pairs had widened their interval all the same
    from medtrain.reports.html import write_comparison_report

    gain = {0: 0.01, 1: 0.03, 2: 0.02}
    cells = [{"cell": {"dropout": v}, "runs": [r for s in range(3) for r in _cv_runs(s, 3, 0.7 + (gain[s] if v != "0" else 0),
                                                                                  only=[0])]}
             for v in ("0", "0.5")]
    d = paired_differences(cells)[1]
    half = 4.302653 * 0.01 / math.sqrt(3)  # Student t, 2 degrees of freedom, sd 0.01 over 3 pairs
    assert d["ci_method"] == "t" and d["pairs"] == 3
    assert d["d_val_auc_ci"] == pytest.approx([0.02 - half, 0.02 + half], abs=1e-6)
    rows = summarise(cells)
    assert FOLDS_NOTE not in to_markdown(rows, ["dropout"]) and ",nadeau-bengio," not in to_csv(rows, ["dropout"])
    assert "Nadeau" not in write_comparison_report(tmp_path, ["dropout"], cells).read_text()
    # two folds of the seeds: the correction applies
    two = [{"cell": c["cell"], "runs": [r for s in range(2) for r in _cv_runs(s, 3, 0.7 + (0.01 * s if c["cell"]["dropout"] != "0"
                                                                                         else 0), only=[0, 1])]}
           for c in cells]
    assert paired_differences(two)[1]["ci_method"] == "nadeau-bengio"


def test_a_folder_of_an_earlier_version_without_grid_json_is_not_taken_over_by_another_grid(tmp_path, monkeypatch):
    # a compare folder written before grid.json existed was silently given another grid's summary, its own
    # cells on disk summarised nowhere
    trained = []
    monkeypatch.setattr(compare_mod, "train_or_reuse", _canned(trained))
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    for cell in ("dropout=0", "dropout=0.5"):
        (tmp_path / cell / "seed0").mkdir(parents=True)
    (tmp_path / "notes").mkdir()  # not a cell: a user's own folder is no reason to refuse
    for grid, seeds in (({"weight_decay": ["0", "0.1"]}, [0]), ({"dropout": ["0"]}, [0]),
                        ({"dropout": ["0", "0.5"]}, [1])):
        with pytest.raises(MedtrainError, match=r"holds the comparison of another grid \(.*dropout=0.*seed0, a run "
                                                r"this grid's summary would leave out") as refused:
            compare_mod.compare({"data": "x.npz"}, grid, seeds, tmp_path, verbose=False)
        assert "\n" not in str(refused.value) and not trained and not (tmp_path / "grid.json").exists()
    # the folder's own grid (or one adding to it) is accepted, and recorded from now on
    rows = compare_mod.compare({"data": "x.npz"}, {"dropout": ["0", "0.5", "0.9"]}, [0, 1], tmp_path, verbose=False)
    assert len(rows) == 3 and (tmp_path / "grid.json").is_file()


def test_a_comparison_of_no_seeds_is_refused_in_one_line(tmp_path, monkeypatch):
    # compare(base, grid, seeds=[]) had returned rows of NaN, of no run
    trained = []
    monkeypatch.setattr(compare_mod, "train_or_reuse", _canned(trained))
    with pytest.raises(MedtrainError, match="at least one seed") as refused:
        compare_mod.compare({"data": "x.npz"}, {"dropout": ["0", "0.5"]}, [], tmp_path / "cmp", verbose=False)
    assert "\n" not in str(refused.value) and not trained and not (tmp_path / "cmp").exists()


def test_a_paired_interval_of_an_auc_difference_stays_within_minus_1_and_1():
    # two seeds of very different differences: the t interval had read -0.125 [-4.294, +4.044]
    cells = [{"cell": {"lr": lr}, "runs": [{"seed": s, "val": {"auc": v}, "test": {"auc": v, "acc": 0.5}}
                                          for s, v in enumerate(vals)]}
             for lr, vals in (("0.001", (0.5, 0.5)), ("0.01", (0.9, 0.25)))]
    d = paired_differences(cells)[1]
    assert d["d_val_auc"] == pytest.approx(0.075) and d["d_val_auc_ci"] == [-1.0, 1.0]
