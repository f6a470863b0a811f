"""compare's table for a results section: test ACC's paired difference (a walkthrough's largest effect, 0.631 ->
0.702, had none), a p-value for the test metrics' differences, and a LaTeX (booktabs) table beside summary.md."""
from __future__ import annotations

import math
import re

import pytest
from scipy import stats

import medtrain.compare as compare_mod
from medtrain.reports.tables import NOT_PAIRED, paired_differences, summarise, to_csv, to_latex, to_markdown

#: the walkthrough's BreastMNIST compare (augment none vs shift, seeds 0-1): each seed's test ACC and AUC
WALK = {"none": [(0.6217948717948718, 0.6733500417710944), (0.6410256410256411, 0.6616541353383458)],
        "shift": [(0.6987179487179487, 0.6737677527151211), (0.7051282051282052, 0.6608187134502924)]}


def _run(seed, acc, auc, val=0.7, cv=None, sizes=None):
    return {"seed": seed, "test": {"acc": acc, "auc": auc}, "val": {"auc": val}, "best_epoch": 2, "stop_epoch": 2,
            "wall_s": 1.0, **({"cv": cv, "sizes": sizes} if cv else {})}


def _walk_cells():
    return [{"cell": {"augment": v}, "runs": [_run(s, a, u) for s, (a, u) in enumerate(WALK[v])]} for v in WALK]


def test_test_acc_has_its_paired_difference_and_the_test_metrics_a_p_value():
    d = paired_differences(_walk_cells())[1]
    gains = [b[0] - a[0] for a, b in zip(WALK["none"], WALK["shift"])]
    assert d["d_test_acc"] == pytest.approx(0.0705128, abs=1e-6)
    half = stats.t.ppf(0.975, 1) * stats.tstd(gains) / math.sqrt(2)  # the AUC columns' Student-t, one df
    mean = sum(gains) / 2
    assert d["d_test_acc_ci"] == pytest.approx([mean - half, mean + half], abs=1e-12)
    # the p of the paired t-test that interval inverts: scipy's own paired test of the same runs
    shift, none = ([acc for acc, _ in WALK[c]] for c in ("shift", "none"))
    assert d["d_test_acc_p"] == pytest.approx(stats.ttest_rel(shift, none).pvalue)
    auc = stats.ttest_rel([x[1] for x in WALK["shift"]], [x[1] for x in WALK["none"]]).pvalue
    assert d["d_test_auc_p"] == pytest.approx(auc)
    assert "d_val_auc_p" not in d  # validation chose the kept epoch: its difference is not tested

    rows = summarise(_walk_cells())
    md = to_markdown(rows, ["augment"])
    head = [h.strip() for h in md.splitlines()[0].strip("|").split("|")]
    shift_row = [c.strip() for c in md.splitlines()[3].strip("|").split("|")]
    got = dict(zip(head, shift_row))
    assert got["Δ test ACC vs first (paired, 95% CI)"] == "+0.071 [-0.011, +0.152]"
    assert got["p (Δ test ACC)"] == "0.0577" and got["p (Δ test AUC)"] == f"{auc:.3g}"
    assert got["Δ test AUC vs first (paired, 95% CI)"] == "-0.000 [-0.008, +0.008]"  # as before
    assert "two-sided paired t-test" in md
    header, _, second = to_csv(rows, ["augment"]).splitlines()
    values = dict(zip(header.split(","), second.split(",")))
    assert float(values["d_test_acc"]) == pytest.approx(0.0705128, abs=1e-6)
    assert float(values["d_test_acc_p"]) == pytest.approx(d["d_test_acc_p"]) and values["d_test_acc_lo"]
    # the columns a reader of the earlier CSV found stay where they were
    assert header.split(",").index("d_test_auc_hi") == header.split(",").index("d_val_auc") + 5


def test_no_p_value_without_a_test():
    one = [{"cell": {"x": v}, "runs": [_run(0, acc, 0.8)]} for v, acc in (("a", 0.70), ("b", 0.75))]
    d = paired_differences(one)[1]
    assert d["d_test_acc"] == pytest.approx(0.05) and d["d_test_acc_ci"] is None and d["d_test_acc_p"] is None
    # two seeds that both gained one image of 156: the t statistic is undefined, not a proof (p 0)
    same = [{"cell": {"x": "a"}, "runs": [_run(0, 100 / 156, 0.80), _run(1, 110 / 156, 0.81)]},
            {"cell": {"x": "b"}, "runs": [_run(0, 101 / 156, 0.82), _run(1, 111 / 156, 0.80)]}]
    d = paired_differences(same)[1]
    assert d["d_test_acc"] == pytest.approx(1 / 156) and d["d_test_acc_p"] is None and d["d_test_auc_p"] is not None
    md = to_markdown(summarise(same), ["x"])
    assert "| +0.006 [+0.006, +0.006] | – |" in md


def test_fold_pairs_are_tested_with_nadeau_and_bengios_corrected_variance():
    gain = [0.01, 0.03, 0.02, 0.00, 0.04]
    sizes = {"train": 400, "val": 100, "test": 50}

    def runs(extra):
        return [_run(0, 0.7 + k / 100 + extra * gain[k], 0.8, cv={"folds": 5, "fold": k, "held_out": "val"},
                     sizes=sizes) for k in range(5)]
    d = paired_differences([{"cell": {"x": "a"}, "runs": runs(0)}, {"cell": {"x": "b"}, "runs": runs(1)}])[1]
    t = 0.02 / (stats.tstd(gain) * math.sqrt(1 / 5 + 100 / 400))
    assert d["ci_method"] == "nadeau-bengio" and d["d_test_acc_p"] == pytest.approx(2 * stats.t.sf(t, 4))
    assert d["d_test_acc_p"] > stats.ttest_1samp(gain, 0).pvalue  # wider than the plain t's, as its interval


def test_the_latex_table_is_booktabs_escaped_and_holds_the_same_numbers():
    cells = _walk_cells()
    cells[1]["cell"] = {"augment": "shift_50%&{x}"}  # a value with LaTeX's special characters
    cells.append({"cell": {"augment": "other#k"}, "runs": [_run(7, 0.7, 0.7)]})  # no seed shared: not paired
    tex = to_latex(summarise(cells), ["augment"], note="Grid over augment x seeds [0, 1]; base settings: --lr 1e-3")
    body = [line for line in tex.splitlines() if not line.startswith("%")]
    assert body[0].startswith(r"\begin{tabular}{lr") and body[1] == r"\toprule" and body[3] == r"\midrule"
    assert body[-2:] == [r"\bottomrule", r"\end{tabular}"]
    rows = body[2:3] + body[4:-2]
    assert len(rows) == 4 and all(r.endswith(r" \\") for r in rows)
    columns = len(re.search(r"\{tabular\}\{(\w+)\}", body[0]).group(1))
    assert all(len(re.findall(r"(?<!\\)&", r)) == columns - 1 for r in rows)  # every row as wide as the spec
    assert all(r.count("$") % 2 == 0 for r in rows)  # math mode closed
    assert rows[2].startswith(r"shift\_50\%\&\{x\} & 2 & $0.702 \pm 0.005$ & $0.667 \pm 0.009$ & "
                              r"$+0.071$ [$-0.011$, $+0.152$] & $0.0577$ & ")
    assert rows[1].startswith("none & 2 & ") and "reference & --" in rows[1]
    assert rows[3].startswith(r"other\#k & 1 & $0.700$ & $0.700$ & " + NOT_PAIRED)
    comments = [line for line in tex.splitlines() if line.startswith("%")]
    assert any("base settings: --lr 1e-3" in c for c in comments) and any("booktabs" in c for c in comments)
    assert any("Not paired with the first cell" in c for c in comments)
    assert "Δ" not in "\n".join(body) and "±" not in "\n".join(body)  # LaTeX's own, not Unicode, in the table


def test_compare_writes_summary_tex_beside_summary_md(tmp_path, monkeypatch):
    def fake_run(cfg):
        acc = WALK["shift" if "shift" in str(cfg.augment) else "none"][cfg.seed][0]
        return _run(cfg.seed, acc, 0.7)

    monkeypatch.setattr(compare_mod, "train_or_reuse", fake_run)
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    rows = compare_mod.compare({"data": "x.npz"}, {"augment": ["none", "shift"]}, [0, 1], tmp_path, verbose=False)
    tex = (tmp_path / "summary.tex").read_text()
    assert tex == to_latex(rows, ["augment"], note=(tmp_path / "summary.md").read_text().split("\n\n")[0])
    assert "$+0.071$ [$-0.011$, $+0.152$] & $0.0577$" in tex
    assert "| +0.071 [-0.011, +0.152] | 0.0577 |" in (tmp_path / "summary.md").read_text()


def test_the_comparison_page_shows_the_same_delta_and_p_columns_as_summary_md(tmp_path):
    """report.html of a comparison has the Δ test ACC and p columns summary.md has (it had listed only the two AUC
    differences), with the same text in each cell."""
    from medtrain.reports.html import write_comparison_report

    page = write_comparison_report(tmp_path, ["augment"], _walk_cells()).read_text()
    md = to_markdown(summarise(_walk_cells()), ["augment"]).splitlines()
    head = [h.strip() for h in md[0].strip("|").split("|")]
    want = dict(zip(head, [c.strip() for c in md[3].strip("|").split("|")]))
    heads = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', page)
    row = re.findall(r"<tr[^>]*><th scope=\"row\">augment=shift</th>(.*?)</tr>", page, re.S)[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert heads[-3:] == ["Δ val AUC", "Δ test AUC", "Δ test ACC"]  # the Δ columns, last; a test one's p in its cell
    def cell(h, p=None):  # summary.md's "+0.071 [-0.011, +0.152]" and its p, on the page the p under it
        return want[h] + (f'<br><span class="ci wraps">p {want[p]}</span>' if p else "")

    assert cells[-3:] == [cell("Δ val AUC vs first (paired, 95% CI)"),
                          cell("Δ test AUC vs first (paired, 95% CI)", "p (Δ test AUC)"),
                          cell("Δ test ACC vs first (paired, 95% CI)", "p (Δ test ACC)")]
    assert "two-sided paired t-test" in page


def test_pairs_counts_the_paired_runs_not_the_last_metrics_defined_ones():
    """``pairs`` had been the count of the last metric's finite differences (test AUC's): three seeds whose test AUC
    is undefined read "pairs 0" beside a test-ACC p computed from the three pairs."""
    cells = [{"cell": {"x": v}, "runs": [_run(s, acc + 0.01 * s * (v == "b"), float("nan")) for s in range(3)]}
             for v, acc in (("a", 0.70), ("b", 0.72))]
    d = paired_differences(cells)[1]
    assert d["pairs"] == 3 and d["d_test_acc_p"] is not None
