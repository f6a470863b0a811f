"""``medtrain.load(run).predict(df)`` of a whole pandas DataFrame is one MedtrainError saying to pass its column
(``df['path']``), which predicts; it had been a raw ``TypeError: can't convert np.ndarray of type numpy.object_``."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import medtrain
from medtrain.errors import MedtrainError

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def pngs(trained_run, tmp_path_factory):
    _, _, arrays = trained_run
    root = tmp_path_factory.mktemp("df")
    images = arrays["test_images"][:4]
    paths = []
    for i, im in enumerate(images):
        Image.fromarray(im).save(root / f"{i}.png")
        paths.append(str(root / f"{i}.png"))
    return images, paths


@pytest.mark.parametrize("columns", [("path", "label"), ("file",)])
@pytest.mark.parametrize("in_list", [False, True])
def test_a_whole_dataframe_is_one_error_naming_the_column_to_pass(trained_run, pngs, columns, in_list):
    run, _, _ = trained_run
    _, paths = pngs
    df = pd.DataFrame({c: paths if i == 0 else ["0"] * len(paths) for i, c in enumerate(columns)})
    with pytest.raises(MedtrainError) as e:
        medtrain.load(run).predict([df] if in_list else df)
    msg = str(e.value)
    assert "\n" not in msg and "DataFrame" in msg and f"df[{columns[0]!r}]" in msg


def test_its_column_predicts_as_the_images(trained_run, pngs):
    run, _, _ = trained_run
    images, paths = pngs
    p = medtrain.load(run)
    df = pd.DataFrame({"path": paths, "label": [0, 1, 0, 1]})
    np.testing.assert_allclose(p.predict(df["path"]), p.predict(images), atol=1e-6)
