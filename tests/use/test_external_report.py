"""``medtrain eval RUN --data EXTERNAL`` puts the site on the run's report.html: an "External testing" section with a
block per site scored so far (its table beside the run's own test numbers, its ROC/PR and reliability figures), and
one plain sentence where the operating point's target lies outside the site's interval."""
from __future__ import annotations

import json
import re

import pytest
from safetensors.torch import load_file, save_file

from conftest import copy_as_trained, png_csv, run_cli
from medtrain._external_report import external_plot_files, target_missed
from medtrain.external import external_file, external_name
from medtrain.reports.html import png_data_uri

MISSED = "the target, whose value lies"


def _section(run) -> str:
    """The report's External testing section ('' where it has none)."""
    page = (run / "report.html").read_text()
    start = page.find("<h2>External testing</h2>")
    return "" if start < 0 else page[start:page.find("<h2>", start + 1)]


def _sites(root, arrays):
    """Two sites from the run's test images: a CSV naming patients (four images each) and a folder of classes."""
    images, labels = arrays["test_images"], arrays["test_labels"]
    listed = png_csv(root / "a", images[:24], labels[:24], path="imgs/{i:03d}.png", name="site_a.csv",
                     columns={"patient": [f"p{i // 4}" for i in range(24)]})
    folder = png_csv(root / "b", images[24:], labels[24:], path="{label}/{i:03d}.png", name=None)
    return listed, folder


@pytest.fixture(scope="module")
def run_copy(trained_run, tmp_path_factory):
    """A copy of the session's trained run (other files score external data into the shared one) and two sites."""
    run, _, arrays = trained_run
    root = tmp_path_factory.mktemp("external_report")
    return copy_as_trained(run, root / "run"), _sites(root, arrays)


def test_eval_data_adds_the_site_to_the_report_with_its_numbers_and_figures(run_copy, capsys):
    run, (site_a, site_b) = run_copy
    assert _section(run) == ""  # written at training: no site yet
    code, out, err = run_cli(capsys, "eval", run, "--data", site_a)
    assert code == 0, err
    res = json.loads((run / external_file(site_a)).read_text())
    section = _section(run)
    assert str(site_a.resolve()) in section and f"{res['auc']:.3f}" in section and f"{res['acc']:.3f}" in section
    assert f"{res['n']} images of {res['patients']} patients" in section  # a grouped site's intervals: patients
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert f"{test['auc']:.3f}" in section  # beside the run's own test AUC
    for f in external_plot_files(external_name(site_a, "test")).values():
        assert (run / f).is_file() and png_data_uri(run / f) in section  # drawn, and embedded in its block
    assert "Per-class results (test)" in (run / "report.html").read_text()  # the run's own report kept
    assert f"report: {run / 'report.html'}" in out and MISSED not in out  # no target: the run has no operating point


def test_a_second_site_adds_a_block_and_a_site_scored_again_replaces_its_own(run_copy, capsys):
    run, (site_a, site_b) = run_copy
    if not (run / external_file(site_a)).is_file():
        assert run_cli(capsys, "eval", run, "--data", site_a)[0] == 0
    assert run_cli(capsys, "eval", run, "--data", site_b)[0] == 0
    section = _section(run)
    assert section.count("<h3>") == 2 and "no patients named: intervals over images" in section
    assert run_cli(capsys, "eval", run, "--data", site_a)[0] == 0  # the same data again: its block, newest scores
    again = _section(run)
    assert again.count("<h3>") == 2 and again.count(external_file(site_a)) == 1
    assert again.count(external_file(site_b)) == 1


def _with_operating_point(run, threshold: float, rule: str = "specificity=0.9") -> None:
    """The run's weights given an operating point (rule, threshold on class 1), as training records one."""
    path = run / "model.safetensors"
    from medtrain.models.weights import read_meta

    meta = {**read_meta(path), "threshold": threshold, "positive_class": 1, "operating_point": rule}
    save_file(load_file(path), str(path), metadata={k: json.dumps(v) for k, v in meta.items()})


def test_the_report_and_eval_say_when_the_rule_s_target_lies_outside_the_site_s_interval(trained_run, tmp_path,
                                                                                        capsys):
    """A threshold chosen for specificity 0.9 on validation that calls every image of a site positive (threshold 0:
    specificity 0 [0, 0.2]) misses the target there: one line printed and one sentence in the site's block; one
    that calls none positive (specificity 1, its interval holding 0.9) keeps it: neither."""
    run, _, arrays = trained_run
    run = copy_as_trained(run, tmp_path / "run")
    site, _ = _sites(tmp_path, arrays)
    _with_operating_point(run, 0.0)
    code, out, err = run_cli(capsys, "eval", run, "--data", site)
    assert code == 0, err
    said = [line.strip() for line in out.splitlines() if MISSED in line]
    assert len(said) == 1 and said[0].startswith("At this site the run's threshold, chosen on its validation split "
                                                 "for specificity 0.9, gives specificity 0.000 [")
    section = _section(run)
    assert said[0] in section and "star marks the operating point" in section
    _with_operating_point(run, 1.01)  # nothing called positive: specificity 1, the target inside its interval
    code, out, err = run_cli(capsys, "eval", run, "--data", site)
    assert code == 0, err
    assert MISSED not in out and MISSED not in _section(run) and "specificity at the threshold" in _section(run)


@pytest.mark.parametrize("op, missed", [
    ({"rule": "specificity=0.9", "specificity": 0.457, "specificity_ci": [0.309, 0.612]},
     "specificity 0.457 [0.309, 0.612]: below the target, whose value lies above this 95% interval."),
    # above its target: not missed, traded (a site's 1.000 [0.923, 1.000] for 0.9 had read as a miss)
    ({"rule": "sensitivity=0.95", "sensitivity": 0.97, "sensitivity_ci": [0.96, 0.99]},
     "sensitivity 0.970 [0.960, 0.990]: above the target, whose value lies below this 95% interval: the threshold "
     "calls more positives than it was chosen to, paid in specificity."),
    ({"rule": "specificity=0.9", "specificity": 0.88, "specificity_ci": [0.8, 0.93]}, None),
    ({"rule": "youden", "specificity": 0.4, "specificity_ci": [0.3, 0.5]}, None),
    ({"rule": "specificity=0.9", "specificity": None, "specificity_ci": [None, None]}, None),
    ({"rule": "sensitivity=0.9", "per_label": {"a": {"sensitivity": 0.5, "sensitivity_ci": [0.4, 0.6]},
                                               "b": {"sensitivity": 0.9, "sensitivity_ci": [0.8, 0.95]}}},
     "1 label: 'a' 0.500 [0.400, 0.600] (below it)"),
])
def test_the_target_sentence_appears_exactly_where_the_interval_leaves_the_target_out(op, missed):
    said = target_missed(op)
    assert (missed in said and re.search(r"\[\d\.\d{3}, \d\.\d{3}\]", said)) if missed else said == ""


def test_the_run_s_own_test_split_gets_the_sentence_a_site_in_its_state_gets(trained_run, tmp_path):
    # a site's sensitivity interval above its target was said, the test split's in the same state was not
    import json

    from medtrain._run_report import write_report
    from medtrain.rundir import read_config

    run, _, _ = trained_run
    run = copy_as_trained(run, tmp_path / "run")
    m = json.loads((run / "metrics.json").read_text())
    m["operating_point"] = {"rule": "sensitivity=0.9", "threshold": 0.2, "val": {"sensitivity": 0.94},
                            "test": {"sensitivity": 1.0, "sensitivity_ci": [0.901, 1.0], "specificity": 0.08,
                                     "specificity_ci": [0.04, 0.16]}}
    write_report(run, read_config(run), m)
    text = " ".join((run / "report.html").read_text().split())
    assert ("On the test split the run's threshold, chosen on its validation split for sensitivity 0.9, gives "
            "sensitivity 1.000 [0.901, 1.000]: above the target") in text
    m["operating_point"]["test"]["sensitivity_ci"] = [0.85, 1.0]
    write_report(run, read_config(run), m)
    assert "On the test split the run's threshold" not in (run / "report.html").read_text()


def test_a_site_whose_auc_is_undefined_says_why_beside_its_table(tmp_path):
    # eval printed "AUC undefined (label 'Nodule' never positive in these data; mean over the 2 other labels 0.9038)"
    # while the report's External testing table showed a bare "AUC –"
    from medtrain._external_report import external_blocks

    res = {"n": 30, "auc": None, "acc": 0.8, "auc_undefined": {"unit": "label", "no_positive": ["Nodule"], "rest": 2,
                                                                "mean_over_rest": 0.90375}}
    (tmp_path / "eval_external_site_0a1b2c3d.json").write_text(json.dumps(res))
    (tmp_path / "eval_external_fine_1a1b2c3d.json").write_text(json.dumps({**res, "auc": 0.8, "auc_undefined": None}))
    blocks = {b["name"]: b for b in external_blocks(tmp_path)}
    assert blocks["site_0a1b2c3d"]["auc_undefined"] == ("label 'Nodule' never positive in this site's data; mean "
                                                        "over the 2 other labels 0.9038")
    assert blocks["fine_1a1b2c3d"]["auc_undefined"] is None
