"""Ctrl-C during a multi-process run's start-up ends it with exit status 130 and the way on, as Ctrl-C in training does.

The extra process, still importing, exits at once, while the first one waits for it in torch's rendezvous (C++,
no Python signal handler runs): Lightning's child-process observer then SIGKILLed the first process, and the run
ended with 137 and no "continue with" line (walk W3: ``timeout -s INT 18 medtrain train ... --devices 2``)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from medtrain.training import distributed

#: the first process of a run: an extra process that is interrupted (exits 130) and one still starting, Lightning's
#: observer polling them, and Ctrl-C while this process waits in torch's rendezvous store for a worker that never comes
FIRST_PROCESS = r'''
import os, signal, subprocess, sys, threading, time
from datetime import timedelta

import torch.distributed as dist
from lightning.fabric.strategies.launchers.subprocess_script import _ChildProcessObserver

from medtrain.training.distributed import interrupted_processes_end_the_run

signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own, also where pytest runs in the background
with interrupted_processes_end_the_run(lambda: print("medtrain: interrupted; continue with RUN", file=sys.stderr)):
    interrupted = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(130)"])
    starting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(starting.pid, flush=True)
    _ChildProcessObserver(os.getpid(), [interrupted, starting], sleep_period=2).start()
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    dist.TCPStore("127.0.0.1", 0, world_size=2, is_master=True, wait_for_workers=True, timeout=timedelta(seconds=30))
print("the rendezvous returned", file=sys.stderr)
'''


#: runs each scenario script of ``sys.argv[1:]`` (files) as a first process of its own, forked from this one once it
#: has imported torch.distributed, Lightning and medtrain (~6 CPU s, which each scenario's own interpreter had paid):
#: the scenario's standard output and error go to files beside its script, and what ended it (its exit status, or
#: minus the signal that killed it), the seconds it ran, and for a scenario that printed a process id first, whether
#: that process still runs 0.2 s after the scenario ended, to ``results.json``. One scenario at a time; each child
#: leaves through os._exit (or a signal), as the scenarios' own ends do, never through this script's code.
FORKS = r"""
import json, os, signal, sys, time
import torch.distributed
import lightning.fabric.strategies.launchers.subprocess_script
import medtrain.training.distributed

def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False

results = []
for script in sys.argv[1:]:
    sys.stdout.flush(), sys.stderr.flush()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd, name in ((1, ".out"), (2, ".err")):
                os.dup2(os.open(script + name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            source = open(script).read()
            exec(compile(source, script, "exec"), {"__name__": "__main__"})
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    seconds = time.perf_counter() - t0
    out = open(script + ".out").read()
    first = out.split()[0] if out.split() else ""
    time.sleep(0.2)
    results.append({"returncode": os.waitstatus_to_exitcode(status), "stdout": out,
                    "stderr": open(script + ".err").read(), "seconds": seconds,
                    "other_running": running(int(first)) if first.isdigit() else None})
json.dump(results, open(os.path.join(os.path.dirname(sys.argv[1]), "results.json"), "w"))
"""

#: the first process without a Ctrl-C: an extra process that fails is Lightning's way (SIGKILL)
NO_INTERRUPT = FIRST_PROCESS.replace("threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()", "")


def _after_the_group_is_up(pg):
    """After the rendezvous, Ctrl-C is said by training; here the main thread waits with SIGINT ignored."""
    script = FIRST_PROCESS.replace(
        "signal.signal(signal.SIGINT, signal.default_int_handler)",
        "signal.signal(signal.SIGINT, lambda *a: None)",  # the main thread (training) would say it; here it waits
    ).replace(
        'dist.TCPStore("127.0.0.1", 0, world_size=2, is_master=True, wait_for_workers=True, timeout=timedelta(seconds=30))',
        f'dist.init_process_group("gloo", init_method="file://{pg}", rank=0, world_size=1); time.sleep(30)',
    )
    assert "init_process_group" in script and "lambda *a: None" in script
    return script


@pytest.fixture(scope="module")
def first_processes(tmp_path_factory):
    """What ended each scenario's first process: ``{name: result}`` (see FORKS), all run by one forking process."""
    root = tmp_path_factory.mktemp("first")
    scenarios = {"ctrl_c": FIRST_PROCESS, "no_interrupt": NO_INTERRUPT, "group_up": _after_the_group_is_up(root / "pg")}
    for name, script in scenarios.items():
        (root / f"{name}.py").write_text(script)
    done = subprocess.run([sys.executable, "-c", FORKS, *(str(root / f"{n}.py") for n in scenarios)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(zip(scenarios, json.loads((root / "results.json").read_text())))


def test_ctrl_c_while_the_first_process_waits_in_the_rendezvous_exits_130_with_the_line(first_processes):
    proc = first_processes["ctrl_c"]
    assert proc["returncode"] == 130, (proc["returncode"], proc["stderr"][-2000:])  # was -9: SIGKILLed by the observer
    assert proc["stderr"].strip().splitlines()[-1] == "medtrain: interrupted; continue with RUN"
    assert proc["seconds"] < 25  # within the observer's polls, not the store's 30 s timeout
    assert proc["other_running"] is False  # the other process was ended too, as Lightning ends it


def test_an_extra_process_that_fails_without_an_interrupt_keeps_lightnings_way(first_processes):
    """No Ctrl-C reached the first process: its end is Lightning's (SIGKILL), said by the failed process."""
    proc = first_processes["no_interrupt"]
    assert proc["returncode"] == -signal.SIGKILL and "medtrain: interrupted" not in proc["stderr"]


def test_once_the_process_group_is_up_ctrl_c_is_left_to_training_and_lightning(first_processes):
    """After the rendezvous, Ctrl-C is said by training ("interrupted after epoch N"): the observer keeps Lightning's
    way and says nothing, so the two never race to say it (review C)."""
    proc = first_processes["group_up"]
    assert proc["returncode"] == -signal.SIGKILL and "medtrain: interrupted" not in proc["stderr"], \
        proc["stderr"][-2000:]


def test_the_wakeup_descriptor_and_the_observer_are_put_back():
    from lightning.fabric.strategies.launchers.subprocess_script import _ChildProcessObserver

    own = _ChildProcessObserver._terminate_all
    with distributed.interrupted_processes_end_the_run(lambda: None):
        assert _ChildProcessObserver._terminate_all is not own
    assert _ChildProcessObserver._terminate_all is own and signal.set_wakeup_fd(-1) == -1


def _tiny_npz(path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 64), ("val", 16), ("test", 16)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28)).astype(np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def _ctrl_c_as_in_a_terminal():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job's ignored SIGINT is inherited otherwise


@pytest.mark.slow
def test_ctrl_c_during_a_two_process_start_up_exits_130_with_the_way_on(tmp_path):
    """The whole command: SIGINT to the process group as the first process enters the rendezvous, while the
    second one is still starting (Python, torch, the data)."""
    if distributed.usable_cores() < 2:
        pytest.skip("two CPU processes need two cores")
    data, run = _tiny_npz(tmp_path / "tiny.npz"), tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "medtrain", "train", "--data", str(data), "--model",
                             "resnet10_28_half", "--epochs", "2", "--batch-size", "8", "--no-progress", "--accelerator",
                             "cpu", "--devices", "2", "--flip", "false", "--tta", "none", "--out", str(run)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_ctrl_c_as_in_a_terminal)
    said = []
    for line in proc.stderr:
        said.append(line)
        if "GLOBAL_RANK: 0" in line:  # the first process enters the rendezvous; the second one takes seconds more
            time.sleep(1.0)  # (to import torch and Lightning and read the data): it is in the rendezvous's C++ now
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: every process of the terminal's group
            break
    said.append(proc.stderr.read())
    code = proc.wait(timeout=60)
    text = "".join(said)
    assert code == 130, (code, text[-3000:])  # was -9 (137): SIGKILLed by Lightning's observer
    assert f"continue with `medtrain train --resume {run}`" in text.strip().splitlines()[-1], text[-3000:]
