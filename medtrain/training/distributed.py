"""Several processes training one model (Lightning's DDP strategy): which process may write, whether the
devices asked for exist, and how a split's predictions sharded over the processes are put back together.

Lightning launches the processes itself: on one machine its launcher re-runs the command line
(``medtrain train ...`` or the user's script) once per extra device with ``LOCAL_RANK`` set; under
``torchrun`` or SLURM ``srun`` every process is started by the launcher with ``RANK`` or ``SLURM_PROCID``.
Either way the extra processes run :func:`medtrain.api.train` from the top, before any Trainer exists, so
the rank of the process is read from those variables (:func:`launch_rank`) to keep them from writing.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

import torch
from torch import Tensor

from medtrain.config import Config
from medtrain.data.store import device_count, devices_processes
from medtrain.errors import MedtrainError, suggest


def launch_rank() -> int:
    """The global rank the launcher gave this process (0 when it was not launched as one of several).

    The variables are those Lightning reads for ``rank_zero_only`` before a Trainer exists (``RANK``,
    ``LOCAL_RANK``, ``SLURM_PROCID``), plus ``NODE_RANK``: the first process of node k > 0 under
    Lightning's own launcher has no other, and it must not write either.
    """
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        if os.environ.get(key, "").strip().isdigit():
            rank = int(os.environ[key])
            break
    else:
        rank = 0
    if "RANK" not in os.environ and os.environ.get("NODE_RANK", "0").strip() not in ("", "0"):
        rank = rank or 1  # only "is it zero" matters before the Trainer knows the exact rank
    return rank


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM or container limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_devices(cfg: Config, training: bool = False) -> None:
    """Refuse, before anything is written, devices this machine does not have, a launcher's number of processes
    other than devices x num_nodes, and several processes for a linear probe. ``training``: this process is about
    to train (:func:`medtrain.api.train`): several processes are also refused where Lightning's launcher cannot
    re-run the command (``python -c``, a console, a notebook; a pytest-xdist worker is ``-c`` too).

    GPUs: ``devices`` N needs N visible CUDA devices. CPU: ``devices`` N means N processes, each with
    its share of the cores; more processes than usable cores only oversubscribe them (slower, never
    faster), so N is refused above the number of cores. With ``num_nodes`` > 1 only this node is checked.
    Gradual unfreezing is refused with several processes (see the comment below).
    """
    if cfg.accelerator not in ACCELERATORS:  # Lightning's own refusal was a 30-line traceback
        raise suggest(cfg.accelerator, ACCELERATORS, "accelerator")
    if cfg.num_nodes > 1 and not _launched():
        # without a launcher the first process waits for the other machines' processes forever
        raise MedtrainError(f"num_nodes {cfg.num_nodes}: start the command on every machine with torchrun or "
                            f"SLURM's srun (or set MASTER_ADDR and NODE_RANK on each); see the README's "
                            f"'Several devices and machines'")
    n = device_count(cfg.devices)
    accel = cfg.accelerator
    if accel == "auto":
        accel = "gpu" if torch.cuda.is_available() else "cpu"
    _check_world_size(cfg, 1 if n is None and accel == "cpu" else n)
    if cfg.transfer == "linear-probe" and ((n or 1) > 1 or cfg.num_nodes > 1):
        # fit_probe is no Lightning loop: every process had fitted the whole probe (and written the run)
        raise MedtrainError(f"transfer linear-probe runs in one process (scikit-learn on frozen codes); "
                            f"devices {cfg.devices} x num_nodes {cfg.num_nodes} would start several: use devices 1")
    if accel in ("gpu", "cuda"):
        have = torch.cuda.device_count()
        if have == 0:
            raise MedtrainError(f"accelerator {cfg.accelerator}: no CUDA device is visible on this machine")
        if n is not None and n > have:
            raise MedtrainError(f"devices {cfg.devices}: this machine has {have} CUDA device(s)")
        if isinstance(cfg.devices, (list, tuple)) or "," in str(cfg.devices):
            ids = [int(i) for i in (cfg.devices if isinstance(cfg.devices, (list, tuple))
                                    else str(cfg.devices).split(",")) if str(i).strip()]
            if max(ids) >= have:
                raise MedtrainError(f"devices {cfg.devices}: this machine has CUDA devices 0..{have - 1}")
    elif accel == "cpu":
        if isinstance(cfg.devices, (list, tuple)) or "," in str(cfg.devices):
            raise MedtrainError(f"devices {cfg.devices}: on CPU give a number of processes, not device indices")
        if str(cfg.devices).strip() == "-1":  # Lightning's CPU accelerator refuses it mid-run (a traceback)
            raise MedtrainError(f"devices -1 means every GPU; on CPU give a number of processes (1..{usable_cores()})")
        cores = usable_cores()
        if n is not None and n > cores:
            raise MedtrainError(f"devices {cfg.devices}: on CPU that many processes need as many cores; "
                                f"this machine has {cores}")
    elif accel == "mps" and n is not None and n > 1:
        raise MedtrainError(f"devices {cfg.devices}: mps has one device")
    if cfg.unfreeze_every and is_multiprocess(cfg):
        # DDP fixes the parameters whose gradients it averages when it wraps the model: a stage unfrozen
        # later would train apart in each process
        raise MedtrainError(f"unfreeze_every {cfg.unfreeze_every} (gradual unfreezing) needs one process; "
                            f"devices {cfg.devices} x num_nodes {cfg.num_nodes} start several")
    if training and is_multiprocess(cfg) and not _launched() and not _relaunchable():
        # Lightning's launcher re-runs sys.argv once per extra device: `python -c`, a console or a notebook cannot
        # be (the child failed, and Lightning killed the caller, leaving a half-written run folder)
        where = "python -c" if sys.argv[:1] == ["-c"] else "an interactive session or notebook"
        raise MedtrainError(f"devices {cfg.devices} x num_nodes {cfg.num_nodes} starts one process per device by "
                            f"re-running the command, which {where} cannot be: run it from a script file or "
                            f"`medtrain train`, or under torchrun")


ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def _launched() -> bool:
    """Whether a launcher started this process as one of several machines' (the cluster environments
    Lightning detects: torchrun's RANK/WORLD_SIZE, SLURM's tasks, or MASTER_ADDR and NODE_RANK set by hand)."""
    env = os.environ
    return ({"RANK", "WORLD_SIZE"} <= env.keys() or "SLURM_NTASKS" in env
            or {"MASTER_ADDR", "NODE_RANK"} <= env.keys())


def launcher_world_size() -> tuple[int, int | None, int | None, str] | None:
    """``(processes, per node, nodes, variable)`` an external launcher started, None where none did (a single
    process, or one Lightning's own launcher starts: it sets WORLD_SIZE but never RANK).

    torchrun (and torch.distributed.launch, Kubeflow) set ``RANK`` and ``WORLD_SIZE``; SLURM's srun sets
    ``SLURM_STEP_NUM_TASKS`` (the processes of its step; a batch script's own single process, outside srun, has
    only the allocation's ``SLURM_NTASKS``, which may count CPUs asked for as tasks), except in an interactive
    allocation (job name bash or interactive), where Lightning launches the processes itself."""
    env = os.environ
    if {"RANK", "WORLD_SIZE"} <= env.keys() and env["WORLD_SIZE"].strip().isdigit():
        world, local = int(env["WORLD_SIZE"]), env.get("LOCAL_WORLD_SIZE", "").strip()
        per = int(local) if local.isdigit() and int(local) > 0 and world % int(local) == 0 else None
        return world, per, world // per if per else None, "WORLD_SIZE"
    step = env.get("SLURM_STEP_NUM_TASKS", "").strip()
    if step.isdigit() and env.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        world, nodes = int(step), env.get("SLURM_STEP_NUM_NODES", env.get("SLURM_NNODES", "")).strip()
        nodes = int(nodes) if nodes.isdigit() and int(nodes) > 0 and world % int(nodes) == 0 else None
        return world, world // nodes if nodes else None, nodes, "SLURM_STEP_NUM_TASKS"
    return None


def _check_world_size(cfg: Config, per_node: int | None) -> None:
    """Refuse a launcher's number of processes other than devices x num_nodes (``per_node``: devices as a count,
    None where it is auto on GPUs): every process had trained the whole run, each one writing the run folder."""
    started = launcher_world_size()
    if started is None or per_node is None or started[0] == per_node * cfg.num_nodes:
        return
    world, per, nodes, var = started
    if per is None and world % cfg.num_nodes == 0:
        per, nodes = world // cfg.num_nodes, cfg.num_nodes
    fix = (f"set devices (--devices) to {per}" + (f" and num_nodes (--num-nodes) to {nodes}"
                                                  if nodes is not None and nodes != cfg.num_nodes else "")
           if per is not None else "set devices (--devices) x num_nodes (--num-nodes) to match it")
    raise MedtrainError(f"the launcher started {world} processes ({var} {world}) but devices {cfg.devices} x "
                        f"num_nodes {cfg.num_nodes} is {per_node * cfg.num_nodes}; {fix}, or have the launcher start "
                        f"{per_node * cfg.num_nodes}")


def _relaunchable() -> bool:
    """Whether Lightning's launcher can start this command again (it runs ``sys.argv`` with ``python`` or
    ``python -m``): not ``python -c`` or a console (``sys.argv[0]`` ``-c`` or empty), nor a notebook (a main
    module without a file)."""
    main = sys.modules.get("__main__")
    if getattr(main, "__spec__", None) is not None:  # python -m ...: re-run as python -m
        return True
    return sys.argv[:1] not in ([], ["-c"], [""]) and bool(getattr(main, "__file__", None))


def is_multiprocess(cfg: Config) -> bool:
    """Whether ``cfg`` asks for more than one training process (several devices or nodes)."""
    return cfg.num_nodes > 1 or devices_processes(cfg.devices, cfg.accelerator) > 1


def single_process_only(cfg: Config, command: str) -> None:
    """Refuse several processes for a command that trains many runs in one process (``compare``,
    cross-validation, tuning): Lightning's launcher re-runs the whole command line for each extra process,
    which would re-run every cell; train those runs one at a time with ``medtrain train`` instead."""
    if is_multiprocess(cfg):
        raise MedtrainError(f"{command} trains its runs in one process; devices {cfg.devices} x num_nodes "
                            f"{cfg.num_nodes} needs one `medtrain train` per run")


@contextlib.contextmanager
def interrupted_processes_end_the_run(say):
    """While it lasts, Ctrl-C or SIGTERM that reached this first process of a multi-process run ends it with
    ``say()`` and exit status 130 where Lightning's child-process observer would SIGKILL it.

    The observer, a thread polling the extra processes (Lightning's launcher re-ran the command for them) every
    5 s, SIGKILLs this process once one of them ended with a status other than 0. After Ctrl-C during the
    processes' start-up, the extra process, still importing, exits at once (130; 1 where Python itself was still
    starting), while this one waits for it in the rendezvous (torch's C++ store, which runs no Python signal handler
    until it returns): the run had ended with 137 and no word on how to continue, where Ctrl-C in training is 130
    and the way on (walk W3: ``timeout -s INT 18 medtrain train ... --devices 2``). Whether the signal reached this
    process is read from the wakeup file descriptor Python's signal handling writes each signal's number to
    (``signal.set_wakeup_fd``): its Python handler has not run yet. Other failures of a process keep Lightning's
    way (SIGKILL), as does a process where the wakeup descriptor is taken (an event loop's) or the observer is not
    the one this Lightning names (``_ChildProcessObserver._terminate_all``)."""
    try:
        from lightning.fabric.strategies.launchers.subprocess_script import _ChildProcessObserver as observer

        own = observer._terminate_all
    except (ImportError, AttributeError):
        yield
        return
    read, write = os.pipe()
    try:
        os.set_blocking(read, False), os.set_blocking(write, False)
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main thread
        previous = None
    if previous != -1:  # taken, or not settable: Lightning's way
        if previous is not None:
            signal.set_wakeup_fd(previous)
        os.close(read), os.close(write)
        yield
        return

    def terminate_all(self) -> None:
        processes, kill = getattr(self, "_child_processes", None), getattr(self, "_termination_signal", None)
        # once the process group is up, start-up is over: Ctrl-C in training is said by the main thread (after
        # epoch N) and Lightning's way is kept, so the two never race to say it (review C)
        if processes is None or kill is None or _process_group_up() or not _interrupted(read):
            return own(self)
        for p in processes:  # as Lightning does (one that ended is skipped)
            p.send_signal(kill)
        # the exit comes even where saying it blocks (a full stderr pipe, its lock held by the main thread)
        threading.Timer(2.0, os._exit, (130,)).start()
        try:
            say()
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
        finally:
            os._exit(130)  # from the observer's thread: the main one is held in the rendezvous

    observer._terminate_all = terminate_all
    try:
        yield
    finally:
        observer._terminate_all = own
        signal.set_wakeup_fd(-1)
        os.close(read), os.close(write)


def _process_group_up() -> bool:
    """Whether this process has joined the run's process group (the rendezvous returned)."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _interrupted(read: int) -> bool:
    """Whether SIGINT or SIGTERM came since the wakeup descriptor whose reading end is ``read`` was set."""
    got = b""
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(read, 512):
            got += chunk
    return signal.SIGINT in got or signal.SIGTERM in got


def unshard(gathered: Tensor, counts: list[int]) -> Tensor:
    """Put back in order the rows of a split whose sample i went to process i mod W
    (:class:`~medtrain.training.loader.TensorBatches` evaluation shards).

    Args:
        gathered: ``(W, M, *)``: process r's rows padded to M = max(counts) (what ``all_gather`` returns).
        counts: the real number of rows of each process.

    Returns:
        ``(sum(counts), *)``: every sample exactly once, in split order (padding dropped).
    """
    world, m = gathered.shape[:2]
    if sorted(counts, reverse=True) != list(counts) or counts[0] - counts[-1] > 1 or counts[0] != m:
        raise ValueError(f"shard sizes {counts} are not an interleaved split into {world}")
    rows = gathered.transpose(0, 1).reshape(world * m, *gathered.shape[2:])  # row j*W + r = sample j*W + r
    return rows[:sum(counts)]
