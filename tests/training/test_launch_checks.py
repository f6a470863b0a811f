"""Who may start and write a run of several processes, checked before anything is written: a launcher's number of
processes must be devices x num_nodes, a linear probe is one process, a command Lightning cannot re-run (`python -c`,
a console, a notebook) cannot start several, and only rank 0 writes. The launchers are simulated by their variables;
no process is spawned and nothing trains (``fit`` is replaced by a stub that fails the test if it is reached)."""
import dataclasses
import sys
import types

import pytest

import medtrain
from medtrain import api, rundir
from medtrain.config import resolve, same_setting
from medtrain.errors import MedtrainError
from medtrain.training import choices, distributed
from medtrain.training.distributed import check_devices
from conftest import fast_config

LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK", "MASTER_ADDR",
               "MASTER_PORT", "TORCHELASTIC_RUN_ID", "SLURM_NTASKS", "SLURM_NNODES", "SLURM_JOB_NAME",
               "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NUM_NODES",
               "SLURM_PROCID", "SLURM_NTASKS_PER_NODE")


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    """A plain process (whatever launched pytest), with cores for two CPU processes, that must not train."""
    for key in LAUNCH_VARS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(distributed, "usable_cores", lambda: 4)

    def no_training(*a, **k):
        raise AssertionError("the run reached training")

    monkeypatch.setattr(api, "fit", no_training)
    monkeypatch.setattr(api, "fit_probe", no_training)


def torchrun(monkeypatch, rank: int, world: int, per_node: int | None = None):
    per_node = per_node or world
    for key, value in dict(RANK=rank, WORLD_SIZE=world, LOCAL_RANK=rank % per_node, LOCAL_WORLD_SIZE=per_node,
                           GROUP_RANK=rank // per_node, MASTER_ADDR="127.0.0.1", MASTER_PORT=29500,
                           TORCHELASTIC_RUN_ID="none").items():
        monkeypatch.setenv(key, str(value))


def cpu(**over):
    return resolve({"dataset": "pneumoniamnist", "accelerator": "cpu", **over})


@pytest.mark.parametrize("rank", [0, 1])
def test_torchrun_with_more_processes_than_devices_is_refused_before_the_run_folder_is_written(
        monkeypatch, tiny_npz, tmp_path, rank):
    # `torchrun --nproc-per-node 2 -m medtrain train ...` without --devices 2: each process trained the whole run
    torchrun(monkeypatch, rank, 2)
    out = tmp_path / "run"
    with pytest.raises(MedtrainError, match=r"^the launcher started 2 processes \(WORLD_SIZE 2\) but devices 1 x "
                                            r"num_nodes 1 is 1; set devices \(--devices\) to 2"):
        medtrain.train(fast_config(tiny_npz, out))
    assert not out.exists()


def test_a_launcher_world_size_names_the_devices_and_nodes_to_set(monkeypatch):
    torchrun(monkeypatch, 0, 4, per_node=2)  # 2 machines of 2
    monkeypatch.setenv("NODE_RANK", "0")
    with pytest.raises(MedtrainError, match=r"WORLD_SIZE 4\) but devices 2 x num_nodes 1 is 2; set devices "
                                            r"\(--devices\) to 2 and num_nodes \(--num-nodes\) to 2"):
        check_devices(cpu(devices=2))
    check_devices(cpu(devices=2, num_nodes=2))  # as launched
    check_devices(cpu(devices="2", num_nodes=2))


def test_srun_tasks_other_than_devices_x_num_nodes_are_refused_but_an_interactive_allocation_is_lightnings(
        monkeypatch):
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_NNODES", "2")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    check_devices(cpu())  # a batch script's own process, outside srun: the allocation's tasks are not processes
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")  # srun started 4
    monkeypatch.setenv("SLURM_STEP_NUM_NODES", "2")
    with pytest.raises(MedtrainError, match=r"SLURM_STEP_NUM_TASKS 4\) but devices 1 x num_nodes 2 is 2; set "
                                            r"devices \(--devices\) to 2"):
        check_devices(cpu(num_nodes=2))
    check_devices(cpu(devices=2, num_nodes=2))
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "1")
    monkeypatch.setenv("SLURM_STEP_NUM_NODES", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "bash")  # `srun --pty bash`: Lightning starts the processes itself
    check_devices(cpu(devices=2))


def test_lightnings_own_launcher_is_no_external_one(monkeypatch):
    # the processes Lightning started (and the first one after a run of 2) hold WORLD_SIZE but no RANK
    for key, value in dict(WORLD_SIZE=2, LOCAL_RANK=1, NODE_RANK=0, MASTER_ADDR="127.0.0.1").items():
        monkeypatch.setenv(key, str(value))
    check_devices(cpu(devices=2))
    check_devices(cpu(devices=1))


def test_a_linear_probe_is_one_process_and_refuses_several(monkeypatch, tiny_npz, tmp_path):
    probe = dict(transfer="linear-probe", pretrained="timm:resnet18")
    with pytest.raises(MedtrainError, match=r"^transfer linear-probe runs in one process .*devices 2 x num_nodes 1 "
                                            r"would start several: use devices 1$"):
        check_devices(cpu(devices="2", **probe))
    torchrun(monkeypatch, 1, 2)  # under torchrun each process had fitted the probe and written the run
    with pytest.raises(MedtrainError, match="transfer linear-probe runs in one process"):
        check_devices(cpu(devices=2, **probe))
    with pytest.raises(MedtrainError, match=r"WORLD_SIZE 2\) but devices 1"):
        check_devices(cpu(**probe))


@pytest.mark.parametrize("argv0, main_file", [("-c", None), ("", None), ("/opt/ipykernel_launcher.py", None)])
def test_several_processes_from_python_c_a_console_or_a_notebook_are_refused_before_anything_is_written(
        monkeypatch, tiny_npz, tmp_path, argv0, main_file):
    # Lightning re-runs sys.argv for each extra device: `python -c` failed, and Lightning killed the caller (137)
    monkeypatch.setattr(sys, "argv", [argv0])
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # no file, no spec
    out = tmp_path / "run"
    with pytest.raises(MedtrainError, match=r"^devices 2 x num_nodes 1 starts one process per device by re-running "
                                            r"the command, which .* cannot be: run it from a script file"):
        medtrain.train(fast_config(tiny_npz, out, devices=2))
    assert not out.exists()
    check_devices(cpu(devices=2))  # only where it is to train here (so in a pytest-xdist worker, `-c` too)
    check_devices(cpu(devices=1), training=True)  # one process: nothing to re-run
    torchrun(monkeypatch, 0, 2)
    check_devices(cpu(devices=2), training=True)  # under torchrun nothing is re-run


def test_several_processes_from_a_script_or_python_m_are_started(monkeypatch, tmp_path):
    main = types.ModuleType("__main__")
    main.__file__ = str(tmp_path / "train.py")
    monkeypatch.setattr(sys, "argv", [main.__file__])
    monkeypatch.setitem(sys.modules, "__main__", main)
    check_devices(cpu(devices=2), training=True)
    main = types.ModuleType("__main__")
    main.__spec__ = types.SimpleNamespace(name="medtrain.__main__")
    monkeypatch.setattr(sys, "argv", ["/venv/lib/medtrain/__main__.py", "train"])
    monkeypatch.setitem(sys.modules, "__main__", main)
    check_devices(cpu(devices=2), training=True)


def test_a_process_of_rank_above_zero_writes_nothing_even_when_its_training_says_it_is_alone(
        monkeypatch, tiny_npz, tmp_path):
    # a probe, or a one-device run in a process a launcher numbered 1: the training result says global zero
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(api, "fit", lambda *a, **k: types.SimpleNamespace(global_zero=True, interrupted=False,
                                                                          cfg=None))  # (cfg: no precision fall-back)

    def no_write(*a, **k):
        raise AssertionError("rank 1 went on to evaluate and write the run")

    monkeypatch.setattr(choices, "decide_tta", no_write)
    monkeypatch.setattr(rundir, "write_run", no_write)
    out = tmp_path / "run"
    assert medtrain.train(fast_config(tiny_npz, out)) == {}
    assert not out.exists()


@pytest.mark.parametrize("recorded, given", [(2, "2"), ("2", 2), (" 2", 2), ([0, 1], "0,1"), ("0,1", (0, 1)),
                                             (-1, "-1")])
def test_devices_as_a_number_or_text_are_the_same_setting(recorded, given):
    assert same_setting("devices", recorded, given)
    assert resolve({"devices": recorded}).devices == resolve({"devices": given}).devices
    assert not same_setting("devices", 2, "3")


@pytest.mark.parametrize("saved", [2, "2"])
def test_a_run_saved_with_devices_2_either_way_is_the_same_settings_as_the_cli_2(tmp_path, saved):
    # the API's or YAML's 2 was refused by the CLI's --devices 2: "other settings (devices: 2, now '2')"
    cfg = resolve({"dataset": "pneumoniamnist", "accelerator": "cpu", "devices": 2})
    rundir.write_config(tmp_path, dataclasses.replace(cfg, devices=saved))  # older runs recorded either type
    assert rundir.load_config(tmp_path).devices == 2
    for given in (2, "2"):
        api.check_reusable(resolve({"dataset": "pneumoniamnist", "accelerator": "cpu", "devices": given}), tmp_path)
    with pytest.raises(MedtrainError, match="other settings .devices: 2, now 3"):
        api.check_reusable(resolve({"dataset": "pneumoniamnist", "accelerator": "cpu", "devices": "3"}), tmp_path)
