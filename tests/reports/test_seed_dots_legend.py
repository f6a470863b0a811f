"""seeds.png's legend sits where no run's dot or mean ± std bar is: placed "best" it had covered the top of the
first cell's bar (the evidence walk, session 33: two seeds at 0.41 and 0.64, the bar up to 0.69)."""
import numpy as np
import pytest

from medtrain.reports import plots


def _points(ax) -> np.ndarray:
    """Every drawn dot and every end of every bar of ``ax``, in display pixels."""
    pts = [np.column_stack(line.get_data()) for line in ax.get_lines()]
    for coll in ax.collections:  # the errorbar's vertical segments
        pts += [np.asarray(seg) for seg in coll.get_segments()]
    return ax.transData.transform(np.concatenate(pts).astype(float))


@pytest.mark.parametrize("values, flagged", [
    ({"test AUC": [[0.406, 0.638], [0.52, 0.53]], "val AUC": [[0.7, 0.9], [0.8, 0.85]]}, None),
    ({"test AUC": [[0.9, 0.2, 0.95], [0.5, 0.55, 0.6]]}, [[True, False, False], [False, False, False]]),
])
def test_the_legend_covers_no_dot_and_no_bar_of_the_first_panel(tmp_path, monkeypatch, values, flagged):
    kept = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.setdefault("fig", fig))
    plots.seed_dots(["dropout=0", "dropout=0.5"], values, tmp_path / "seeds.png", flagged=flagged,
                    flag_label="calls every test image one class")
    fig = kept["fig"]
    fig.draw_without_rendering()
    ax = fig.axes[0]
    box = ax.get_legend().get_window_extent()
    inside = [p for p in _points(ax) if box.x0 <= p[0] <= box.x1 and box.y0 <= p[1] <= box.y1]
    assert inside == [], (box, inside)
    assert box.y1 <= ax.get_window_extent().y1 + 1  # inside the panel, not over its title
