"""Shared fixtures: tiny synthetic datasets made in the test, and the real MedMNIST files if present.

Real data are looked up in ``$MEDTRAIN_DATA`` and then in ``../shared/data`` next to the repository. A
missing file skips its test, unless ``MEDTRAIN_REQUIRE_DATA=1`` (set by ``.ci/run``): then it fails, so
that CI cannot go green while silently running none of the real-data tests.
"""
from __future__ import annotations

import contextlib
import csv
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Under pytest-xdist (``-n``, see pyproject.toml) the workers share the cores: one intra-op thread each, so
# that two workers on two cores do not run four threads (tiny tensors slow down ~10x when oversubscribed).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _WORKERS)))


def make_images(n: int, size: int = 16, channels: int = 1, seed: int = 0):
    """Learnable two-class images: class 1 carries a bright square, class 0 does not."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    shape = (n, size, size) if channels == 1 else (n, size, size, channels)
    images = rng.integers(0, 90, shape).astype(np.uint8)
    for i in np.flatnonzero(labels):
        r, c = rng.integers(0, size - 6, 2)
        images[i, r:r + 6, c:c + 6] = 230
    return images, labels.reshape(-1, 1).astype(np.uint8)


def make_npz(path: Path, channels: int = 1, sizes=(96, 32, 32), noisy_test: int = 0) -> Path:
    """Write a learnable bright-square dataset in MedMNIST layout (train/val/test of ``sizes``).

    ``noisy_test`` flips the labels of that many test images: even a perfect model then ranks them
    among the other class, so the test AUC is below 1 and depends on the exact scores (a re-evaluation
    that reproduces it to 1e-6 reproduced the predictions, not just their separability).
    """
    arrays = {}
    for split, n, seed in zip(("train", "val", "test"), sizes, (0, 1, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, channels=channels, seed=seed)
    arrays["test_labels"][:noisy_test] = 1 - arrays["test_labels"][:noisy_test]
    np.savez(path, **arrays)
    return path


def few_patients_scores(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, patient of each image, softmax scores) of a 4-class test split of 4 patients of 8 images a class,
    each patient's images sharing a shift of their scores: a multi-class AUC below 1 over few patients."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), 32)
    groups = np.repeat(np.arange(16), 8).astype(str)
    z = np.repeat(rng.normal(0, 1, (16, 4)), 8, 0) + rng.normal(0, 0.7, (128, 4))
    z[np.arange(128), y] += 2.0
    return y, groups, np.exp(z) / np.exp(z).sum(1, keepdims=True)


def make_two_findings() -> dict:
    """A multi-label dataset in MedMNIST layout: train/val/test of 64/24/32 16x16 grey images with (N, 2) 0/1
    labels, label j a bright square in half j of the image (0 the top half, 1 the bottom)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 64), ("val", 24), ("test", 32)):
        images = rng.integers(0, 90, (n, 16, 16)).astype(np.uint8)
        labels = rng.integers(0, 2, (n, 2)).astype(np.uint8)
        for i, j in zip(*np.nonzero(labels)):  # label j: a square in half j
            r, c = 8 * j + rng.integers(0, 3), rng.integers(0, 10)
            images[i, r:r + 5, c:c + 5] = 230
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    return arrays


def png_csv(root: Path, images, labels, classes=None, path="{i}.png", columns: dict | None = None,
            name: str | None = "labels.csv") -> Path:
    """Each of ``images`` (uint8 arrays, grey (H, W) or RGB (H, W, 3), of any sizes) saved as a PNG under ``root``
    and listed in the CSV ``root / name``: ``path,label``, then a column per entry of ``columns`` (its header: one
    value per image). Returns the CSV; with ``name=None`` no CSV is written and ``root`` is returned (class folders:
    ``path="{label}/{i}.png"``).

    ``path``: a name per image, or a template of the image's index ``i`` and ``label``. A label is ``classes[y]``
    (``y`` itself without ``classes``); a row of 0/1s (multi-label ``labels``, shape (N, L)) is the labels of its
    1s joined by ``|``, '' for none. ``labels`` of shape (N, 1), as :func:`make_images` gives them, are one a row.
    """
    from PIL import Image

    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    label_of = (lambda y: str(y)) if classes is None else (lambda y: str(classes[y]))
    columns = columns or {}
    rows = [["path", "label", *columns]]
    for i, (image, y) in enumerate(zip(images, labels)):
        label = "|".join(label_of(j) for j in np.flatnonzero(y)) if labels.ndim == 2 else label_of(y)
        file = path.format(i=i, label=label) if isinstance(path, str) else path[i]
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / file)
        rows.append([file, label, *(str(v[i]) for v in columns.values())])
    if name is None:
        return root
    with open(root / name, "w", newline="") as f:  # quoted where a value holds a comma or a quote
        csv.writer(f, lineterminator="\n").writerows(rows)
    return root / name


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors gain nothing from intra-op threads; on a shared CPU two make them ~10x slower.
    Modules of many tiny forward passes opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


_BLANKS: dict = {}  # (width, height) -> the blank palette PNG's bytes


def _blank_png(fig, path, dpi: int | None = None, tight: bool = True, palette: bool = True) -> None:
    """A white palette PNG of ``fig``'s size at ``dpi``, written where the plot would be: see :func:`_plots_blank`."""
    from PIL import Image

    from medtrain._io import atomic_path
    from medtrain.reports import png

    w, h = (int(v) for v in (fig.get_size_inches() * (dpi or png.DPI)).round())
    if (w, h) not in _BLANKS:  # one encoding a size (quantising a white image had been ~20 ms a plot)
        _BLANKS[w, h] = png.palette_png(Image.new("RGB", (w, h), "white"))
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(_BLANKS[w, h])


@pytest.fixture(scope="module", autouse=True)
def _plots_blank(request):
    """The runs a test file trains (its module fixtures' too: this one is set up before them) write each plot as a
    blank of its size, unless the file is under tests/reports/ or marked ``plots`` (``pytestmark``): drawing a
    run's four plots is most of writing it (0.8 s of a 2 s tiny run; a fifth of the suite's time in all). The
    figures are still built from the runs' numbers; the plots themselves are drawn and checked by tests/reports/,
    the files marked ``plots`` and the session fixtures' runs (set up before any file's fixtures)."""
    if request.node.get_closest_marker("plots") or request.node.path.parent.name == "reports":
        yield
        return
    from medtrain.reports import png

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(png, "save_png", _blank_png)
        yield


def copy_as_trained(run: Path, dest: Path) -> Path:
    """A copy at ``dest`` of a session fixture's run as training left it: other test files score external data into
    the shared run (``eval --data`` adds each site's files and rewrites its report.html); those are left out and the
    report is written again from the run's own files."""
    import shutil

    from medtrain import rundir

    shutil.copytree(run, dest, ignore=shutil.ignore_patterns("eval_external_*", "predictions_external_*",
                                                             "*_external_*.png"))
    rundir.write_report(dest, rundir.read_config(dest), rundir.read_metrics(dest))
    return dest


def warned(category, fn, *args, **kwargs) -> tuple:
    """``(fn(*args, **kwargs), [the warnings of category it issued]``), every warning recorded (none filtered)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [w for w in caught if issubclass(w.category, category)]


def catch_figures(monkeypatch) -> dict:
    """``{file name: figure}`` of every plot :mod:`medtrain.reports.plots` saves from now on (each still saved)."""
    from medtrain.reports import plots

    figures, save = {}, plots._save

    def keep(fig, path, **kwargs):
        figures[Path(path).name] = fig
        save(fig, path, **kwargs)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


# The folders of session-scoped fixtures: kept until the session ends (see _module_temporaries_removed).
_SESSION_DIRS: set[Path] = set()


def _session_dir(tmp_path_factory, name: str) -> Path:
    """A new temporary folder for a session-scoped fixture, which later test files of this worker use too."""
    path = tmp_path_factory.mktemp(name)
    _SESSION_DIRS.add(path)
    return path


@pytest.fixture(scope="module", autouse=True)
def _module_temporaries_removed(request, tmp_path_factory):
    """Remove the temporary folders a test file made (its module fixtures' ``tmp_path_factory.mktemp`` folders;
    ``tmp_path_retention_policy = "failed"`` in pyproject.toml removes each passing test's ``tmp_path``) once the
    file is done, unless one of its tests failed. A run was ~70 MB (two Lightning checkpoints and the weights; a
    finished run now removes its checkpoints, an interrupted one keeps them): the suite had left ~10 GB behind, and
    CI's run of 7ffaae7 ended with every training of its last 6% erroring, as on a full disk."""
    base = tmp_path_factory.getbasetemp()
    before, failed = set(base.iterdir()), request.session.testsfailed
    yield
    if request.session.testsfailed != failed:
        return
    import shutil

    for path in set(base.iterdir()) - before - _SESSION_DIRS:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tiny_npz(tmp_path) -> Path:
    """A 2-class grey dataset in MedMNIST layout: 96 / 32 / 32 images of 16x16."""
    return make_npz(tmp_path / "tiny.npz")


@pytest.fixture
def three_class_npz(tmp_path) -> Path:
    """A 3-class grey dataset in MedMNIST layout (noise): 24 / 12 / 12 images of 16x16, the classes in turn."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 24), ("val", 12), ("test", 12)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 16, 16)).astype(np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 3).reshape(-1, 1).astype(np.uint8)
    np.savez(tmp_path / "three.npz", **arrays)
    return tmp_path / "three.npz"


@pytest.fixture(scope="session")
def learnable_npz(tmp_path_factory) -> Path:
    """The grey bright-square task, 128 / 48 / 64 images of 16x16 (2 test labels flipped), shared by the
    technique tests."""
    return make_npz(_session_dir(tmp_path_factory, "learnable") / "grey.npz", sizes=(128, 48, 64), noisy_test=2)


@pytest.fixture(scope="session")
def learnable_rgb_npz(tmp_path_factory) -> Path:
    """The same task in RGB (H, W, 3), for colour spaces and colour augmentations."""
    return make_npz(_session_dir(tmp_path_factory, "learnable") / "rgb.npz", channels=3, sizes=(128, 48, 64),
                    noisy_test=2)


def require_data() -> bool:
    """Whether a missing real-data file is a failure (``MEDTRAIN_REQUIRE_DATA=1``) rather than a skip."""
    return os.environ.get("MEDTRAIN_REQUIRE_DATA", "").strip().lower() in ("1", "true", "yes", "on")


def data_dirs() -> list[Path]:
    """Where the real MedMNIST files are looked for, in order: ``$MEDTRAIN_DATA``, ``../shared/data``."""
    env = os.environ.get("MEDTRAIN_DATA")
    return ([Path(env)] if env else []) + [SHARED_DATA]


def find_real_data(filename: str, dirs: list[Path] | None = None) -> Path:
    """The first directory holding ``filename``; if none does, skip the test or, when data are required, fail it."""
    dirs = data_dirs() if dirs is None else dirs
    for d in dirs:
        if (d / filename).is_file():
            return d
    where = " or ".join(str(d) for d in dirs)
    msg = f"REAL DATA ABSENT: {filename} not found in {where}"
    if require_data():
        pytest.fail(msg + " (MEDTRAIN_REQUIRE_DATA=1: real data are required)", pytrace=False)
    pytest.skip(msg + "; real-data tests skipped")


@pytest.fixture
def real_data() -> Path:
    return find_real_data("pneumoniamnist.npz")


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``medtrain ARGV...`` in this process: (exit code, stdout, stderr)."""
    from medtrain.cli import main

    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def read_rows(path) -> list[dict]:
    """A CSV's rows as dicts (a predictions file)."""
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def fast_config(data: Path, out: Path, **over) -> dict:
    # flip pinned on (the flip pilots of flip=auto: tests/training/test_choices.py) and float32 (precision=auto,
    # bf16 on this CPU: tests/training/test_precision.py), so other tests compare exact numbers; the class-balanced
    # loss's own rule pinned (class_weights=true trains as auto does; auto's choice scores validation 2-3 more times
    # after training: tests/training/test_choices.py and the tests that pass class_weights="auto" test it), except
    # in runs of tiny_binary_run's network: a 1-epoch resnet18_28_half calls most images one class by that rule,
    # and the tests of such runs (their temperatures, fitted or kept at 1) read the rule auto keeps (val-fitted)
    cfg = dict(data=str(data), model="resnet10_28_half", epochs=2, batch_size=32, progress=False, bootstrap=50,
               out=str(out), schedule="none", accelerator="cpu", flip="true", precision="32-true")
    cfg.update(over)
    cfg.setdefault("class_weights", "auto" if cfg["model"] == "resnet18_28_half" else "true")
    return cfg


def blank_explanation(names: list[str]):
    """An :class:`medtrain.explain.Explanation` of ``names`` with blank 4x4 maps and images (class benign, p 0.5),
    for the tests of how explanations are written: the real class, so a field added to it reaches the writer with
    its default (three SimpleNamespace copies had failed once one was added)."""
    from medtrain.explain import Explanation

    n = len(names)
    return Explanation(names=names, targets=np.zeros(n, dtype=int), labels=["benign", "malignant"],
                       probs=np.full((n, 2), 0.5), images=np.zeros((n, 1, 4, 4), np.uint8),
                       maps=np.zeros((n, 4, 4), np.float32), method="gradcam", layer="layer4", mc_dropout=0)


def tiny_binary_run(root: Path, flipped: int = 2, **over) -> tuple[Path, Path, dict]:
    """(run, its .npz, its arrays): a finished 1-epoch resnet18_28_half run in ``root / "run"`` on 16x16 grey
    two-class images (train/val/test 64/16/40) whose first ``flipped`` validation labels are flipped: a validation
    split without error determines no temperature (T = 1 kept); with them the run fits one (T = 0.88 for 2), which
    the predict/export/explain tests check is applied. ``over``: settings over :func:`fast_config`'s (tta hflip)."""
    import medtrain

    arrays = {}
    for split, n, seed in (("train", 64, 0), ("val", 16, 1), ("test", 40, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    arrays["val_labels"][:flipped] = 1 - arrays["val_labels"][:flipped]
    data = root / "tiny.npz"
    np.savez(data, **arrays)
    run = root / "run"
    # the default 2D network, so exporting this run is also the default network's dynamo export test
    # class_weights auto: a 1-epoch run's balanced rule calls most images one class; auto keeps the val-fitted one
    settings = {"model": "resnet18_28_half", "epochs": 1, "bootstrap": 0, "tta": "hflip", "class_weights": "auto",
                **over}
    medtrain.train(fast_config(data, run, **settings), verbose=False)
    return run, data, arrays


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """:func:`tiny_binary_run` (default TTA, hflip), shared by the predict and export tests (training is their slow
    part)."""
    return tiny_binary_run(_session_dir(tmp_path_factory, "use"))


@pytest.fixture(scope="session")
def interrupted_run(tmp_path_factory) -> Path:
    """:func:`tiny_binary_run` stopped while writing its outputs (Ctrl-C in its report): its weights, config and
    checkpoints (kept for ``--resume``; a finished run removes them) are written, its ``metrics.json`` is not. Copy
    it before resuming it."""
    import medtrain.rundir

    def stop(*a, **k):
        raise KeyboardInterrupt

    root = _session_dir(tmp_path_factory, "interrupted")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(medtrain.rundir, "write_report", stop)
        with pytest.raises(KeyboardInterrupt):
            tiny_binary_run(root)
    return root / "run"


@pytest.fixture
def chromium() -> str:
    """Debian's headless ``chromium`` (installed by ``.ci/run``); skip without it, unless
    ``MEDTRAIN_REQUIRE_DATA=1``: then fail, so that CI cannot pass without having opened a report."""
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "CHROMIUM ABSENT: no chromium on PATH (apt-get install chromium)"
        if require_data():
            pytest.fail(msg + " (MEDTRAIN_REQUIRE_DATA=1: the browser tests are required)", pytrace=False)
        pytest.skip(msg + "; browser tests skipped")
    return exe


@contextlib.contextmanager
def no_hang(seconds: int = 30):
    """Fail, rather than hang the suite, when the body blocks (a FIFO opened for reading waits for a writer)."""
    import signal

    def _expired(*_):
        pytest.fail(f"blocked for {seconds} s: a FIFO or device was opened", pytrace=False)

    old = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def file_size_limit(nbytes: int):
    """A real refusal without root or a full disk: writing past ``nbytes`` fails with EFBIG (``ulimit -f``;
    Python ignores SIGXFSZ), whatever library writes."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _interrupt_callback():
    import lightning.pytorch as pl

    class InterruptAt(pl.Callback):
        """Ctrl-C (or the scheduler's SIGTERM, which the CLI turns into it) in the middle of epoch ``epoch``
        (0-based): the epochs before it finished and are in ``last.ckpt``."""

        def __init__(self, epoch):
            self.epoch = epoch

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.current_epoch == self.epoch and batch_idx == 1:
                raise KeyboardInterrupt  # what Ctrl-C raises

    return InterruptAt


def __getattr__(name):  # `from conftest import InterruptAt` without importing Lightning for every test file
    if name == "InterruptAt":
        return _interrupt_callback()
    raise AttributeError(name)


class HtmlTables:
    """Every ``<table>`` of an HTML page as rows of cell texts (whitespace collapsed): ``HtmlTables(html).tables``."""

    def __init__(self, html: str):
        from html.parser import HTMLParser

        tables, cell = [], [None]

        class _Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                if tag == "table":
                    tables.append([])
                elif tag == "tr" and tables:
                    tables[-1].append([])
                elif tag in ("td", "th"):
                    cell[0] = []

            def handle_endtag(self, tag):
                if tag in ("td", "th") and cell[0] is not None:
                    tables[-1][-1].append(" ".join("".join(cell[0]).split()))
                    cell[0] = None

            def handle_data(self, data):
                if cell[0] is not None:
                    cell[0].append(data)

        _Parser().feed(html)
        self.tables = tables


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """medtrain's cache folder (``$MEDTRAIN_DATA``) in the test's own tmp folder, and ``$HOME`` there too: a test of
    ``medtrain cache clear`` never reaches the real ``~/.cache/medtrain``."""
    r = tmp_path / "cache"
    monkeypatch.setenv("MEDTRAIN_DATA", str(r))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # never the real ~/.cache
    return r
