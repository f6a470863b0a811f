"""Every loader fed truncated, garbled and mislabelled files: it loads, or raises MedtrainError. Nothing else.

Property-based (hypothesis): each test starts from a small valid file of its format, then cuts it short,
overwrites bytes, or writes plausible but wrong contents (shapes, dtypes, labels, geometry), and calls the
public loader. Any exception other than :class:`MedtrainError` fails the test and hypothesis shrinks it
to the smallest such file. The DICOM and NIfTI volumes are in test_fuzz_volumes.py, with the helpers here.
"""
from __future__ import annotations

import io
import os
import string
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from medtrain.config import load_yaml, resolve
from medtrain.data import load_csv, load_folder, load_npz, load_splits
from medtrain.data.volumes import load_volume_folder
from medtrain.errors import MedtrainError


# FUZZ_EXAMPLES=500 for a deeper hunt; the default keeps the whole file well under a minute on one core.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
# pydicom and nibabel warn while the *test* writes deliberately invalid values; the loaders silence their own.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning",
                                        "ignore::numpy.exceptions.ComplexWarning")


def loads_or_refuses(fn, *args, **kwargs):
    """The property: success or MedtrainError (one line); any other exception propagates and fails."""
    try:
        out = fn(*args, **kwargs)
    except MedtrainError as e:
        assert str(e) and "\n" not in str(e)
        event(f"{fn.__name__}: MedtrainError" + (f" {str(e)[-70:]}" if os.environ.get("FUZZ_DEBUG") else ""))
        return None
    event(f"{fn.__name__}: loaded")
    return out


# --------------------------------------------------------------------------- byte-level damage


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """``data`` cut short, with bytes overwritten, with junk appended, or replaced by junk."""
    kind = draw(st.sampled_from(["truncate", "garble", "append", "junk"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    if kind == "junk":
        return draw(st.binary(max_size=512))
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(out) - 1))
        chunk = draw(st.binary(min_size=1, max_size=16))
        out[i:i + len(chunk)] = chunk
    return bytes(out[: len(data)])


def _tmp():
    return tempfile.TemporaryDirectory(prefix="fuzz-")


# --------------------------------------------------------------------------- npz (MedMNIST layout)


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _valid_npz_arrays(n=6, size=8):
    rng = np.random.default_rng(0)
    out = {}
    for s in ("train", "val", "test"):
        out[f"{s}_images"] = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        out[f"{s}_labels"] = (np.arange(n) % 2).reshape(-1, 1).astype(np.uint8)
    return out


VALID_NPZ = _npz_bytes(**_valid_npz_arrays())
NPZ_NAMES = ["mine.npz", "breastmnist.npz", "chestmnist.npz", "organmnist3d.npz"]

shapes = st.lists(st.integers(0, 5), min_size=0, max_size=5).map(tuple)
dtypes = st.sampled_from([np.uint8, np.int8, np.int64, np.float32, np.float64, np.bool_, np.uint16, "U2"])


@st.composite
def npz_arrays(draw):
    """The six keys (some missing or extra) holding arrays of plausible and implausible shapes and dtypes."""
    arrays = _valid_npz_arrays(n=draw(st.integers(0, 6)), size=draw(st.integers(1, 6)))
    for key in list(arrays):
        change = draw(st.sampled_from(["keep"] * 5 + ["drop", "shape", "labels"]))
        if change == "drop":
            del arrays[key]
        elif change == "shape":
            dtype = draw(dtypes)
            shape = draw(shapes)
            arrays[key] = np.full(shape, draw(st.sampled_from([0, 1, 2, 255]))).astype(dtype)
        elif change == "labels" and key.endswith("labels"):
            values = draw(st.lists(st.sampled_from([0, 1, 2, 5, -1, 0.5, np.nan, np.inf, 1e12, 2**40]),
                                   min_size=len(arrays[key]), max_size=len(arrays[key])))
            arrays[key] = np.array(values, np.float64).reshape(-1, 1)
    if draw(st.booleans()):
        arrays["extra"] = np.zeros(3)
    return arrays


@FUZZ
@given(data=damaged(VALID_NPZ), name=st.sampled_from(NPZ_NAMES))
def test_damaged_npz_files(data, name):
    with _tmp() as d:
        p = Path(d) / name
        p.write_bytes(data)
        loads_or_refuses(load_npz, p)
        loads_or_refuses(load_splits, SimpleNamespace(data=str(p), spacing=None, window=None, image_size=None,
                                                      val_fraction=0.1, test_fraction=0.2, seed=0))


@FUZZ
@given(arrays=npz_arrays(), name=st.sampled_from(NPZ_NAMES))
def test_mislabelled_npz_files(arrays, name):
    with _tmp() as d:
        p = Path(d) / name
        p.write_bytes(_npz_bytes(**arrays))
        s = loads_or_refuses(load_npz, p)
        if s is not None:  # what loads is valid
            assert s.validate() is s and s.train.images.dtype.is_floating_point is False


# --------------------------------------------------------------------------- PNG/JPEG folders and CSVs


def _image_bytes(fmt: str, mode: str, size=(6, 5), value=100) -> bytes:
    buf = io.BytesIO()
    bands = len(Image.new(mode, (1, 1)).getbands())
    arr = np.full((size[1], size[0], bands) if bands > 1 else (size[1], size[0]), value, np.uint8)
    Image.fromarray(arr).convert(mode).save(buf, format=fmt)
    return buf.getvalue()


VALID_IMAGES = {("PNG", m): _image_bytes("PNG", m) for m in ("L", "RGB", "RGBA", "P", "1", "LA", "I;16")}
VALID_IMAGES.update({("JPEG", m): _image_bytes("JPEG", m) for m in ("L", "RGB", "CMYK")})


@st.composite
def image_file(draw):
    """Mostly a good image of the common size; sometimes another size, or a damaged file."""
    fmt, mode = draw(st.sampled_from(sorted(VALID_IMAGES)))
    suffix = {"PNG": ".png", "JPEG": ".jpg"}[fmt]
    kind = draw(st.sampled_from(["good"] * 6 + ["other size", "damaged"]))
    if kind == "damaged":
        return suffix, draw(damaged(VALID_IMAGES[fmt, mode]))
    size = (6, 5) if kind == "good" else draw(st.tuples(st.integers(1, 12), st.integers(1, 12)))
    return suffix, _image_bytes(fmt, mode, size, draw(st.integers(0, 255)))


@FUZZ
@given(files=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), image_file()), min_size=0, max_size=10),
       image_size=st.sampled_from([None, None, 4, 1, 0, -3]),
       fractions=st.sampled_from([(0.2, 0.2), (0.3, 0.3), (0.5, 0.0), (0.0, 0.2), (0.9, 0.5)]))
def test_image_folders(files, image_size, fractions):
    with _tmp() as d:
        root = Path(d) / "imgs"
        root.mkdir()
        for i, (cls, (suffix, data)) in enumerate([("a", image_file_ok), ("b", image_file_ok)] * 2 + files):
            (root / cls).mkdir(exist_ok=True)
            (root / cls / f"{i}{suffix}").write_bytes(data)
        s = loads_or_refuses(load_folder, root, image_size=image_size, val_fraction=fractions[0],
                             test_fraction=fractions[1], seed=0)
        if s is not None:
            assert s.validate() is s


image_file_ok = (".png", _image_bytes("PNG", "L"))


cell = st.one_of(
    st.sampled_from(["img0.png", "img1.png", "img2.jpg", "missing.png", "sub", ".", "", "/etc", "x" * 300,
                     "vol.nii.gz", "scan.dcm", "a", "b", "0", "1", "10", "train", "val", "test", "validation",
                     "holdout", "path", "label", "split", "PATH", " label ", "patient", "subject"]),
    st.text(alphabet=string.printable, max_size=6),
)


@st.composite
def csv_text(draw):
    """A valid listing of the three images with a few cells, rows or bytes spoilt; or random rows."""
    if draw(st.integers(0, 3)) == 3:
        rows = draw(st.lists(st.lists(cell, min_size=0, max_size=4), min_size=0, max_size=10))
    else:
        split, group = draw(st.booleans()), draw(st.booleans())
        rows = [["path", "label"] + (["split"] if split else []) + (["patient"] if group else [])]
        for i in range(draw(st.integers(6, 12))):
            rows.append([["img0.png", "img1.png", "img2.jpg"][i % 3], "ab"[i % 2]]
                        + ([("train", "val", "test")[i % 3]] if split else [])
                        + ([f"P{i % draw(st.integers(1, 6))}"] if group else []))
        for _ in range(draw(st.integers(0, 3))):
            r = draw(st.integers(0, len(rows) - 1))
            if draw(st.booleans()) and rows[r]:
                rows[r][draw(st.integers(0, len(rows[r]) - 1))] = draw(cell)
            else:
                rows[r] = draw(st.lists(cell, max_size=4))
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    text = "\n".join(sep.join(f'"{c}"' if draw(st.booleans()) and '"' not in c else c for c in r) for r in rows)
    data = text.encode()
    if draw(st.integers(0, 3)) == 3:
        data = draw(damaged(data or b"path,label\n"))
    return data


@FUZZ
@given(data=csv_text(), fractions=st.sampled_from([(0.2, 0.2), (0.4, 0.4), (0.0, 0.0)]))
def test_label_csvs(data, fractions):
    with _tmp() as d:
        d = Path(d)
        (d / "sub").mkdir()
        for name, (key, value) in zip(["img0.png", "img1.png", "img2.jpg"],
                                      [(("PNG", "L"), 10), (("PNG", "RGB"), 200), (("JPEG", "L"), 90)]):
            (d / name).write_bytes(_image_bytes(key[0], key[1], value=value))
        (d / "vol.nii.gz").write_bytes(b"not a volume")
        (d / "scan.dcm").write_bytes(b"not DICOM")
        csv = d / "labels.csv"
        csv.write_bytes(data)
        cfg = SimpleNamespace(data=str(csv), spacing=None, window=None, image_size=4, volume_size=4,
                              skip_bad=False, seed=0, val_fraction=fractions[0], test_fraction=fractions[1],
                              data_dir=str(d / "cache"), dataset=None, size=28)
        loads_or_refuses(load_csv, csv, image_size=4, val_fraction=fractions[0], test_fraction=fractions[1])
        loads_or_refuses(load_splits, cfg)
        loads_or_refuses(load_volume_folder, d, csv, size=4, cache_dir=d / "cache", val_fraction=fractions[0],
                         test_fraction=fractions[1])


# --------------------------------------------------------------------------- YAML config


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
              st.text(string.printable, max_size=8),
              st.sampled_from(["none", "null", "1e-3", "lung", "1,2,3", "a=1", "{", "[", "maxout:2", ".inf"])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(string.ascii_lowercase, max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6,
)
CONFIG_KEYS = ["dataset", "data", "size", "epochs", "lr", "batch_size", "dropout", "anneal_epochs",
               "layer_decay", "milestones", "augment_params", "spacing", "window", "val_fraction", "head",
               "transfer", "pretrained", "color_space", "tta", "seed", "mc_dropout", "devices", "volume_size",
               "folds", "fold", "group_column", "no_such_key", "Batch-Size"]


@st.composite
def yaml_text(draw) -> bytes:
    import yaml

    kind = draw(st.sampled_from(["mapping", "mapping", "damaged", "junk"]))
    mapping = draw(st.dictionaries(st.sampled_from(CONFIG_KEYS), yaml_values, max_size=4))
    text = yaml.safe_dump(mapping, allow_unicode=True).encode()
    if kind == "damaged":
        return draw(damaged(text))
    if kind == "junk":
        return draw(st.binary(max_size=64))
    return text


@settings(FUZZ, report_multiple_bugs=False, phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking
@given(data=yaml_text())
def test_yaml_configs(data):
    with _tmp() as d:
        p = Path(d) / "cfg.yaml"
        p.write_bytes(data)
        layer = loads_or_refuses(load_yaml, p)
        if layer is not None:
            loads_or_refuses(resolve, layer)
