"""What ``train`` is given, checked before any data are read: the config (a dict of settings, a :class:`Config`, the
path of a YAML file), its network and augmentation names, its flags, the ``--out`` folder a new run trains in, and
images given in memory written where the run reads them (:mod:`medtrain.data.arrays`). :mod:`medtrain.api`'s
``train`` calls these first; a comparison and a search check every cell and value with :func:`check_settings`
before training any."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from medtrain import config as config_mod
from medtrain import rundir
from medtrain._io import check_output
from medtrain._out_checks import refuse_others_files
from medtrain.augment import available
from medtrain.augment._registry import LISTED_BY
from medtrain.augment.policies import is_policy_file
from medtrain.config import Config
from medtrain.data.arrays import FILE as ARRAYS_FILE, arrays_written, in_memory
from medtrain.errors import MedtrainError, suggest
from medtrain.models.factory import check_model_name
from medtrain.training.build import check_network_input
from medtrain.training.distributed import check_devices, launch_rank


def check_settings(cfg: Config) -> None:
    """What ``train`` refuses of a config before reading any data, checked without training: the network's name
    and every augmentation name. A comparison checks every cell, a search every value, before training any
    (an unknown name in the last cell or a later trial failed only after the earlier ones had trained)."""
    check_model_name(cfg.model)
    check_network_input(cfg)  # a network that cannot take the image size: one line, before the data are read
    for name in cfg.augment:
        if name and name != "none" and not is_policy_file(name) and name not in available():
            raise suggest(name, available(), "augmentation", LISTED_BY)


def _as_config(config) -> Config:
    if isinstance(config, config_mod.Resolved):  # resolved already: its explicit values kept as they are
        return config
    if isinstance(config, Config):  # Config(data=...): its default dataset is not a second source
        return config_mod.resolve(config_mod.settings_of(config))
    if isinstance(config, (str, os.PathLike)):
        return config_mod.resolve(config_mod.load_yaml(config))
    if config is not None and not isinstance(config, Mapping):  # a list or a number had been an AttributeError
        raise MedtrainError(f"config must be a dict of settings, a Config or the path of a YAML config file; got "
                            f"{type(config).__name__} {str(config)[:60]}")
    return config_mod.resolve(config or {})


def check_bools(**flags) -> None:
    """Refuse, in one line naming it, a flag that is not True or False: ``verbose="no"`` had been true (as
    ``medtrain.load(calibrated="false")`` is refused)."""
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise MedtrainError(f"{name} must be True or False, got {value!r}")


def _arrays_written(config, verbose: bool, resume):
    """``(config, written)``: a dict whose ``data`` are images in memory, with ``data`` the .npz they are written to
    (:func:`~medtrain.data.arrays.arrays_written`), and ``(path, made, run folder)``; any other config, and None.
    The settings are checked first as train checks them before it writes anything (for a new run, those typed too):
    a misspelt ``model`` had been refused after the arrays were written to the cache."""
    if not isinstance(config, Mapping) or not in_memory(config.get("data")):
        return config, None
    rest = _as_config({**config, "data": ARRAYS_FILE})  # the file's name standing for the file it will be
    if resume is None and isinstance(config, dict):
        config_mod.checks.check_typed_for_a_new_run(rest, set(config))
    check_settings(rest)
    check_devices(rest, training=True)
    # its folder too: an empty out, a folder of the user's (the arrays' file had been written all the same)
    run_dir = _new_run_folder(rest, launch_rank() == 0) if resume is None else Path(resume)
    path, made = arrays_written(config["data"], rest.val_fraction, rest.test_fraction, rest.seed, rest.data_dir)
    if verbose:
        print(f"medtrain: data: the arrays given, as {path} (what the run reads: eval, predict, resume)", flush=True)
    return {**config, "data": str(path)}, (path, made, run_dir)


def _new_run_folder(cfg: Config, writer: bool) -> Path:
    """The folder a new run of ``cfg`` trains in (:func:`rundir.out_folder`: an empty out refused), checked by the
    ``writer`` (the other processes find the config the first one wrote) as the CLI checks ``--out``: a file there (or
    among its parents) had been a FileExistsError traceback; a run another process trains, a folder of the user's."""
    run_dir = rundir.out_folder(cfg)
    if writer:
        check_output(run_dir, folder=True, what="out ", probe=True)
        rundir.refuse_if_busy(run_dir)  # rather than continuing a run that process trains
        refuse_others_files(run_dir)  # a folder of the user's, not a run: not written over
    return run_dir
