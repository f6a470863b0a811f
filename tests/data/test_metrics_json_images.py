"""A run records in metrics.json (data.images) what was done to its image files: the resize rule, the range of
their own sizes, and how many were squashed, enlarged more than 2x, grey copied to RGB, or carried transparency:
the training lines had said it on screen only (a walk with images at their own resolution)."""
import json

from conftest import run_cli
from test_survey_image_notes import _folder


def test_metrics_json_records_what_was_done_to_the_images(tmp_path, capsys):
    root, run = _folder(tmp_path / "d"), tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--data", root, "--image-size", "64", "--model", "resnet10_28_half",
                           "--epochs", "1", "--batch-size", "16", "--bootstrap", "0", "--flip", "true",
                           "--precision", "32-true", "--out", run, "--no-progress")
    assert code == 0, err
    images = json.loads((run / "metrics.json").read_text())["data"]["images"]
    assert images == {"image_size": 64, "resize": "PIL bilinear, aspect squashed",
                      "sizes": {"smallest": [16, 16], "largest": [40, 40]}, "squashed": 0, "enlarged": 20,
                      "enlarged_over": 2, "grey_as_rgb": 1, "transparent": 1}
