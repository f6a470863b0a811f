"""``medtrain explain`` says what its maps can and cannot be trusted for: Grad-CAM++ fails the sanity checks of
Adebayo et al. (NeurIPS 2018) on these global-pooling networks, and says so; a volume's overlay shows the slices
through the map's peak (an off-centre finding had never appeared in it); ``maps.npz`` holds what each overlay
shows (the images, the probability, the peak)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import run_cli
from medtrain.explain import GradCAMppWarning, explain

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is ~5x faster on a busy CPU


def _warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("medtrain: warning:")]


def test_gradcam_pp_warns_in_one_line_pointing_to_gradcam_or_occlusion(trained_run, tmp_path, capsys):
    # a walkthrough: gradcam++ maps of targets 0 and 1 rank-correlated +0.83 (gradcam -0.23), +0.89 with the output
    # layer re-initialised, and neither --help nor the run said a word of it
    run, _, _ = trained_run
    code, _, err = run_cli(capsys, "explain", run, "--method", "gradcam++", "--limit", "2", "--out", tmp_path / "pp")
    lines = _warning_lines(err)
    assert code == 0 and len(lines) == 1, err
    assert "gradcam++" in lines[0] and "+0.83" in lines[0] and "use gradcam or occlusion" in lines[0]
    for method in ("gradcam", "occlusion"):  # the methods that pass the checks: no word
        code, _, err = run_cli(capsys, "explain", run, "--method", method, "--limit", "1", "--out", tmp_path / method)
        assert code == 0 and not _warning_lines(err), (method, err)


def test_gradcam_pp_warns_a_python_caller_at_the_callers_line(trained_run):
    from medtrain.explain import explain_items
    from medtrain.predict_inputs import Item
    from medtrain.runmodel import load_run_module

    run, _, arrays = trained_run
    image = arrays["test_images"][0]
    with pytest.warns(GradCAMppWarning, match="use gradcam or occlusion") as caught:
        explain(run, image, method="gradcam++")
    assert [w.filename for w in caught if w.category is GradCAMppWarning] == [__file__]  # once, here
    with pytest.warns(GradCAMppWarning) as caught:
        explain_items(load_run_module(run), [Item("x", lambda: image)], method="gradcam++")
    assert [w.filename for w in caught if w.category is GradCAMppWarning] == [__file__]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explain(run, image, method="gradcam")
    assert not [w for w in caught if w.category is GradCAMppWarning]


def test_help_of_method_says_gradcam_pp_does_not_tell_classes_apart(capsys):
    from medtrain.cli import main

    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "gradcam++ maps hardly change with the class" in text and "use gradcam or occlusion" in text
    assert "at the model's input resolution" in text and "at the input's resolution" not in text
    assert "multi-label: its label of highest probability, even where none is above 0.5" in text


def _rank_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each pair of maps' Spearman rank correlation; 0 where a map is constant (all zeros: no evidence for its
    class), which shares no structure with the other."""
    from scipy.stats import rankdata

    out = []
    for x, y in zip(a.reshape(len(a), -1), b.reshape(len(b), -1)):
        rx, ry = rankdata(x), rankdata(y)
        out.append(0.0 if rx.std() == 0 or ry.std() == 0 else float(np.corrcoef(rx, ry)[0, 1]))
    return np.asarray(out)


@pytest.mark.filterwarnings("ignore::medtrain.explain.GradCAMppWarning")
def test_gradcam_pp_maps_of_two_classes_are_alike_where_gradcams_are_not(trained_run):
    """The claim the warning makes, on the tests' 1-epoch run (16 px, a bright square decides the class): asked
    for the other class, Grad-CAM++ draws much the same map (measured: mean rank correlation 0.66 over these 16
    test images, at least 0.37; 0.68 over all 40), Grad-CAM finds no evidence (all-zero maps for class 0: 0)."""
    run, _, arrays = trained_run
    x = arrays["test_images"][:16, None]
    corr = {m: _rank_correlations(explain(run, x, method=m, target=0).maps, explain(run, x, method=m, target=1).maps)
            for m in ("gradcam", "gradcam++")}
    assert corr["gradcam++"].mean() > 0.4 and corr["gradcam++"].mean() > corr["gradcam"].mean() + 0.3, corr
