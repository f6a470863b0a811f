"""eval of a run whose metrics.json interval was made by another rule than today's says so in one line: an upgraded
user's eval of an older multi-label run had printed AUC [0.722, 0.931] (the mean of its labels' intervals, the rule
since session 30) beside the run's own report's [0.794, 0.902] (the bootstrap's) without a word (an upgrade walk)."""
import json

import medtrain
from conftest import fast_config, make_npz
from medtrain.cli import main
from medtrain.runscores import interval_rule_note


def test_eval_says_the_recorded_interval_came_by_another_rule_and_not_otherwise(tmp_path, capsys):
    run = tmp_path / "run"
    medtrain.train(fast_config(make_npz(tmp_path / "d.npz"), run, epochs=1, bootstrap=20), verbose=False)
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    assert "note: the AUC interval" not in capsys.readouterr().out  # the same rule: nothing to say
    now = json.loads((run / "eval_test.json").read_text())
    rule = {"newcombe": "Newcombe's score interval", None: "the bootstrap's"}[now.get("auc_ci_method")]
    m = json.loads((run / "metrics.json").read_text())  # as a run under another rule recorded it
    m["test"].update(auc_ci=[0.61, 0.99], auc_ci_method="delong-logit")
    (run / "metrics.json").write_text(json.dumps(m))
    assert main(["eval", str(run)]) == 0
    lo, hi = now["auc_ci"]
    assert (f"note: the AUC interval its metrics.json records, [0.610, 0.990], is DeLong's on the logit scale, by "
            f"the medtrain that trained it; this evaluation's, [{lo:.3f}, {hi:.3f}], is {rule}, today's rule") \
        in capsys.readouterr().out


def test_the_multi_label_case_of_the_walk_is_named():
    recorded = {"auc_ci": [0.794, 0.902]}  # metrics.json of an older medtrain: no method, the bootstrap's
    res = {"auc_ci": [0.722, 0.931], "auc_ci_method": "label-mean"}
    assert interval_rule_note(recorded, res).endswith("[0.722, 0.931], is the mean of the labels' own intervals, "
                                                       "today's rule")
    assert interval_rule_note({"auc_ci": [None, None]}, res) is None  # --bootstrap 0 recorded none
