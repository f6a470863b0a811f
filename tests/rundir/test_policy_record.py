"""A run trained with a policy YAML (``--augment policy.yaml``: hand-written, or the one ``medtrain augment search``
writes) records the policy it trained with: ``metrics.json``'s ``augment_policy`` holds the file's path, the sha256
of its bytes (the digest ``choices.json`` keeps for the changed-file checks) and its content as parsed, and
``report.html`` shows it one line per sub-policy. An augment-search walk found only the file's absolute path in
``config.yaml`` and the report and a bare hash in ``choices.json``: a run copied to a colleague, or whose policy file
was deleted (a search's trial YAMLs cleaned away), could no longer say what augmentation trained it."""
import hashlib
import json
import re

import pytest
import yaml

from medtrain._run_report import policy_summary
from medtrain.augment.policy_spec import Policy, load_policy
from conftest import make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

POLICY = "# a hand-written AutoAugment-style policy\nsub_policies:\n- - [Rotate, 0.7, 5]\n  - [Color, 0.5, 8]\n" \
         "- - [Solarize, 0.3, 4]\n  - [Equalize, 0.2]\n"

TRAIN = ["train", "--data", "tiny.npz", "--model", "resnet10_28_half", "--epochs", 1, "--batch-size", 32,
         "--bootstrap", 0, "--schedule", "none", "--accelerator", "cpu", "--flip", "true", "--precision", "32-true",
         "--tta", "none", "--class-weights", "false", "--no-progress", "--augment", "shift,hand.yaml", "--out", "r"]


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_run_records_the_policy_it_trained_with_and_is_evaluated_once_the_file_is_gone(tmp_path, monkeypatch,
                                                                                          capsys):
    monkeypatch.chdir(tmp_path)
    make_npz(tmp_path / "tiny.npz", sizes=(64, 16, 16))
    path = tmp_path / "hand.yaml"
    path.write_text(POLICY)
    code, _, err = run_cli(capsys, *TRAIN)
    assert code == 0, err

    [rec] = json.loads((tmp_path / "r" / "metrics.json").read_text())["augment_policy"]
    assert rec["file"] == str(path)
    digest = hashlib.sha256(POLICY.encode()).hexdigest()
    assert rec["sha256"] == digest == json.loads((tmp_path / "r" / "choices.json").read_text())["policies"][str(path)]
    # the YAML's content, op by op (a magnitude-free op's magnitude null), and the defaults it trained with
    written = [[op + [None] * (3 - len(op)) for op in sub] for sub in yaml.safe_load(POLICY)["sub_policies"]]
    assert rec["policy"]["sub_policies"] == written
    assert {k: rec["policy"][k] for k in ("layers", "max_level", "space", "random_magnitude")} == \
        {"layers": 1, "max_level": 9, "space": "standard", "random_magnitude": False}
    assert Policy.from_dict(rec["policy"]) == load_policy(path)  # enough to rebuild the very policy that trained

    report = _text((tmp_path / "r" / "report.html").read_text())
    assert f"Augmentation policy {path} (sha256 {digest[:12]})" in report
    assert "sub-policy 1 = Rotate p=0.7 m=5, Color p=0.5 m=8" in report
    assert "sub-policy 2 = Solarize p=0.3 m=4, Equalize p=0.2" in report

    path.unlink()  # the policy file deleted: the run is still evaluated, and still says what trained it
    code, _, err = run_cli(capsys, "eval", "r")
    assert code == 0, err
    assert "Solarize p=0.3 m=4" in _text((tmp_path / "r" / "report.html").read_text())
    # the same command again is refused (the file is gone), saying where its content is kept to restore it from
    code, _, err = run_cli(capsys, *TRAIN)
    assert code == 2 and f"{path} is gone since r trained with it; restore it (its content as the run trained " \
                          f"with it is in r/metrics.json's augment_policy), or train a new --out" in err, err


def test_only_policy_files_are_recorded_and_never_content_other_than_what_trained(tmp_path):
    path = tmp_path / "hand.yaml"
    path.write_text(POLICY)
    assert policy_summary({"augment": ["flip", "shift", "randaugment"]}) == []  # no policy file: nothing recorded
    assert policy_summary({"augment": [str(path)], "transfer": "linear-probe"}) == []  # a probe never augments
    # edited while the run trained (choices.json's digest, taken as it started, differs): its old digest is kept, and
    # the new content is not passed off as the one that trained it
    [rec] = policy_summary({"augment": ["flip", str(path)]}, {str(path): "0" * 64})
    assert rec["sha256"] == "0" * 64 and rec["policy"] is None and "changed" in rec["unread"]
    path.unlink()  # gone before the run's outputs were written: the outputs are written all the same, saying why
    [rec] = policy_summary({"augment": [str(path)]}, {str(path): "1" * 64})
    assert rec["sha256"] == "1" * 64 and rec["policy"] is None and "not found" in rec["unread"]
