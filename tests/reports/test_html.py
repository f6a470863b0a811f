"""The HTML reports as a reader gets them: one file, every figure embedded, the numbers of the run on the page.

Rendered from hand-made ``metrics.json``-style data (no training). How the pages are laid out (their tables,
colours, print rules, line wrapping in a browser) is in test_html_layout.py, which imports the helpers here."""
from __future__ import annotations

import base64
import io
import math
from html.parser import HTMLParser

import pytest
from PIL import Image

from medtrain.reports import plots
from medtrain.reports.html import run_report, write_comparison_report, write_crossval_report

from conftest import HtmlTables


class _Page(HTMLParser):
    """The ``src``/``href`` of every element and the text of the page."""

    def __init__(self, html: str):
        super().__init__()
        self.imgs, self.links, self.scripts, self.text = [], [], 0, []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        if tag == "script":
            self.scripts += 1
        self.links += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data):
        self.text.append(data)


def _decoded(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def _metrics(dataset="pneumoniamnist", names=("normal", "pneumonia"), groups=None) -> dict:
    hist = [{"epoch": i, "train_loss": 0.6 - 0.1 * i, "val_loss": 0.5 - 0.05 * i, "val_auc": 0.9, "val_acc": 0.8,
             "lr": 1e-3} for i in range(4)]
    per_class = {n: {"support": 10 + i, "precision": 0.8, "recall": 0.75 + 0.1 * i, "f1": 0.77, "auc": 0.9,
                     "precision_ci": [0.6, 0.9], "recall_ci": [0.512, 0.876 + 0.01 * i], "f1_ci": [0.6, 0.88],
                     "auc_ci": [0.85, 0.95]} for i, n in enumerate(names)}
    data = {"source": "x.npz", "task": "binary-class", "shape": [1, 28, 28], "classes": list(names),
            "splits": [{"name": s, "n": n, "counts": [n // 4, n - n // 4]} for s, n in (("train", 400), ("val", 40),
                                                                                      ("test", 80))]}
    if groups:
        data.update(groups)
    return {"dataset": dataset, "model": "resnet18_28_half", "seed": 3, "task": "binary-class", "history": hist,
            "best_epoch": 2, "stop_epoch": 3, "early_stopped": True, "monitor": "val_auc", "wall_s": 12.0,
            "val": {"auc": 0.91, "acc": 0.82},
            "test": {"auc": 0.9613, "acc": 0.8765, "auc_ci": [0.931, 0.982], "acc_ci": [0.84, 0.9], "n": 80,
                     "balanced_acc": 0.8, "per_class": per_class, "confusion": [[10, 2], [3, 20]]},
            "calibration": {"temperature": 1.3, "bins": 15, "val": {"ece": 0.05, "ece_scaled": 0.03},
                            "test": {"ece": 0.06, "ece_scaled": 0.04}},
            "data": data}


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """Real matplotlib plots, as a run writes them."""
    d = tmp_path_factory.mktemp("figs")
    m = _metrics()
    plots.learning_curve(m["history"], 2, 3, d / "lc.png", "t", early_stopped=True)
    plots.confusion_matrix(m["test"]["confusion"], {"0": "normal", "1": "pneumonia"}, d / "cm.png", "t")
    return {"learning_curve": d / "lc.png", "confusion": d / "cm.png", "roc_pr": d / "absent.png"}


def test_run_report_is_one_file_with_every_figure_embedded(figures):
    html = run_report({"model": "resnet18_28_half", "lr": 0.001}, _metrics(), figures, _metrics()["data"])
    page = _Page(html)
    assert page.scripts == 0
    assert all(link.startswith("data:") for link in page.links), "nothing may be fetched to view the report"
    alts = [img["alt"] for img in page.imgs]
    assert alts == ["learning curves", "confusion matrix"]  # the missing ROC file leaves no broken image
    for img, key in zip(page.imgs, ("learning_curve", "confusion")):
        # embedded as the plot's file holds it: a palette PNG, written so once (it had been re-encoded for each report)
        assert base64.b64decode(img["src"].split(",", 1)[1]) == figures[key].read_bytes()
        assert _decoded(img["src"]).mode == "P"
    assert "ROC" not in "".join(page.text)


def test_run_report_shows_results_with_cis_baselines_data_and_config(figures):
    text = " ".join(" ".join(_Page(run_report({"dropout_kind": "dropblock"}, _metrics(), figures,
                                              _metrics()["data"])).text).split())
    assert "0.961 [0.931, 0.982]" in text  # test AUC with its CI
    assert "0.850 [0.512, 0.886]" in text  # recall of the second class with its per-class CI
    assert "ResNet-18 (28) 0.944 0.854" in text and "Google AutoML Vision 0.991 0.946" in text
    assert "test 80 20 (25.0%) 60 (75.0%)" in text  # class balance per split
    assert "best epoch 3" in text and "early stop after epoch 4" in text  # 1-based, as the plot labels them
    assert "dropout_kind = dropblock" in text


def test_a_run_that_kept_its_last_epoch_says_so_not_best(figures):
    m = {**_metrics(), "checkpoint": "last", "early_stopped": False}
    text = " ".join(" ".join(_Page(run_report({}, m, figures)).text).split())
    assert f"the last epoch ({m['best_epoch'] + 1}) kept" in text and "best epoch" not in text
    assert "the kept epoch is 3 (the last epoch, by the checkpoint rule)" in text and "(best)" not in text


def test_captions_say_what_the_numbers_are_threshold_calibration_mc_dropout_and_undefined_precision(figures):
    """A clinical reader's audit: the per-class table is at the arg-max, not at the operating point shown above
    it; a calibration kept at T = 1 was captioned 'after temperature scaling'; MC-dropout test scores and their
    uncertainty result were not named; a class never predicted showed precision 0.000."""
    m = _metrics()
    m["calibration"].update(temperature=1.0, rule="kept 1: T = 0.776 raised the validation ECE from 0.1017 to 0.1348")
    m["operating_point"] = {"rule": "sensitivity=0.9", "threshold": 0.2532, "positive_class": "pneumonia",
                            "val": {k: 0.9 for k in ("sensitivity", "specificity", "ppv", "npv")},
                            "test": {k: 0.8 for k in ("sensitivity", "specificity", "ppv", "npv")}}
    m["test"]["mc_dropout"] = {"passes": 5, "n_uncertain": 8, "n_rest": 72, "error_uncertain": 0.375,
                               "error_rest": 0.25}
    m["test"]["per_class"]["normal"].update(predicted=0, precision=0.0)
    text = " ".join(" ".join(_Page(run_report({}, m, {**figures, "reliability": figures["confusion"]})).text).split())
    assert "No temperature scaling: T kept 1: T = 0.776 raised the validation ECE" in text
    assert "T kept 1: no scaling" in text and "after T = 1.00" not in text  # the header card agrees
    assert "before and after temperature scaling" not in text
    assert "Decisions at the arg-max" in text and "use its threshold 0.2532 instead" in text
    assert "(the temperature and threshold fitted on them) average 5 Monte-Carlo dropout passes" in text and "0.375 against 0.250 for the other 72" in text
    assert "normal 10 – " in text


def test_no_baselines_without_published_rows(figures):
    html = run_report({}, _metrics(dataset="mydata"), figures)
    assert "MedMNIST v2" not in html and "0.944" not in html


def test_label_names_cannot_inject_markup(figures):
    m = _metrics(names=("<script>alert(1)</script>", "b&c"))
    page = _Page(run_report({}, m, figures, m["data"]))
    assert page.scripts == 0 and "<script>alert(1)</script>" in "".join(page.text)


def test_groups_shared_between_splits_are_flagged(figures):
    warn = _metrics(groups={"groups": {"train": 50, "val": 5, "test": 10}, "shared_groups": 2})
    ok = _metrics(groups={"groups": {"train": 50, "val": 5, "test": 10}, "shared_groups": 0})
    assert "2 patient(s) appear in more than one split" in run_report({}, warn, figures, warn["data"])
    assert "No patient appears in more than one split" in run_report({}, ok, figures, ok["data"])


def test_images_shared_between_splits_are_flagged(figures):
    dup = {"duplicates": {"within": {"train": 18, "val": 0, "test": 3},
                          "across": {"train-val": 8, "train-test": 0, "val-test": 0}}}
    page = " ".join(" ".join(_Page(run_report({}, m := _metrics(groups=dup), figures, m["data"])).text).split())
    assert ("Pixel-identical images: 8 val image(s) are train images: their scores are not of unseen images · "
            "21 repeated inside a split (train 18, test 3).") in page
    none = {"duplicates": {"within": {"train": 0, "val": 0, "test": 0},
                           "across": {"train-val": 0, "train-test": 0, "val-test": 0}}}
    page = " ".join(" ".join(_Page(run_report({}, m := _metrics(groups=none), figures, m["data"])).text).split())
    assert "Pixel-identical images: none across splits." in page
    relabelled = {"duplicates": {**none["duplicates"], "other_label": 4}}  # copies kept in one split, labels differ
    page = " ".join(" ".join(_Page(run_report({}, m := _metrics(groups=relabelled), figures, m["data"])).text).split())
    assert "4 image(s) are copies of one another with different labels: check those labels." in page


def _run(seed, test_auc, test_acc, val_auc):
    return {"seed": seed, "test": {"auc": test_auc, "acc": test_acc}, "val": {"auc": val_auc}}


def test_comparison_report_has_mean_std_and_every_seed(tmp_path):
    cells = [{"cell": {"dropout": "0"}, "runs": [_run(0, 0.80, 0.7, 0.9), _run(1, 0.90, 0.8, 0.92)]},
             {"cell": {"dropout": "0.5"}, "runs": [_run(0, 0.85, 0.75, 0.95), _run(1, float("nan"), 0.7, 0.93)]},
             {"cell": {"dropout": "0.9"}, "runs": [_run(0, 0.99, 0.9, 0.5)]}]  # best on test, worst on validation
    path = write_comparison_report(tmp_path, ["dropout"], cells, "Grid over dropout")
    page = _Page(path.read_text())
    text = " ".join(" ".join(page.text).split())
    assert f"dropout=0 0, 1 0.850 ± {math.sqrt(0.005):.3f}" in text  # cell, seeds, test AUC mean ± std
    assert "0.800, 0.900" in text  # the per-seed values themselves
    # a NaN seed is left out of the mean, not made 0; one value left has no std (not '± 0.000')
    assert "dropout=0.5 0, 1 0.850 " in text and "0.850 ± 0.000" not in text
    assert '<tr class="own"><th scope="row">dropout=0.5</th>' in path.read_text()  # highest mean validation AUC, not test
    assert [i["alt"] for i in page.imgs] == ["per-seed values"] and (tmp_path / "seeds.png").is_file()
    assert _decoded(page.imgs[0]["src"]).size[0] > 300


def test_crossval_report_has_folds_mean_std_and_pooled_auc(tmp_path):
    summary = {"folds": [{"fold": i, "val_auc": 0.9 + 0.01 * i, "test_auc": 0.8 + 0.02 * i, "dir": f"f{i}"}
                         for i in range(5)],
               "pooled": {"auc": 0.8432, "auc_ci": [0.81, 0.87]}, "config": {"folds": 5}}
    page = _Page(write_crossval_report(tmp_path, summary).read_text())
    text = " ".join(" ".join(page.text).split())
    assert "5-fold cross-validation" in text
    assert "mean ± std 0.920 ± 0.016 0.840 ± 0.032" in text
    assert "pooled out-of-fold AUC 0.843 [0.810, 0.870]" in text
    assert "dir" not in text.split("Per-fold results")[1].split("mean")[0]  # only numeric columns are metrics
    assert [i["alt"] for i in page.imgs] == ["per-fold values"]


def test_a_run_without_epochs_has_no_learning_curve_section(figures):
    """The linear probe fits on fixed features: ``history = []`` and no learning-curve file."""
    m = dict(_metrics(), history=[], best_epoch=0, stop_epoch=0, early_stopped=False)
    page = _Page(run_report({}, m, {"confusion": figures["confusion"], "learning_curve": figures["roc_pr"]}))
    text = " ".join(page.text)
    assert "Learning curves" not in text and "no epochs" in text and "best epoch" not in text
    assert [i["alt"] for i in page.imgs] == ["confusion matrix"]


def test_run_report_shows_the_choices_made_on_validation_with_their_numbers(figures):
    m = _metrics()
    m["choices"] = {"flip": {"chosen": False, "how": "labels name a side (kidney-left): flips off, no trial"},
                    "class_weights": {"chosen": "prior-adjusted", "how": "validation accuracy",
                                      "val_acc": {"balanced": 0.81, "prior-adjusted": 0.86}}}
    text = " ".join(" ".join(_Page(run_report({}, m, figures)).text).split())
    assert "flip off labels name a side (kidney-left): flips off, no trial" in text
    assert "class_weights prior-adjusted validation accuracy val_acc: balanced 0.810, prior-adjusted 0.860" in text


RETINA = ["DR_with_macular_edema", "age_related_macular_degeneration_dry", "age_related_macular_degeneration_wet",
          "choroidal_nevus", "coats_disease", "epiretinal_membrane", "glaucoma_suspect", "hypertensive_retinopathy",
          "macular_hole", "mild_NPDR", "moderate_NPDR", "myopic_maculopathy", "no_DR", "optic_disc_drusen",
          "proliferative_DR", "retinal_vein_occlusion_branch", "retinal_vein_occlusion_central",
          "retinitis_pigmentosa", "severe_NPDR", "toxoplasmosis_scar"]


def _data_table(html: str) -> list:
    return next(t for t in HtmlTables(html).tables if t[0][0] in ("split", "class", "label"))


def test_a_class_whose_precision_has_no_interval_is_not_said_to_have_wilson_s(figures):
    # a multi-label walk: "The recall and precision intervals of 2 classes (Cardiomegaly, Nodule) ... are Wilson's"
    # of a Nodule called on one image, whose precision has no interval, its [-] put down to too few of its images
    m = _metrics()
    m["test"]["per_class"]["normal"].update(recall_ci_method="wilson", recall_ci_reason="few units",
                                            precision_ci=[None, None], f1_ci=[None, None])
    m["test"]["per_class"]["pneumonia"].update(recall_ci_method="wilson", recall_ci_reason="few units",
                                               precision_ci_method="wilson", precision_ci_reason="few units")
    page = " ".join(" ".join(_Page(run_report({}, m, figures, m["data"])).text).split())
    assert "The recall and precision intervals of 2 classes (normal, recall only; pneumonia) with few test " \
           "images are Wilson's score intervals" in page
    assert "An interval shown as [–] is not given (1 class: normal): too few test images of the class (recall, " \
           "AUC) or called it (precision, F1)" in page


def test_wilson_intervals_of_small_classes_and_of_acc_are_named_as_such(figures):
    m = _metrics()
    m["test"].update(acc_ci_method="wilson", acc_ci_reason="few units per class")
    m["test"]["per_class"]["normal"].update(recall_ci_method="wilson", precision_ci_method="wilson")
    page = " ".join(" ".join(_Page(run_report({}, m, figures, m["data"])).text).split())
    assert "ACC's is Wilson's score interval: too few test images per class" in page
    assert "The recall and precision intervals of 1 class (normal) with few test images are Wilson's score intervals" in page
    assert "calls every image one class" not in page


def test_wilson_intervals_of_a_one_class_network_say_so_not_few_images(figures):
    m = _metrics()
    for name in ("normal", "pneumonia"):
        m["test"]["per_class"][name].update(recall_ci_method="wilson", recall_ci_reason="every draw gave one value")
    page = " ".join(" ".join(_Page(run_report({}, m, figures, m["data"])).text).split())
    assert "of 2 classes (normal, recall only; pneumonia, recall only) are Wilson's score intervals: every bootstrap " \
           "draw gave one value" in page  # their precisions are the bootstrap's: not said to be Wilson's
    assert "with few test images" not in page


def _trial_metrics(**config) -> dict:
    """A search's trial: trained without its test split, so metrics.json has an empty test block, no test
    calibration, and its data summary counts 0 test images."""
    m = _metrics()
    m["test"] = {}
    del m["calibration"]["test"]
    m["data"]["splits"][2].update(n=0, counts=[0, 0])
    return m


def test_a_run_without_test_results_says_its_test_split_is_held_back_not_bracketed_or_zero(figures):
    """A tune trial's report had said 'Brackets: 95% ... intervals over test images' with no brackets and no
    test results, and listed 'test 0 (–%)' as if the split were empty."""
    m = _trial_metrics()
    html = run_report({"test_fraction": 0.2}, m, figures, m["data"])
    text = " ".join(" ".join(_Page(html).text).split())
    assert "Brackets" not in text and "bootstrap" not in text
    assert "No test results: the test split is held back (not scored by this run)." in text
    assert _data_table(html)[3] == ["test", "held back (not scored by this run)"]
    assert "(–%)" not in text

    many = _trial_metrics()
    many["data"]["classes"] = RETINA
    for s in many["data"]["splits"]:
        s["counts"] = [s["n"] // 20] * 20
    table = _data_table(run_report({}, many, figures, many["data"]))
    assert table[1] == ["images", "400", "40", "held back"] and table[2][3] == "–"

    empty = " ".join(" ".join(_Page(run_report({"test_fraction": 0}, m, figures, m["data"])).text).split())
    assert "the test split is empty (test_fraction 0: no test images)" in empty and "held back" not in empty


def test_the_bracket_sentence_comes_only_with_brackets(figures):
    """--bootstrap 0 writes no intervals: the page does not explain brackets it does not show."""
    plain = _metrics()
    for block in (plain["test"], *plain["test"]["per_class"].values()):
        for k in [k for k in block if k.endswith("_ci")]:
            del block[k]
    assert "Brackets" not in " ".join(_Page(run_report({}, plain, figures)).text)
    assert "Brackets: 95% confidence intervals: percentile bootstrap intervals" in " ".join(_Page(run_report({}, _metrics(), figures)).text)


def test_a_trial_of_data_with_its_own_test_split_is_held_back_whatever_test_fraction_says(figures):
    # a tune trial of an .npz (test_fraction does nothing to its test split of 92 images) with --test-fraction 0
    # had said "the test split is empty (test_fraction 0: no test images)"
    m = _trial_metrics()
    for config in ({"data": "bin2.npz", "dataset": None, "test_fraction": 0},
                   {"data": None, "dataset": "pneumoniamnist", "test_fraction": 0}):
        text = " ".join(" ".join(_Page(run_report(config, m, figures, m["data"])).text).split())
        assert "the test split is held back (not scored by this run)" in text and "empty" not in text, config
    # a folder or CSV of images is split by test_fraction: 0 leaves its test split empty
    for data in ("images/", "labels.csv"):
        text = " ".join(" ".join(_Page(run_report({"data": data, "test_fraction": 0}, m, figures, m["data"])).text)
                        .split())
        assert "the test split is empty (test_fraction 0: no test images)" in text


def test_a_wilson_acc_interval_gives_the_reason_that_holds(figures):
    """'every draw gave one value' with ACC 0.57 had been explained as 'the network calls every image one class'
    for a network that called two of three classes (a walkthrough): the reason is that each class's images are all
    right or all wrong."""
    m = _metrics()
    m["test"].update(acc=0.57, acc_ci_method="wilson", acc_ci_reason="every draw gave one value")
    page = " ".join(" ".join(_Page(run_report({}, m, figures, m["data"])).text).split())
    assert "each class's test images are all classified right or all wrong" in page
    assert "calls every image one class" not in page


def test_an_mc_dropout_run_says_its_choices_were_scored_with_its_passes(figures):
    """The page had said the choices were decided by the deterministic network; TTA and the class weighting are
    scored with the MC passes, as the run predicts (training/choices.py)."""
    m = _metrics()
    m["test"]["mc_dropout"] = {"passes": 8, "n_uncertain": 8, "error_uncertain": 0.5, "n_rest": 72, "error_rest": 0.1}
    page = " ".join(" ".join(_Page(run_report({}, m, figures, m["data"])).text).split())
    assert "TTA and the class weighting by these averaged passes on validation" in page
    assert "the choices were decided by the deterministic network" not in page
