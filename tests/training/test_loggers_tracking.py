"""Where --logger mlflow and --logger tensorboard put what a user looks at: an MLflow run in a SQLite store in the
run folder (or the store MLFLOW_TRACKING_URI names), named so that runs sharing a store are told apart, opened
with any MLflow (3.x refuses its old file store); the run's settings in TensorBoard's HPARAMS tab."""
import importlib.machinery
import importlib.util

import pytest

import medtrain
from medtrain.errors import TrainingInterrupted
from medtrain.cli import main
from medtrain.training.loggers import HPARAM_METRICS, build_logger
from conftest import fast_config, make_npz

HP = {"lr": 0.01, "model": "resnet10_28_half", "epochs": 3, "augment": ["flip"], "fold": None}


class FakeMLFlowLogger:
    """Stands in for Lightning's MLFlowLogger (mlflow is not needed): records where it was asked to write."""
    made = []
    run_id = "fake-run"

    def __init__(self, experiment_name, run_name=None, tracking_uri=None, artifact_location=None, **_):
        self.experiment_name, self.run_name, self.tracking_uri = experiment_name, run_name, tracking_uri
        self.artifact_location, self.params = artifact_location, None
        FakeMLFlowLogger.made.append(self)

    def log_hyperparams(self, params):
        self.params = params


@pytest.fixture
def fake_mlflow(monkeypatch):
    from lightning.pytorch import loggers

    FakeMLFlowLogger.made = []
    monkeypatch.setattr(loggers, "MLFlowLogger", FakeMLFlowLogger)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return FakeMLFlowLogger


def test_mlflow_writes_a_sqlite_store_in_the_run_folder_by_default(fake_mlflow, tmp_path):
    run = tmp_path / "sweep" / "lr=0.01" / "seed0"
    logger = build_logger("mlflow", run, HP)
    db = (run / "logs" / "mlflow.db").resolve()
    assert logger.tracking_uri == f"sqlite:///{db.as_posix()}" and logger.params == HP
    assert logger.artifact_location == (run / "logs" / "mlartifacts").resolve().as_uri()  # not ./mlruns in the cwd
    # the runs of a compare / tune / cross-validation are told apart, not all "seed0"
    assert logger.run_name == "sweep/lr=0.01/seed0" and logger.experiment_name == "medtrain"


def test_mlflow_uses_the_store_mlflow_tracking_uri_names(fake_mlflow, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5000")
    logger = build_logger("mlflow", tmp_path / "run", HP)
    assert logger.tracking_uri == "http://mlflow.team:5000" and logger.artifact_location is None
    # nothing of the store in the run folder: only the id of the MLflow run, which --resume continues
    assert [p.name for p in (tmp_path / "run" / "logs").iterdir()] == ["mlflow_run_id"]


def test_a_tracking_store_that_fails_is_one_line_and_exit_2(tiny_npz, tmp_path, monkeypatch, capsys):
    from lightning.pytorch import loggers

    class Refusing(FakeMLFlowLogger):
        def log_hyperparams(self, params):
            raise RuntimeError("The filesystem tracking backend is in maintenance mode\nsecond line")

    monkeypatch.setattr(loggers, "MLFlowLogger", Refusing)
    real = importlib.util.find_spec  # as if mlflow were installed
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: importlib.machinery.ModuleSpec("mlflow", None) if name == "mlflow"
                        else real(name, *a))
    code = main(["train", "--data", str(tiny_npz), "--logger", "mlflow", "--epochs", "1", "--accelerator", "cpu",
                 "--model", "resnet10_28_half", "--no-progress", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "maintenance mode" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def mlflow_run(tmp_path_factory):
    """A run with --logger mlflow (lr 2e-3, 3 epochs) in a sweep-like folder, interrupted in its last epoch and
    resumed, trained in a working directory of its own: (run folder, metrics, working directory). Shared by the
    tests of what its store holds (each had trained its own, and MLflow's SQLite store is seconds to create)."""
    from conftest import InterruptAt

    if importlib.util.find_spec("mlflow") is None:
        pytest.skip("mlflow not installed (medtrain[mlflow])")
    root = tmp_path_factory.mktemp("mlflow")
    data = make_npz(root / "d.npz")
    cwd = root / "cwd"
    cwd.mkdir()
    run = cwd / "cv" / "lr=0.01" / "fold0"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.chdir(cwd)
        with pytest.raises(TrainingInterrupted, match="--resume"):
            medtrain.train(fast_config(data, run, logger="mlflow", lr=2e-3, epochs=3), verbose=False,
                           callbacks=[InterruptAt(2)])
        m = medtrain.train({"progress": False}, resume=run, verbose=False)
    return run, m, cwd


def _mlflow_runs(run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(run / 'logs' / 'mlflow.db').resolve().as_posix()}")  # `mlflow ui` reads it
    return client, client.search_runs([client.get_experiment_by_name("medtrain").experiment_id])


def test_mlflow_run_is_readable_from_the_run_folders_store(mlflow_run):
    run, m, cwd = mlflow_run
    client, (found,) = _mlflow_runs(run)
    assert found.info.run_name == "cv/lr=0.01/fold0" and float(found.data.params["lr"]) == 2e-3
    aucs = [x.value for x in client.get_metric_history(found.info.run_id, "val_auc")]
    assert aucs == pytest.approx([h["val_auc"] for h in m["history"]], abs=1e-6)
    assert not {"mlruns", "mlartifacts", "mlflow.db"} & {p.name for p in cwd.iterdir()}  # none in the cwd


def test_a_resumed_run_continues_its_mlflow_run_rather_than_starting_a_second(mlflow_run):
    run, m, _ = mlflow_run
    assert len(m["history"]) == 3
    client, found = _mlflow_runs(run)
    assert len(found) == 1  # one MLflow run for one medtrain run, its curve whole
    aucs = [x.value for x in client.get_metric_history(found[0].info.run_id, "val_auc")]
    assert aucs == pytest.approx([h["val_auc"] for h in m["history"]], abs=1e-6)
    assert found[0].info.status == "FINISHED"


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow not installed (medtrain[mlflow])")
def test_a_resumed_run_whose_mlflow_run_is_not_in_the_store_starts_a_new_one_and_says_so(tmp_path, monkeypatch):
    # MLFLOW_TRACKING_URI changed between the interrupted call and --resume: the kept id names no run there
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    (run / "logs" / "mlflow_run_id").write_text("0123456789abcdef0123456789abcdef\n")
    from medtrain.training.loggers import NewMlflowRunWarning  # medtrain's own: the CLI says it in one line

    with pytest.warns(NewMlflowRunWarning, match="0123456789abcdef0123456789abcdef .* not in the tracking store"):
        logger = build_logger("mlflow", run, HP, resume=True)
    assert logger.run_id != "0123456789abcdef0123456789abcdef"
    assert (run / "logs" / "mlflow_run_id").read_text().strip() == logger.run_id


def test_tensorboard_hparams_tab_holds_the_runs_settings_and_metrics(tiny_npz, tmp_path):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import metadata

    run = tmp_path / "run"
    m = medtrain.train(fast_config(tiny_npz, run, logger="tensorboard", lr=2e-3, epochs=2), verbose=False)
    mux = EventMultiplexer()
    mux.AddRunsFromDirectory(str(run / "logs"))
    mux.Reload()
    content = mux.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    assert content, "no hparams summaries: TensorBoard's HPARAMS tab is empty"
    (tags,) = content.values()
    experiment = metadata.parse_experiment_plugin_data(tags[metadata.EXPERIMENT_TAG])
    session = metadata.parse_session_start_info_plugin_data(tags[metadata.SESSION_START_INFO_TAG])
    assert session.hparams["lr"].number_value == 2e-3 and session.hparams["epochs"].number_value == 2
    assert session.hparams["model"].string_value == "resnet10_28_half"
    assert [mi.name.tag for mi in experiment.metric_infos] == list(HPARAM_METRICS)
    # the tab reads each metric's latest scalar: the last epoch's validation AUC, one point per epoch
    (name,) = content
    aucs = [e.value for e in mux.Scalars(name, "val_auc")]
    assert aucs == pytest.approx([h["val_auc"] for h in m["history"]], abs=1e-6)


def _closed_local_port() -> int:
    """A port on this machine that nothing listens on: a connection to it is refused at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow not installed (medtrain[mlflow])")
def test_an_unreachable_tracking_server_is_one_line_within_seconds_and_leaves_no_run_folder(
        tiny_npz, tmp_path, monkeypatch, capsys):
    # MLflow's own waits (7 retries, backoff factor 2, 120 s a request) had kept `train` silent ~4 minutes
    import os
    import time

    from medtrain.training import fit

    opening = []  # the seconds spent opening the store (not the imports and data load before it)

    def timed(*a, **kw):
        t = time.perf_counter()
        try:
            return build_logger(*a, **kw)
        finally:
            opening.append(time.perf_counter() - t)

    monkeypatch.setattr(fit, "build_logger", timed)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_local_port()}")
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    code = main(["train", "--data", str(tiny_npz), "--logger", "mlflow", "--epochs", "1", "--accelerator", "cpu",
                 "--model", "resnet10_28_half", "--flip", "false", "--no-progress", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "cannot connect (Connection refused)" in err  # the reason, not a cut-off repr of urllib3's error
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" in err and "MLFLOW_HTTP_REQUEST_TIMEOUT" in err  # how to wait longer
    assert opening and max(opening) < 30, f"{max(opening):.0f} s opening the store"  # refused: 2 quick retries
    assert not (tmp_path / "x").exists()  # nothing trained: nothing left to --resume
    # MLflow's waits are back for the rest of the process (a run's later logging rides out a server's blip)
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ and "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow not installed (medtrain[mlflow])")
@pytest.mark.parametrize("user_set, seen, hint", [
    ({}, (2, 8), "retries 2 times and waits 8 s a request"),
    ({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5"}, (5, 8), "waits 8 s a request"),
    ({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5", "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}, (5, 60), None),
])
def test_opening_a_tracking_server_shortens_mlflows_waits_unless_the_user_set_them(
        tmp_path, monkeypatch, user_set, seen, hint):
    import os

    import requests
    from mlflow.utils import rest_utils

    asked = []

    def unreachable(method, url, max_retries, *a, timeout=None, **kw):
        asked.append((max_retries, timeout))
        raise requests.exceptions.ConnectionError("[Errno 111] Connection refused")

    monkeypatch.setattr(rest_utils, "_get_http_response_with_retries", unreachable)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.team:5000")
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in user_set.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(medtrain.MedtrainError, match="cannot connect") as e:
        build_logger("mlflow", tmp_path / "run", HP)
    assert asked and set(asked) == {seen}
    if hint is None:  # the user's own waits: nothing to tell them
        assert "to wait longer" not in str(e.value)
    else:
        assert hint in str(e.value)
        assert all(f"set {k}" not in str(e.value) and f"and {k}" not in str(e.value) for k in user_set)
    assert {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")} == {
        k: user_set.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}


def test_a_resumed_run_that_lost_its_kept_mlflow_run_id_says_a_new_mlflow_run_holds_the_rest(fake_mlflow, tmp_path):
    # logs/ deleted between the interrupted call and --resume: a new MLflow run had begun without a word
    from medtrain.training.loggers import NewMlflowRunWarning

    with pytest.warns(NewMlflowRunWarning, match="mlflow_run_id is gone"):
        build_logger("mlflow", tmp_path / "run", HP, resume=True)
