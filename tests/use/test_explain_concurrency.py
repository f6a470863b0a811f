"""Two explanations written into one folder at the same time (``medtrain explain`` twice with the default
``--out explanations``) leave one explanation's maps and exactly its overlays, as if run one after the other.
The overlays are drawn by a stand-in (the plotting is not what is tested), so this runs in well under a second
or two."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

import medtrain.reports._plots_saliency as plots_saliency
from medtrain.explain import MAPS_FILE
from medtrain.explain.write import INDEX_FILE, write_explanation

from conftest import blank_explanation, read_rows


def test_two_explanations_into_one_folder_at_once_leave_one_explanations_overlays(tmp_path, monkeypatch):
    out = tmp_path / "explanations"
    first_drawing, second_done = threading.Event(), threading.Event()

    def overlay(image, saliency, path, title, ras=False):
        if Path(path).name.endswith("_benign0.png"):  # the first explanation, mid-way through its overlays
            first_drawing.set()
            second_done.wait(timeout=1.0)  # the second finishes meanwhile, unless it waits for the first
        Path(path).write_bytes(b"png")

    monkeypatch.setattr(plots_saliency, "saliency_overlay", overlay)
    errors = []

    def first():
        try:
            write_explanation(blank_explanation([f"benign{i}.png" for i in range(12)]), out)
        except Exception as e:  # noqa: BLE001  (reported by the main thread)
            errors.append(e)

    a = threading.Thread(target=first)
    a.start()
    assert first_drawing.wait(timeout=10)
    write_explanation(blank_explanation([f"malignant{i}.png" for i in range(3)]), out)
    second_done.set()
    a.join(timeout=10)
    assert not errors and not a.is_alive()
    with np.load(out / MAPS_FILE) as z:
        listed = set(map(str, z["overlays"]))
    on_disk = {p.name for p in out.glob("*.png")}
    assert on_disk == listed, f"overlays beside maps.npz that it does not list: {sorted(on_disk - listed)}"
    # the later writer wins, as when the commands are run one after the other
    assert listed == {f"{i:04d}_malignant{i}.png" for i in range(3)}
    assert sorted(p.name for p in out.iterdir()) == sorted(listed | {MAPS_FILE, INDEX_FILE})  # no lock file among them
    assert [r["overlay"] for r in read_rows(out / INDEX_FILE)] == sorted(listed)  # the index of the same writer


def test_a_failed_explanation_into_a_new_folder_leaves_no_folder(tmp_path, monkeypatch):
    def overlay(image, saliency, path, title, ras=False):
        raise OSError("disk full")

    monkeypatch.setattr(plots_saliency, "saliency_overlay", overlay)
    out = tmp_path / "new"
    try:
        write_explanation(blank_explanation(["a.png"]), out)
    except OSError:
        pass
    assert not out.exists()
