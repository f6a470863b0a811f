"""``medtrain models --measure`` at 28 px applies the input-size rule train and cost apply (walk 'netzoo'): it
had reported vit_tiny_patch16_224's "MMACs @28 11.0 / CPU ms @28" (the cost of the one 16 px patch timm keeps of a
28 px image, a size train and cost refuse) and crashed with a RuntimeError traceback, exit 1, on convnext_atto
(whose stride-32 stages shrink 28 px to nothing). Such a network's row has no 28 px figures, and says why."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli
from medtrain.models.input_size import check_input_size

pytestmark = pytest.mark.usefixtures("one_thread")


def _row(capsys, name: str, *fmt) -> tuple:
    code, out, err = run_cli(capsys, "models", "--measure", "--names", name, "--budget", "0.05", *fmt)
    assert code == 0, err
    assert "Traceback" not in err
    return out


def test_a_network_that_cannot_take_28_px_gets_its_row_with_the_reason(capsys):
    row = json.loads(_row(capsys, "convnext_atto", "--json"))[0]
    assert row["macs_28"] is None and row["cpu_ms_28"] is None
    assert row["note_28"] == "takes 32 px or more"
    assert row["macs_224"] > 0 and row["cpu_ms_224"] > 0  # the rest of the row is measured
    with pytest.raises(Exception, match="it takes 32 px or more"):  # the same rule as train's and cost's
        check_input_size("convnext_atto", 28)


def test_a_vit_is_not_measured_on_the_one_patch_timm_keeps_of_28_px(capsys):
    table = _row(capsys, "vit_tiny_patch16_224")
    line = next(r for r in table.splitlines() if "vit_tiny_patch16_224" in r)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[6] == "– (takes multiples of its patch size, e.g. 32 px)"  # MMACs @28
    assert cells[8] == "–"  # CPU ms @28
    csv_text = _row(capsys, "vit_tiny_patch16_224", "--csv")
    assert "note_28" in csv_text.splitlines()[0] and "e.g. 32 px" in csv_text


def test_a_network_that_takes_28_px_is_measured_there(capsys):
    row = json.loads(_row(capsys, "resnet10_28_half", "--json"))[0]
    assert row["note_28"] is None and row["macs_28"] > 0 and row["cpu_ms_28"] > 0
