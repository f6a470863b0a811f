"""``medtrain cost`` at an input too large for the machine's memory says so: it had been "cannot run on 100000 px
inputs: [enforce fail at alloc_cpu.cpp:127] ...; it takes 64 px or less", blaming the network (a bad-input walk)."""
from conftest import run_cli

from medtrain.models import cost


def test_an_input_the_memory_cannot_hold_is_one_line_about_memory(capsys, monkeypatch):
    def too_big(*a, **k):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 120000000000 bytes.")

    monkeypatch.setattr(cost, "count_cost", too_big)
    code, out, err = run_cli(capsys, "cost", "resnet18_28_half", "--input", "100000")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "medtrain: error: resnet18_28_half at 100000 px: one image's forward pass, which medtrain cost runs to count "
        "the operations, needs more memory than this machine can give; try a smaller --input"]
