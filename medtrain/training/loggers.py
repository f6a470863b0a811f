"""The Lightning logger a run asks for (``--logger``): a CSV file, a TensorBoard log whose HPARAMS tab holds the
run's settings, or an MLflow run (in a SQLite store in the run folder unless ``MLFLOW_TRACKING_URI`` names one),
whose id the run folder keeps (``logs/mlflow_run_id``) so that ``--resume`` continues it; and which of Lightning's
own log messages a run lets through (:func:`lightning_messages`)."""
from __future__ import annotations

import logging
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

from medtrain._io import write_text
from medtrain.errors import MedtrainError

#: the per-epoch history numbers (:class:`medtrain.training.callbacks.HistoryLogger` logs them as scalars under
#: these tags) that TensorBoard's HPARAMS tab shows beside each run's settings, at their latest epoch
HPARAM_METRICS = ("val_auc", "val_acc", "val_loss", "train_loss")

#: where ``--logger mlflow`` writes when MLFLOW_TRACKING_URI is unset: RUN/logs/<this>
MLFLOW_DB = "mlflow.db"

#: the id of the MLflow run a run folder's run logs to, kept in RUN/logs/<this>: ``--resume`` continues that run
MLFLOW_RUN_ID = "mlflow_run_id"


#: while ``--logger mlflow`` opens an HTTP tracking server (the experiment, the run and its settings, or the continued
#: run looked up), MLflow's settings below, unless the user set them: MLflow's own (7 retries with a backoff factor of
#: 2, 120 s a request) had kept an unreachable server silent for about 4 minutes after the data load (regression
#: walk); with these a refused connection is said in ~5 s, a server that never answers in ~30 s. The rest of the run, once the server answered, uses MLflow's (or the user's) settings again.
OPEN_HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": 2, "MLFLOW_HTTP_REQUEST_TIMEOUT": 8}


class NewMlflowRunWarning(UserWarning):
    """A resumed run's MLflow run is not in the tracking store it now uses: a new MLflow run holds the rest."""


def build_logger(kind: str, run_dir: Path, hparams: dict, resume: bool = False):
    """Lightning's logger for ``--logger`` (``csv``, ``tensorboard``, ``mlflow``; ``none`` gives False), writing
    under ``run_dir/logs``, with the run's settings recorded as hyperparameters; ``resume``: the run continues
    from its checkpoint (an MLflow run continues the MLflow run it started)."""
    from lightning.pytorch import loggers

    if kind == "none":
        return False
    if kind == "mlflow":
        return _mlflow_logger(run_dir, hparams, resume)
    if kind == "csv":
        logger = loggers.CSVLogger(save_dir=str(run_dir), name="logs", version="csv")
    else:
        logger = loggers.TensorBoardLogger(save_dir=str(run_dir), name="logs", version="tensorboard",
                                           default_hp_metric=False)
    with warnings.catch_warnings():  # the CSV log is started here, where Lightning warns of an existing one
        # "... exists and is not empty. Previous log files in this directory will be deleted": on --resume the file
        # is started afresh and HistoryLogger writes the restored epochs to it again, so none is lost
        warnings.filterwarnings("ignore", "Experiment logs directory .* exists and is not empty")
        logger.log_hyperparams(hparams)  # hparams.yaml
    if kind == "tensorboard":
        _tensorboard_hparams(logger, hparams)
    return logger


def _tensorboard_hparams(logger, hparams: dict) -> None:
    """The settings as TensorBoard's hparams summaries, declaring :data:`HPARAM_METRICS` as the run's metrics.

    Lightning writes these only with metric values (``log_hyperparams(params, metrics)``, which also logs each
    value as a scalar); with ``default_hp_metric=False`` and none it wrote only hparams.yaml, and the HPARAMS tab
    was empty (user walkthrough). A placeholder value would add a false point at step 0 to the ``val_auc`` curve
    and stay there in an interrupted run; declared without values, the tab reads each metric from the scalars
    :class:`~medtrain.training.callbacks.HistoryLogger` logs every epoch, so it is right during training too."""
    from lightning.pytorch.utilities import rank_zero_only
    from torch.utils.tensorboard.summary import hparams as hparams_summaries

    if rank_zero_only.rank != 0:
        return
    # TensorBoard takes numbers, strings and booleans; anything else (None, a list, a dict) as its text
    params = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in hparams.items()}
    writer = logger.experiment._get_file_writer()  # what Lightning's own log_hyperparams writes to
    for summary in hparams_summaries(params, dict.fromkeys(HPARAM_METRICS, 0.0)):  # the values are not written
        writer.add_summary(summary)
    writer.flush()


def mlflow_run_name(run_dir: Path) -> str:
    """The MLflow run name: the run folder's last three parts ("sweep/lr=0.01/seed0", "cv/fold0"), so the runs of a
    compare, a tune or a cross-validation that share one tracking server are told apart (the leaf alone,
    "seed0", "fold0", was the same for many)."""
    parts = [p for p in Path(run_dir).resolve().parts if p != Path(run_dir).resolve().anchor]
    return "/".join(parts[-3:])


@contextmanager
def _quiet_store_creation():
    """MLflow's "Creating initial MLflow database tables..." / "Updating database tables" and Lightning's
    "Experiment with name medtrain not found. Creating it." go to the log of every fresh run folder's store: off
    while the logger is made (warnings and errors still show)."""
    names = ("mlflow.store.db.utils", "alembic", "lightning.pytorch.loggers.mlflow")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _mlflow_logger(run_dir: Path, hparams: dict, resume: bool = False):
    """An MLflow run named :func:`mlflow_run_name` in experiment "medtrain", in the store MLFLOW_TRACKING_URI names
    (a team server, one shared store) or else a SQLite store ``RUN/logs/mlflow.db`` (``mlflow ui
    --backend-store-uri sqlite:///RUN/logs/mlflow.db``). The file store (``RUN/logs/mlruns``) it used had been put
    in maintenance mode by MLflow 3, which refuses to open it without ``MLFLOW_ALLOW_FILE_STORE=true``: every
    ``--logger mlflow`` run died with a traceback. Any error opening the store is one line; an HTTP server that
    does not answer is said within seconds (:data:`OPEN_HTTP_SETTINGS`), not after MLflow's 4 minutes of retries.

    The MLflow run's id is kept in ``RUN/logs/mlflow_run_id``; a resumed run continues that MLflow run (marked
    running again, its settings already logged), where it had started a second one holding only the epochs after
    the interruption (user walkthrough). Where the store no longer holds it (another MLFLOW_TRACKING_URI), a
    new MLflow run is started, and said."""
    from lightning.pytorch import loggers
    from lightning.pytorch.utilities import rank_zero_only

    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    artifacts = None
    logs = (Path(run_dir) / "logs").resolve()
    if not uri:
        logs.mkdir(parents=True, exist_ok=True)
        # SQLAlchemy percent-decodes the path and ends it at a "?" (its options): those two escaped
        uri = "sqlite:///" + (logs / MLFLOW_DB).as_posix().replace("%", "%25").replace("?", "%3F")
        # beside the store, not MLflow's default ./mlruns in the current directory
        artifacts = (logs / "mlartifacts").as_uri()
    kept = logs / MLFLOW_RUN_ID
    run_id = (kept.read_text().strip() or None) if resume and kept.is_file() else None
    if resume and run_id is None:  # logs/ deleted or copied without it: the first epochs' curve is not continued
        warnings.warn(NewMlflowRunWarning(f"{kept} is gone, so the MLflow run this run logged to is not known: its "
                                          f"remaining epochs go to a new MLflow run"))
    lowered = {}
    try:
        with _quiet_store_creation(), _impatient_http(uri) as lowered:
            logger = _continued_mlflow_run(uri, run_id) if run_id else None
            if logger is None:
                logger = loggers.MLFlowLogger(experiment_name="medtrain", run_name=mlflow_run_name(run_dir),
                                              tracking_uri=uri, artifact_location=artifacts)
                logger.log_hyperparams(hparams)  # creates the experiment and the run: the store is reached here
    except Exception as e:  # MLflow's, SQLAlchemy's, a server's: whatever the store raises, the user fixes
        unreachable = _unreachable(e)  # said with how to wait longer, where medtrain had shortened the waits
        first = unreachable or (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise MedtrainError(f"--logger mlflow cannot use the tracking store {uri}: {first[:300]}"
                            + (_patience_hint(lowered) if unreachable else "")) from e
    if rank_zero_only.rank == 0 and logger.run_id:
        logs.mkdir(parents=True, exist_ok=True)
        write_text(kept, logger.run_id + "\n")
    return logger


@contextmanager
def _impatient_http(uri: str):
    """:data:`OPEN_HTTP_SETTINGS` in the environment while an HTTP(S) store ``uri`` is opened, for those the user did
    not set (MLflow reads them at each request); yields the ones set, removed again afterwards."""
    lowered = {}
    if uri.lower().startswith(("http://", "https://")):
        lowered = {k: str(v) for k, v in OPEN_HTTP_SETTINGS.items() if k not in os.environ}
    os.environ.update(lowered)
    try:
        yield lowered
    finally:
        for name in lowered:
            os.environ.pop(name, None)


def _unreachable(e: BaseException) -> str | None:
    """What kept an HTTP tracking server from answering, in a few words ("cannot connect (Connection refused)",
    "no answer (timed out)"), where ``e`` comes from that; MLflow's own line for it is a 400-character
    repr of urllib3's retry error, whose reason came after medtrain's 300-character cut."""
    try:
        from requests.exceptions import ConnectionError as Unconnected, Timeout
    except ImportError:
        return None
    seen, depth = e, 0
    while seen is not None and depth < 10:
        if isinstance(seen, (Unconnected, Timeout)):
            text = str(seen)
            if isinstance(seen, Timeout) or "timed out" in text:  # (retried timeouts end in a ConnectionError)
                return "no answer (timed out)"
            said = re.search(r"\[Errno -?\d+\] ([^\"')]+)", text)
            return f"cannot connect ({said.group(1).strip()})" if said else "cannot connect"
        seen, depth = seen.__cause__ or seen.__context__, depth + 1
    return None


def _patience_hint(lowered: dict) -> str:
    """How to give a slow tracking server longer, where medtrain had shortened MLflow's waits (``lowered``)."""
    if not lowered:
        return ""
    said = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "retries {} times", "MLFLOW_HTTP_REQUEST_TIMEOUT": "waits {} s a request"}
    now = " and ".join(said[k].format(v) for k, v in lowered.items())
    return f"; medtrain {now} while opening it: set {' and '.join(lowered)} to wait longer"


def _continued_mlflow_run(uri: str, run_id: str):
    """Lightning's logger on the existing MLflow run ``run_id``, marked running again; None (said) where the store
    ``uri`` does not hold it. An error reaching the store itself is raised."""
    from lightning.pytorch import loggers
    from mlflow.exceptions import MlflowException

    logger = loggers.MLFlowLogger(tracking_uri=uri, run_id=run_id)
    try:
        client = logger.experiment  # reads the run
    except MlflowException as e:
        if getattr(e, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
            raise
        warnings.warn(NewMlflowRunWarning(f"the MLflow run {run_id} this run logged to is not in the tracking store "
                                          f"{uri}: its remaining epochs go to a new MLflow run"))
        return None
    if client is not None and logger.run_id:  # None on the processes other than rank 0
        client.update_run(run_id, status="RUNNING")
    return logger


#: the starts of the lines Lightning logs at INFO for every Trainer that a medtrain run says once in its own
#: summary (the device and precision: "on cpu, bf16-mixed") or that say nothing to a user: 5 lines per
#: fit, 15 on stderr per default run (two flip pilots and the run), a third of a batch log's lines
_BOILERPLATE = ("💡 Tip:", "GPU available:", "TPU available:", "HPU available:", "IPU available:",
                "Using bfloat16 Automatic Mixed Precision", "Using 16bit Automatic Mixed Precision",
                "Loading `train_dataloader` to estimate number of stepping batches",
                "`Trainer.fit` stopped: `max_epochs=",
                "Restored all states from the checkpoint")  # (after "Restoring states from ...", which stays)
#: Lightning's lines on an interrupt that medtrain says itself in its one line ("medtrain: interrupted after epoch
#: 3; continue with ..."; a Python caller gets TrainingInterrupted): its signal connector's "[rank: 0] Received
#: SIGTERM: 15" and its trainer's blank line and "Detected KeyboardInterrupt, attempting graceful shutdown ..."
_INTERRUPT_LINES = ("Received SIGTERM", "Detected KeyboardInterrupt")
#: the logger of Lightning's signal connector, which logs the SIGTERM line itself, not through the rank-zero one
_SIGNAL_LOGGER = "lightning.pytorch.trainer.connectors.signal_connector"


class _NoTips(logging.Filter):
    """Drops Lightning's advertisements ("💡 Tip: ... try installing litlogger") and its per-Trainer device
    and precision boilerplate (:data:`_BOILERPLATE`), which it logs at INFO through its rank-zero logger for
    every Trainer. Other messages (early stopping, distributed set-up, problems) pass; ``quiet`` (a train with
    verbose False) drops every message below WARNING too: "Restoring states from the checkpoint path at ..." of a
    resumed run and "Detected KeyboardInterrupt, attempting graceful shutdown" had been printed by a quiet train. Lightning's
    own lines on an interrupt (:data:`_INTERRUPT_LINES`) are dropped always: medtrain says the interrupt in one line."""

    def __init__(self, quiet: bool = False):
        super().__init__()
        self.quiet = quiet

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        return (not (self.quiet and record.levelno < logging.WARNING) and not msg.startswith(_BOILERPLATE)
                and not any(line in msg for line in _INTERRUPT_LINES))


@contextmanager
def lightning_messages(quiet: bool = False):
    """:class:`_NoTips` on Lightning's rank-zero logger while medtrain builds and runs its Trainer, and only then
    (a caller's own Lightning code keeps its messages)."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_module

    logs, tips = (rank_zero_module.log, logging.getLogger(_SIGNAL_LOGGER)), _NoTips(quiet)
    for log in logs:
        log.addFilter(tips)
    try:
        yield
    finally:
        for log in logs:
            log.removeFilter(tips)
