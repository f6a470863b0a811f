"""`medtrain augment show` and `medtrain augment search`."""
from __future__ import annotations

import json

import pytest
import torch
import yaml
from PIL import Image

import medtrain
import medtrain.api
from medtrain.augment.policies import load_policy, randaugment_policy, save_policy
from medtrain.cli import main
from medtrain.cli.augment import _check_train_accepts_policy_files, build_pipeline, render_grid
from medtrain.policy_search import make_train_fn
from medtrain.config import resolve
from medtrain.errors import MedtrainError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("channels", [1, 3])
def test_render_grid_writes_a_png_with_one_row_per_image_and_a_column_per_draw(tmp_path, channels):
    images = torch.randint(0, 256, (3, channels, 16, 16), dtype=torch.uint8)
    pipeline = build_pipeline(["randaugment"], {"ra_n": 2, "ra_m": 9})
    path = render_grid(images, pipeline, draws=5, path=tmp_path / "grid.png", title="test")
    assert path.read_bytes()[:8] == PNG_MAGIC
    width, height = Image.open(path).size
    assert width / height == pytest.approx(6 / 3, rel=0.15)  # 6 columns (original + 5 draws), 3 rows
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary left behind
    calls = []

    def invert(x, y):
        calls.append(1)
        return 1 - x, y

    def pixels(pipe, name):
        return torch.tensor(list(Image.open(render_grid(images, pipe, draws=5, path=tmp_path / name)).getdata()))

    drawn, plain = pixels(invert, "inverted.png"), pixels(None, "plain.png")
    assert len(calls) == 5  # one call of the pipeline per column of draws
    assert drawn.shape == plain.shape and (drawn != plain).any()  # the draws show the pipeline's output


def test_render_grid_refuses_float_images(tmp_path):
    with pytest.raises(MedtrainError, match="uint8"):
        render_grid(torch.rand(2, 1, 8, 8), None, 2, tmp_path / "g.png")


def test_augment_show_writes_a_png_from_a_dataset(tiny_npz, tmp_path, capsys):
    policy = save_policy(randaugment_policy(1, 5), tmp_path / "ra.yaml")
    out = tmp_path / "grid.png"
    code = main(["augment", "show", "--data", str(tiny_npz), "--augment", f"flip,autoaugment,{policy}",
                 "--aa-policy", "svhn", "--draws", "3", "--n", "4", "--out", str(out)])
    assert code == 0 and out.read_bytes()[:8] == PNG_MAGIC
    assert f"wrote {out}" in capsys.readouterr().out


def test_augment_show_names_an_unknown_op(tiny_npz, tmp_path, capsys):
    code = main(["augment", "show", "--data", str(tiny_npz), "--augment", "randaugmnt", "--out",
                 str(tmp_path / "g.png")])
    assert code == 2 and "did you mean randaugment" in capsys.readouterr().err


def test_augment_show_takes_augment_params_as_train_does(tiny_npz, tmp_path, capsys, monkeypatch):
    # only a YAML --config could set an op's settings: --augment-params was "unknown option"
    import medtrain.cli.augment as cli_augment

    built = []
    real = cli_augment.build_pipeline
    monkeypatch.setattr(cli_augment, "build_pipeline", lambda items, params, **kw: built.append((params, kw)) or
                        real(items, params, **kw))
    out = tmp_path / "g.png"
    assert main(["augment", "show", "--data", str(tiny_npz), "--augment", "cutout", "--augment-params",
                 "cutout_size=0.3,cutout_p=0.5", "--n", "2", "--out", str(out)]) == 0
    params, kw = built[0]
    assert (params["cutout_size"], params["cutout_p"]) == (0.3, 0.5) and set(kw["given"]) == {"cutout_size", "cutout_p"}
    assert out.read_bytes()[:8] == PNG_MAGIC
    capsys.readouterr()
    # a setting no op of --augment reads is refused, as train refuses it, and nothing is written
    assert main(["augment", "show", "--data", str(tiny_npz), "--augment", "cutout", "--augment-params",
                 "jitter_hue=0.1", "--out", str(tmp_path / "h.png")]) == 2
    assert "augment_params jitter_hue: no augmentation of --augment cutout reads it" in capsys.readouterr().err
    assert not (tmp_path / "h.png").exists()


def fake_train(calls, auc_of):
    """Stands in for medtrain.train: validation AUC from the RandAugment policy file in cfg.augment."""

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        files = [a for a in cfg.augment if a.endswith(".yaml")]
        n, m = 0, 0
        if files:
            policy = load_policy(files[0])
            n, m = policy.layers, policy.sub_policies[1][0].magnitude  # ShearX's magnitude is M
        calls.append((cfg, n, m))
        return {"val": {"auc": auc_of(n, m), "acc": 0.5}}

    return train


def test_train_fn_hands_randaugment_to_training_as_a_policy_file(tiny_npz, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls, lambda n, m: 0.5 + n / 10))
    train_fn = make_train_fn(resolve({"data": str(tiny_npz)}), tmp_path)
    assert train_fn(["flip", "randaugment"], {"ra_n": 2, "ra_m": 7, "epochs": 3}) == pytest.approx(0.7)
    cfg, n, m = calls[0]
    assert (n, m) == (2, 7) and cfg.epochs == 3 and cfg.augment[0] == "flip"
    assert cfg.out == str(tmp_path / "ra-n2-m7")


def _finished_candidate(run_dir, cfg, val_auc):
    """A run directory as medtrain.train leaves it: its config and its metrics."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({**cfg.to_dict(), "out": str(run_dir)}))
    (run_dir / "metrics.json").write_text(json.dumps({"best_epoch": 1, "val": {"auc": val_auc, "acc": 0.5}}))


def test_train_fn_reuses_a_finished_candidate(tiny_npz, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls, lambda n, m: 0.5))
    base = resolve({"data": str(tiny_npz)})
    _finished_candidate(tmp_path / "baseline", resolve(base.to_dict(), {"augment": ["none"], "bootstrap": 0}), 0.66)
    said = []
    assert make_train_fn(base, tmp_path, say=said.append)(["none"], {}) == 0.66
    assert calls == [] and said == [f"baseline: finished earlier, reused ({tmp_path / 'baseline'})"]
    # a candidate trained now is not said to be reused
    assert make_train_fn(base, tmp_path, say=said.append)(["flip", "randaugment"], {"ra_n": 1, "ra_m": 3}) == 0.5
    assert len(calls) == 1 and len(said) == 1


def test_train_fn_refuses_a_candidate_trained_with_other_settings(tiny_npz, tmp_path, monkeypatch):
    # A second search with another budget into the same work dir must not silently reuse the old scores.
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained over an old candidate"))
    base = resolve({"data": str(tiny_npz)})
    _finished_candidate(tmp_path / "baseline", resolve(base.to_dict(), {"augment": ["none"], "epochs": 8}), 0.66)
    with pytest.raises(MedtrainError, match=r"other settings \(epochs: 8, now 3"):
        make_train_fn(base, tmp_path)(["none"], {"epochs": 3})


@pytest.mark.parametrize("result", [{"best": {"val_auc": 0.9}}, {"val": {"acc": 0.5}}, {"val": {"auc": None}}])
def test_train_fn_scores_val_auc_and_nothing_else(tiny_npz, tmp_path, monkeypatch, result):
    # metrics.json holds the selected checkpoint's validation AUC at val.auc; there is no "best" mapping.
    monkeypatch.setattr(medtrain.api, "train", lambda cfg, **k: result)
    with pytest.raises(MedtrainError, match="val.auc"):
        make_train_fn(resolve({"data": str(tiny_npz)}), tmp_path)(["none"], {})


@pytest.mark.slow
def test_augment_search_end_to_end_with_real_training(tiny_npz, tmp_path, capsys):
    # No fake: one real short training per candidate, scored on what medtrain.train really returns.
    out = tmp_path / "policy.yaml"
    code = main(["augment", "search", "--data", str(tiny_npz), "--model", "resnet10_28_half", "--batch-size", "48",
                 "--accelerator", "cpu", "--budget-epochs", "1", "--n-values", "1", "--m-values", "5",
                 "--base-augment", "flip", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    record = load_policy(out).metadata["search"]
    scores = [r["val_auc"] for r in record["results"]]
    assert [(r["n"], r["m"]) for r in record["results"]][1] == (1, 5) and record["results"][0]["n"] == 0
    assert all(isinstance(v, float) for v in scores) and record["best"]["val_auc"] == max(scores)
    for name in ("baseline", "ra-n1-m5"):
        m = json.loads((tmp_path / "policy-search" / name / "metrics.json").read_text())
        assert m["val"]["auc"] == pytest.approx(scores[0 if name == "baseline" else 1], abs=1e-6)
        assert yaml.safe_load((tmp_path / "policy-search" / name / "config.yaml").read_text())["epochs"] == 1
        # ranked on validation, and the test split not even scored (it is for the final report)
        assert m["sizes"]["test"] == 0 and not (tmp_path / "policy-search" / name / "predictions_test.csv").exists()
    assert f"--augment flip,{out}" in capsys.readouterr().out


def test_augment_search_writes_the_best_policy(tiny_npz, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls, lambda n, m: 0.7 + (0.2 if (n, m) == (1, 6) else 0)))
    # Training's --augment taking policy files is checked before any training; this test is about the search.
    monkeypatch.setattr("medtrain.cli.augment._check_train_accepts_policy_files", lambda *a: None)
    out = tmp_path / "policy.yaml"
    code = main(["augment", "search", "--data", str(tiny_npz), "--budget-epochs", "2", "--n-values", "1,2",
                 "--m-values", "3,6", "--base-augment", "flip", "--out", str(out)])
    assert code == 0
    policy = load_policy(out)
    assert policy.layers == 1 and policy.metadata["search"]["best"]["m"] == 6
    assert len(calls) == 5 and all(cfg.epochs == 2 for cfg, _, _ in calls)
    assert f"--augment flip,{out}" in capsys.readouterr().out


def test_augment_search_stops_early_if_training_cannot_take_policy_files(tiny_npz, tmp_path, monkeypatch, capsys):
    def refuse(names, params):
        raise MedtrainError(f"unknown augmentation '{names[-1]}'")

    monkeypatch.setattr("medtrain.augment.build_batch_augment", refuse)
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained anyway"))
    code = main(["augment", "search", "--data", str(tiny_npz), "--budget-epochs", "1", "--out",
                 str(tmp_path / "p.yaml")])
    assert code == 2 and "cannot take a policy file" in capsys.readouterr().err


def test_policy_file_probe_uses_its_own_file_and_leaves_nothing(tmp_path):
    # Searches sharing a work dir (candidates trained in parallel) must not delete each other's probe.
    other = save_policy(randaugment_policy(2, 2), tmp_path / "probe.yaml")
    _check_train_accepts_policy_files(["flip"], {}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe.yaml"] and load_policy(other).layers == 2


def fake_policy_train(calls):
    """Stands in for medtrain.api.train in the AutoAugment-style search: the score is the total probability
    of the Rotate ops in the trial's policy file (known best), no files written."""

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        policy = load_policy(next(a for a in cfg.augment if a.endswith(".yaml")))
        calls.append({"cfg": cfg, "policy": policy, "evaluate_test": evaluate_test})
        score = 0.5 + sum(op.prob for sub in policy.sub_policies for op in sub if op.name == "Rotate") / 10
        return {"best_epoch": 0, "history": [{"epoch": 0, "val_auc": score}], "val": {"auc": score}, "test": {}}

    return train


def test_autoaugment_search_writes_the_best_trials_policy_scored_on_validation(tiny_npz, tmp_path, monkeypatch,
                                                                                capsys):
    calls = []
    monkeypatch.setattr(medtrain.api, "train", fake_policy_train(calls))
    out, work = tmp_path / "aa.yaml", tmp_path / "work"
    code = main(["augment", "search", "--data", str(tiny_npz), "--method", "autoaugment", "--budget-epochs", "2",
                 "--trials", "4", "--sub-policies", "2", "--base-augment", "flip", "--work-dir", str(work),
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert len(calls) == 4
    assert all(op.prob == 0 for sub in calls[0]["policy"].sub_policies for op in sub)  # trial 0: no policy
    for n, call in enumerate(calls):
        cfg = call["cfg"]
        assert cfg.epochs == 2 and call["evaluate_test"] is False and cfg.out == str(work / "trials" / f"{n:03d}")
        assert cfg.augment == ("flip", str(work / "trials" / f"{n:03d}.yaml"))
    record = load_policy(out).metadata["search"]
    best = max(range(4), key=lambda n: record["results"][n]["value"])
    assert record["best_trial"] == best and load_policy(out).sub_policies == calls[best]["policy"].sub_policies
    assert record["selected_on"] == "val_auc (validation split)" and len(record["results"]) == 4
    assert f"--augment flip,{out}" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    ([], "give --trials N and/or --budget MINUTES"),
    (["--budget", "0"], "--budget must be a number of minutes > 0"),
    (["--trials", "2", "--storage", "sqlite:////nonexistent-dir/sub/study.db"], "cannot open the study database"),
])
def test_autoaugment_search_bad_limits_are_one_line_exit_2_and_write_nothing(tiny_npz, tmp_path, capsys, extra,
                                                                             message):
    out, work = tmp_path / "aa.yaml", tmp_path / "work"
    assert main(["augment", "search", "--data", str(tiny_npz), "--method", "autoaugment", "--budget-epochs", "1",
                 "--work-dir", str(work), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not work.exists() and not out.exists()


@pytest.mark.parametrize("method", ["randaugment", "autoaugment"])
@pytest.mark.parametrize("extra, message", [
    (["--data", "nope.npz"], "--data nope.npz: no such file or folder"),
    (["--base-augment", "flip,bogus"], "unknown augmentation 'bogus'"),  # was 'cannot take a policy file'
])
def test_augment_search_refuses_bad_data_or_names_before_writing(tiny_npz, tmp_path, capsys, method, extra,
                                                                 message):
    """An empty work folder, or a study that blocked the corrected command, was left (a user walkthrough)."""
    out, work = tmp_path / "p.yaml", tmp_path / "work"
    data = [] if "--data" in extra else ["--data", str(tiny_npz)]
    trials = ["--trials", "1"] if method == "autoaugment" else []
    assert main(["augment", "search", *data, "--method", method, "--budget-epochs", "1", *trials,
                 "--work-dir", str(work), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not work.exists() and not out.exists()


@pytest.mark.parametrize("flag", [["--trials", "3"], ["--storage", "notaurl"], ["--budget", "5"]])
def test_randaugment_search_refuses_the_flags_of_the_autoaugment_search(tiny_npz, tmp_path, capsys, flag):
    """They were accepted and ignored, an unusable --storage too (a user walkthrough)."""
    out = tmp_path / "p.yaml"
    assert main(["augment", "search", "--data", str(tiny_npz), "--budget-epochs", "1", *flag, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{flag[0]} applies to --method autoaugment" in err and err.count("\n") == 1 and not out.exists()


def test_search_grid_values_are_read_as_numbers_or_refused_by_flag():
    from medtrain.cli.augment import _numbers

    assert _numbers("1,2,", "--n-values", int) == [1, 2]
    assert _numbers("5,9.5,10", "--m-values") == [5, 9.5, 10] and isinstance(_numbers("5", "--m-values")[0], int)
    with pytest.raises(MedtrainError, match=r"^--n-values must be comma-separated integers, got '1,2.5'$"):
        _numbers("1,2.5", "--n-values", int)
    with pytest.raises(MedtrainError, match=r"^--m-values must be comma-separated numbers, got '1,x'$"):
        _numbers("1,x", "--m-values")
