"""Whether a run folder can be reused, continued or must be refused: the rules :func:`medtrain.api.train` (the same
settings given again, ``resume``) and :func:`medtrain.api.train_or_reuse` (compare, searches) apply to a folder that
already holds a run, and :class:`RunResult`, what ``train`` returns.
"""
from __future__ import annotations

import functools
import os
import shlex
import sys
from collections.abc import Collection
from pathlib import Path

from medtrain import config as config_mod
from medtrain import provenance, rundir
from medtrain.augment.policies import policy_digests
from medtrain.config import Config
from medtrain.config.settings import FORMAT_0_DEFAULTS
from medtrain.models.pretrained import HUB_PREFIXES
from medtrain.errors import MedtrainError

#: Settings that may differ between a run and its continuation (or reuse) without changing its result
#: (``store``: the same tensors in memory or mapped from disk, so a run killed for memory resumes mapped).
#: The number of processes (devices x num_nodes) is not one of them: the global batch, the shards and the
#: steps of the schedule depend on it.
RESUMABLE_KEYS = ("progress", "data_dir", "store", "accelerator", "strategy", "out")


class RunResult(dict):
    """What :func:`medtrain.api.train` returns: ``metrics.json``'s content, as a dict equal to the file's (``==`` compares the
    content only), and ``run_dir``, the run's directory (absolute), which ``metrics.json`` does not hold."""

    def __init__(self, metrics: dict, run_dir: str | Path):
        super().__init__(metrics)
        self.run_dir = Path(run_dir).absolute()

    def __repr__(self) -> str:
        """One line of the run (its directory, network and data, test AUC and ACC with their intervals, the epoch
        kept), what a notebook shows of it: dict's own repr printed the whole file (4,254 characters for one
        epoch, its ``history`` most of it). ``dict(result)`` shows everything."""
        if not self:  # the processes of rank > 0
            return f"RunResult({shown_path(self.run_dir)!r}, {{}})"
        what = f"{self.get('model', '?')} on {self.get('dataset', '?')}"
        test = self.get("test") or {}
        scores = ", ".join(f"{k}={_number(test.get(k))}{_interval(test.get(f'{k}_ci'))}" for k in ("auc", "acc"))
        scored = f"test {scores}, n={test.get('n', '?')}" if test else "no test split scored"
        epochs, kept = self.get("stop_epoch"), self.get("best_epoch")
        if kept is not None:
            last = f" of {epochs + 1}" if epochs is not None else ""
            how = "last" if self.get("checkpoint") == "last" else f"best by {self.get('monitor', 'validation')}"
            scored += f"; epoch {kept + 1}{last} kept ({how})"
        return f"RunResult({shown_path(self.run_dir)!r}, {what}: {scored})"


def shown_path(path: Path) -> str:
    """``path`` as a notebook user finds it: relative to the working directory where it lies under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _number(x) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) and not isinstance(x, bool) and x == x else "n/a"


def _interval(ci) -> str:
    """`` [lo, hi]``; nothing where the run drew none (``--bootstrap 0``: ``[None, None]``)."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or any(_number(v) == "n/a" for v in ci):
        return ""
    return f" [{_number(ci[0])}, {_number(ci[1])}]"


def _differences(saved: Config, want: dict, ignore=RESUMABLE_KEYS) -> list[tuple[str, object, object]]:
    """``(key, saved value, wanted value)`` for each setting of ``want`` that differs from the run's."""
    have = saved.to_dict()
    auto = {"model": "auto", "checkpoint": "auto", **dict.fromkeys(config_mod.AUTO_NUMBERS)}  # resolve_auto's
    want = {k: have[k] if k in auto and v == auto[k] else v for k, v in want.items()}
    return [(k, have[k], v) for k, v in want.items()
            if k not in ignore and not config_mod.same_setting(k, have.get(k), v)]


def _resume_config(run_dir: Path, overrides: dict | None) -> Config:
    """The saved config of ``run_dir``; ``overrides`` may only change :data:`RESUMABLE_KEYS`."""
    saved = rundir.load_config(run_dir)
    given = {k.replace("-", "_"): v for k, v in (overrides or {}).items()}
    wanted = config_mod.resolve(saved.to_dict(), given).to_dict()  # coerced as the saved values are
    diff = _differences(saved, {k: wanted[k] for k in given})
    if diff:
        k, have, want = diff[0]
        raise MedtrainError(f"--resume {run_dir}: --{k.replace('_', '-')} {want} differs from the run's {have}; "
                            f"a resumed run keeps its settings (only {', '.join(RESUMABLE_KEYS)} may change)")
    return config_mod.resolve(saved.to_dict(), {k: v for k, v in given.items() if k in RESUMABLE_KEYS})


def _same_run(cfg: Config, run_dir: Path, writer: bool = True, started: bool = False,
              typed: Collection[str] | None = None, verbose: bool = True) -> bool:
    """Whether ``run_dir`` holds a run of ``cfg``'s settings, to continue or return (a requeued batch job reruns its
    command); one of other settings is refused, naming them, and the way on: another --out for a finished run
    (``--resume`` had been offered, which has nothing to do there), else ``--resume`` too (also for one another
    process ``started`` while this one loaded its data). Ranks > 0 follow rank 0 where the run has a checkpoint
    (a new run has none before they all started; without one, a continued run starts afresh anyway). ``typed``,
    ``verbose``: :func:`defaults_then`'s."""
    if not rundir.is_run(run_dir):
        return False
    if not writer:
        return rundir.has_checkpoint(run_dir) or rundir.is_finished(run_dir)
    check_reusable(cfg, run_dir, "it is finished: give these settings another --out (out= in Python)"
                   if rundir.is_finished(run_dir) and not started else f"use --resume {shlex.quote(str(run_dir))} to "
                   "continue it with its own settings, or another --out", typed, verbose)
    return True


def resume_named(cfg: Config, run_dir: Path, typed: Collection[str] | None = None, python: bool = False) -> str:
    """``; ...`` naming ``--resume RUN`` (``python``: ``train(resume=RUN)``) where ``run_dir`` holds a run of ``cfg``'s
    settings: its own command given again and refused by a check of a new run's settings added since it started
    (``--flip false`` with a flipping TTA) had been refused without a word of ``--resume``, which takes the run's saved
    settings and continues it (or returns it, finished). ``""`` where it holds no run, or one that
    :func:`check_reusable` refuses (other settings, a policy file changed since: ``--resume`` then refuses it too).
    ``typed``: :func:`defaults_then`'s."""
    if not rundir.is_run(run_dir):
        return ""
    try:
        check_reusable(cfg, run_dir, typed=typed, verbose=False)  # the one comparison, as the same command again's
    except MedtrainError:  # other settings, a changed policy, an unreadable config.yaml (said by what reads it next)
        return ""
    way = f"train(resume={str(run_dir)!r})" if python else f"`medtrain train --resume {shlex.quote(str(run_dir))}`"
    if rundir.is_finished(run_dir):
        return (f"; {run_dir} holds a finished run of these settings, started before this check: use it as it is "
                f"({way} returns it)")
    return f"; {run_dir} holds a run of these settings started before this check: {way} continues it with its " \
        "saved settings"


def _already_finished(run_dir: Path, verbose: bool, same: Config | None = None) -> RunResult:
    """The finished run in ``run_dir``; ``same``: the config of the same settings given again, whose data are
    checked against the run's record first (:func:`check_same_data`). One whose weights are gone or damaged
    (:func:`~medtrain.runmodel.refuse_incomplete`) is refused, naming them: it had been returned "already finished",
    exit 0, and every use of it then refused. It is not trained again over its ``metrics.json`` and report, which
    may be all that is left of it (a file being copied back, a user's record). Checkpoints an interruption left
    after its ``metrics.json`` are removed (by the first process alone: :func:`rundir.remove_checkpoints`)."""
    from medtrain.runmodel import refuse_incomplete
    from medtrain.training.distributed import launch_rank

    refuse_incomplete(run_dir)  # the line eval, predict, export and explain say of it too
    if launch_rank() == 0:
        rundir.remove_checkpoints(run_dir)
    if same is not None:
        check_same_data(same, run_dir)
    if verbose:
        print(f"{run_dir} is already finished (same settings); nothing to do" if same is not None
              else f"{run_dir} is already finished; nothing to resume")
    return RunResult(rundir.read_metrics(run_dir), run_dir)


def check_same_data(cfg: Config, run_dir: Path) -> None:
    """Refuse the settings of the finished run in ``run_dir`` given again when its own data (``cfg.data``: a
    MedMNIST file is not re-read) differ from those it recorded, in one line naming what changed and the way on:
    the inputs and splits of ``splits.csv`` (:func:`rundir.run_splits`: a folder or CSV that gained or lost
    images) and each split's digest in ``metrics.json`` (:func:`provenance.check_unchanged`: a rewritten .npz).
    The old run had been returned as the result of the new data (``train``), or reused (``train_or_reuse``).
    Its ``--pretrained`` source is the other input checked here (:func:`check_same_source`)."""
    check_same_source(cfg, run_dir)
    if not cfg.data:
        return
    if not os.path.exists(cfg.data):  # gone: refused as eval refuses it (where the run records them, the ways on)
        rundir.run_splits(run_dir, cfg)
    try:
        splits, metrics = rundir.run_splits(run_dir, cfg), rundir.read_metrics(run_dir)
        for split in ("train", "val", "test"):
            provenance.check_unchanged(metrics, splits, split, run_dir)
    except MedtrainError as e:
        said, way = str(e), "train on the data as they are now with another --out (out= in Python)"
        said = said.removesuffix("train a new run") + way if said.endswith("train a new run") else f"{said}; {way}"
        raise MedtrainError(f"{run_dir} is finished with these settings but not on these data: {said}") from None


def check_same_source(cfg: Config, run_dir: Path) -> None:
    """Refuse the settings of the finished run in ``run_dir`` given again when the weights file of its
    ``--pretrained`` source (a run's ``model.safetensors``, a weights file) now holds other bytes than those it
    trained from (``metrics.json``'s ``transfer.source_sha256``): a source retrained or overwritten in place had
    returned, or reused in a grid, the transfer from the old one, "already finished (same settings)" (a walk). A
    source that is gone is not refused (the run holds its weights), nor a hub name (its name is its identity)."""
    if not cfg.pretrained or str(cfg.pretrained).startswith(HUB_PREFIXES):
        return
    record = (_metrics_or_none(run_dir) or {}).get("transfer") or {}
    file, then = record.get("source_file"), record.get("source_sha256")
    if not file or not then or not os.path.isfile(file):
        return
    stat = os.stat(file)
    now = _file_sha256(file, stat.st_size, stat.st_mtime_ns)
    if now != then:
        raise MedtrainError(f"{run_dir} is finished with these settings but was trained from other weights of "
                            f"{cfg.pretrained} ({file}: sha256 {then[:12]}... then, {now[:12]}... now); train from the "
                            "source as it is now with another --out (out= in Python)")


@functools.lru_cache(maxsize=32)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """The SHA-256 of the bytes of ``path`` (as read_weights hashes those it loads), once per file as it is (its size
    and modification time in the key): a grid's finished cells sharing one source had hashed it once each."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_reusable(cfg: Config, run_dir: Path | None = None, advice: str = "use another output folder",
                   typed: Collection[str] | None = None, verbose: bool = True) -> None:
    """Refuse ``cfg`` when its directory (``cfg.out`` or ``run_dir``) holds a run of other settings (naming the
    first differences, then ``advice``); a default changed since a run of format 0 was written is not one
    (:func:`defaults_then`, which ``typed`` and ``verbose`` are for). A grid checks every cell's directory before any
    cell trains."""
    run_dir = Path(cfg.out if run_dir is None else run_dir)
    if rundir.is_run(run_dir):
        cfg = defaults_then(cfg, run_dir, typed, verbose)
        diff = _differences(rundir.load_config(run_dir), cfg.to_dict())
        if diff:
            shown = "; ".join(f"{k}: {have!r}, now {want!r}" for k, have, want in diff[:3])
            more = f"; {len(diff) - 3} more" if len(diff) > 3 else ""
            raise MedtrainError(f"{run_dir} was run with other settings ({shown}{more}); {advice}")
        check_policies(run_dir)


def check_policies(run_dir: Path, recorded: dict | None = None) -> None:
    """Refuse ``run_dir`` when a policy file it trained with (``recorded``, ``{path: sha256}``: its ``choices.json``'s
    by default) changed or went since: an edited policy had been taken for the same settings (the run trained with
    the old one returned or reused), or trained a resumed run's last epochs. Older runs recorded no digests."""
    recorded = (rundir.read_choices(run_dir) or {}).get("policies") or {} if recorded is None else recorded
    for path, digest in recorded.items():
        if (now := policy_digests([path]).get(path)) == digest:
            continue
        what, done = "changed" if now is not None else "is gone", rundir.is_finished(run_dir)
        # a finished run's metrics.json holds the policy's content as it trained (augment_policy): where to restore from
        kept = done and any(r.get("file") == path and r.get("policy") for r in
                            (_metrics_or_none(run_dir) or {}).get("augment_policy") or [])
        source = f" (its content as the run trained with it is in {run_dir / rundir.METRICS_FILE}'s augment_policy)" \
            if kept else ""
        raise MedtrainError(f"the augmentation policy {path} {what} since {run_dir} "
                            f"{'trained with it; restore it' if done else 'started training; restore it to resume'}"
                            f"{source}, or train a new --out with the {'edited' if now is not None else 'new'} policy")


def _metrics_or_none(run_dir: Path) -> dict | None:
    try:
        return rundir.read_metrics(run_dir)
    except MedtrainError:
        return None


def defaults_then(cfg: Config, run_dir: Path, typed: Collection[str] | None = None, verbose: bool = True) -> Config:
    """``cfg`` for settings given again on ``run_dir``, a run of format 0 (no run format recorded,
    :func:`rundir.run_format`): a setting not ``typed`` whose default changed since that run was written
    (``FORMAT_0_DEFAULTS``), and which it recorded at that default, takes the run's value, named in one line on stderr
    as a default changed since this run was written (``verbose``). Where what was typed is not known (a
    :class:`Config`, a YAML file, a grid's cell), a setting at today's default was not typed. It had been refused as
    the user's change ("precision: '32-true', now 'auto'") when only medtrain's default had changed. The one rule of
    it: the CLI's ``train`` and :func:`check_reusable` (``train()`` given the same settings again, compare's and the
    searches' reuse) apply it alike."""
    if not rundir.is_run(run_dir) or rundir.run_format(run_dir) != 0:
        return cfg
    saved = rundir.load_config(run_dir)
    typed = None if typed is None else {k.replace("-", "_") for k in typed}
    untyped = (lambda k: k not in typed) if typed is not None else \
        (lambda k: config_mod.same_setting(k, getattr(cfg, k), config_mod.KEYS[k].default))
    then = {k: getattr(saved, k) for k, old in FORMAT_0_DEFAULTS.items() if untyped(k)
            and config_mod.same_setting(k, getattr(saved, k), old) and getattr(saved, k) != getattr(cfg, k)}
    if not then:
        return cfg
    if verbose:
        shown = ", ".join(f"{k}: {v!r} then, {getattr(cfg, k)!r} now" for k, v in then.items())
        print(f"medtrain: note: {run_dir} was {rundir.FORMAT_0} (run format 0); a default changed since this run was "
              f"written ({shown}), which the run keeps", file=sys.stderr, flush=True)
    return config_mod.resolve(cfg.to_dict(), then)


def source_gone(cfg: Config, run_dir: Path) -> str:
    """What :func:`medtrain.api.train`'s line of a continued fine-tune says of its source moved or deleted since it
    started: its checkpoint holds every weight and the transfer's record
    (:class:`~medtrain.training.transfer_callbacks.TransferRecord`)."""
    src = cfg.pretrained
    if not src or str(src).startswith(HUB_PREFIXES) or os.path.exists(src) or cfg.transfer == "linear-probe" \
            or not rundir.has_checkpoint(run_dir):
        return ""
    return f"; its source {src} is no longer there, which resuming does not need (its checkpoint holds every weight)"
