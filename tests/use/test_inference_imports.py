"""Using a finished run (predict, export, explain) does not import Lightning, whose import alone took ~9 s of a
~16 s ``medtrain predict`` start-up; the network it loads predicts what the training module predicts, and loading
it leaves the caller's random generators as they were."""
from __future__ import annotations

import csv
import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

import medtrain
from medtrain import rundir
from medtrain.data import Split
from medtrain.evaluation import predict
from medtrain.models.weights import save_weights
from medtrain.runmodel import isolate_rng, untrained_run_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def received_run(tmp_path_factory):
    """A run handed on as its config and weights (an untrained resnet10_28_half with head dropout), predicting
    with flip TTA and 3 MC-dropout passes, and 12 grey 28x28 test images in a .npz."""
    run = untrained_run_model("resnet10_28_half", dropout=0.3, mc_dropout=3, tta="hflip", seed=5)
    root = tmp_path_factory.mktemp("received")
    folder = root / "run"
    folder.mkdir()
    rundir.write_config(folder, run.cfg)
    save_weights(run.module.model, folder / rundir.WEIGHTS_FILE, meta=run.meta)
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    np.savez(root / "x.npz", test_images=images, test_labels=np.zeros((12, 1), np.uint8))
    return run, folder, root / "x.npz", images


def _reference(run, images) -> np.ndarray:
    """The probabilities the training module (Lightning's) gives the images, with the run's TTA and MC dropout."""
    from medtrain.training.build import input_transform
    from medtrain.training.module import Classifier

    m = run.module
    trained = Classifier(m.model, m.task, m.num_classes, m.mean.flatten(), m.std.flatten(), run.cfg.to_dict(),
                         input_transform=input_transform(run.cfg))
    split = Split(torch.from_numpy(images).unsqueeze(1), torch.zeros(len(images), dtype=torch.int64))
    probs, _ = predict(trained, split, tta="hflip", mc_dropout=3, seed=run.cfg.seed)
    return probs


def test_predict_never_imports_lightning_and_predicts_as_the_training_module(received_run, tmp_path):
    run, folder, npz, images = received_run
    out = tmp_path / "p.csv"
    script = (
        "import json, sys\n"
        "from medtrain.cli import main\n"
        f"code = main(['predict', {str(folder)!r}, {str(npz)!r}, '--split', 'test', '--out', {str(out)!r}])\n"
        "import medtrain.export, medtrain.explain, medtrain.external, medtrain.predictor\n"
        "print(json.dumps({'code': code, 'lightning': sorted(m for m in sys.modules if m.split('.')[0] in "
        "('lightning', 'pytorch_lightning', 'lightning_fabric'))}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert report["lightning"] == [], f"predict imported Lightning: {report['lightning'][:5]}"
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    got = np.array([[float(r[c]) for c in run.label_names] for r in rows])
    np.testing.assert_allclose(got, _reference(run, images), atol=2e-6)


def test_loading_a_run_leaves_the_callers_random_generators_as_they_were(received_run):
    _, folder, _, images = received_run
    torch.manual_seed(11), np.random.seed(11), random.seed(11)
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    torch.manual_seed(11), np.random.seed(11), random.seed(11)
    predictor = medtrain.load(folder)  # the network is initialised at random before its weights replace that
    first = predictor.predict(images[:4, None])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and [random.random() for _ in range(3)] == expected[2]
    np.testing.assert_array_equal(predictor.predict(images[:4, None]), first)  # the MC-dropout masks are seeded


def _states() -> tuple:
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


def _same(a: tuple, b: tuple) -> bool:
    return torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def _draw() -> None:
    torch.rand(5), np.random.rand(5), random.random()


def test_isolate_rng_restores_torch_numpy_and_python_states_after_the_block_even_a_failed_one():
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    before = _states()
    with isolate_rng():
        _draw()
        assert not _same(_states(), before)  # the block did draw
    assert _same(_states(), before)
    with pytest.raises(RuntimeError, match="failed"), isolate_rng():
        _draw()
        raise RuntimeError("the block failed")
    assert _same(_states(), before)
