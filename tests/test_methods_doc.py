"""docs/methods.md and CITATION.cff stay true to what medtrain writes.

A researcher copies key names from docs/methods.md into a script that reads run folders, and states the MedMNIST
ResNet-18 (28) recipe from it in a paper: every ``file:key`` the page quotes must be one a finished run writes
(a key marked *(when ...)* one that medtrain's source writes in such runs), its command must parse to the recipe
it claims, and the facts it states about a run (training-split normalisation, the dropped last batch, the
network's size and initialisation, the multistep epochs) must hold. CITATION.cff must be Citation File Format
1.2.0 with medtrain's own version and licence.
"""
from __future__ import annotations

import csv
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import fast_config, make_npz

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "methods.md"
CFF = ROOT / "CITATION.cff"
RECIPE = ROOT / "docs" / "recipes" / "medmnist_paper.yaml"
#: ``metrics.json:provenance.torch``, optionally followed by `` *(when ...)*`` (written only in such runs)
QUOTED = re.compile(r"`(metrics\.json|config\.yaml|model\.safetensors|splits\.csv):([^`\s]+)`(\s+\*\(when [^)]*\)\*)?")
BATCH = 40  # 96 training images: 2 full batches and 16 left over, so a dropped last batch shows in the steps


def quoted_keys() -> list[tuple[str, str, bool]]:
    """(file, dotted path, conditional) for every key docs/methods.md quotes."""
    return [(m[1], m[2], bool(m[3])) for m in QUOTED.finditer(DOC.read_text(encoding="utf-8"))]


def has_path(obj, path: str) -> bool:
    """Whether ``obj`` holds the dotted ``path``; a part ``name[]`` is a list, every element holding the rest."""
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    head = head.removesuffix("[]")
    if not isinstance(obj, dict) or head not in obj:
        return False
    value = obj[head]
    if many:
        return isinstance(value, list) and bool(value) and all(not rest or has_path(v, rest) for v in value)
    return not rest or has_path(value, rest)


def written_by_source(path: str) -> bool:
    """Whether medtrain's source writes the last part of ``path`` as a key (a quoted name)."""
    name = path.rsplit(".", 1)[-1].removesuffix("[]")
    return any(f'"{name}"' in f.read_text(encoding="utf-8") for f in (ROOT / "medtrain").rglob("*.py"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished 1-epoch binary run with an operating point, as the doc's examples are (CPU)."""
    import medtrain

    root = tmp_path_factory.mktemp("methods")
    data = make_npz(root / "tiny.npz")
    out = root / "run"
    medtrain.train(fast_config(data, out, epochs=1, batch_size=BATCH, bootstrap=20, operating_point="youden"),
                   verbose=False)
    return out, data


def files_of(run_dir: Path) -> dict:
    from safetensors import safe_open

    with open(run_dir / "splits.csv", newline="") as f:
        columns = next(csv.reader(f))
    with safe_open(str(run_dir / "model.safetensors"), "pt") as f:
        meta = f.metadata()
    return {"metrics.json": json.loads((run_dir / "metrics.json").read_text()),
            "config.yaml": yaml.safe_load((run_dir / "config.yaml").read_text()),
            "model.safetensors": meta, "splits.csv": dict.fromkeys(columns, "")}


def test_every_key_the_methods_page_quotes_is_written_by_a_run(run):
    keys = quoted_keys()
    assert len(keys) > 80, "the page's keys are no longer quoted as `file:key`"
    files = files_of(run[0])
    missing = [f"{file}:{path}" for file, path, when in keys
               if not has_path(files[file], path) and not (when and written_by_source(path))]
    assert not missing, f"docs/methods.md names keys a run does not write: {missing}"


def test_the_run_is_normalised_by_its_training_split_and_drops_the_last_batch(run):
    run_dir, data = run
    files = files_of(run_dir)
    train = np.load(data)["train_images"] / 255.0
    assert json.loads(files["model.safetensors"]["mean"]) == pytest.approx([train.mean()], abs=1e-5)
    assert json.loads(files["model.safetensors"]["std"]) == pytest.approx([train.std()], abs=1e-5)
    assert files["metrics.json"]["history"][0]["step"] == len(train) // BATCH  # 2, not 3: the last 16 dropped


def recipe_argv() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"```\n(medtrain train --dataset breastmnist .*?)```", text, re.S)
    assert block, "the MedMNIST ResNet-18 (28) command is not on the page"
    return shlex.split(block[1].replace("\\\n", " "))[2:]  # after "medtrain train"


def test_the_medmnist_command_parses_to_the_recipe_it_claims():
    import torch

    from medtrain import config
    from medtrain.cli import build_parser
    from medtrain.cli._options import config_layers
    from medtrain.training.optim import build_optimizer, build_scheduler

    args = build_parser().parse_args(["train", *recipe_argv()])
    from_file, flags = config_layers(args)
    cfg = config.resolve(from_file, flags)
    config.check_read(cfg, flags)
    assert (cfg.dataset, cfg.size, cfg.model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.batch_size, cfg.epochs,
            cfg.schedule, tuple(cfg.milestones)) == ("breastmnist", 28, "resnet18_28", "adam", 1e-3, 0.0, 128, 100,
                                                     "multistep", (0.5, 0.75))
    assert (list(cfg.augment), str(cfg.flip), cfg.tta, str(cfg.class_weights), cfg.label_smoothing, cfg.dropout,
            cfg.drop_path, cfg.drop_block, cfg.ema, cfg.members, cfg.precision, cfg.checkpoint, cfg.monitor,
            cfg.operating_point) == \
        (["none"], "false", "none", "false", 0.0, 0.0, 0.0, 0.0, 0.0, 1, "32-true", "best", "val_auc", None)
    opt = build_optimizer(torch.nn.Linear(2, 2), cfg.optimizer, cfg.lr, cfg.weight_decay)
    sched = build_scheduler(opt, cfg.schedule, cfg.epochs, 4, cfg.lr, tuple(cfg.milestones))
    assert sorted(sched["scheduler"].milestones) == [50, 75] and sched["interval"] == "epoch"


def test_the_shipped_recipe_file_is_the_medmnist_command():
    """docs/recipes/medmnist_paper.yaml (README's ``compare --vary config=...`` example) trains as section 2's
    command does: ``train --config FILE`` with the command's dataset, seed and out gives the very same settings,
    and compare reads it as a recipe (no seed or out in it)."""
    from medtrain import config
    from medtrain._compare_grid import load_recipes
    from medtrain.cli import build_parser
    from medtrain.cli._options import config_layers

    def settings(argv):
        args = build_parser().parse_args(["train", *argv])
        from_file, flags = config_layers(args)
        cfg = config.resolve(from_file, flags)
        config.check_read(cfg, flags)
        return cfg

    argv = recipe_argv()
    given = [argv[i] for i in range(len(argv)) if argv[i] in ("--dataset", "--seed", "--out")
             or (i and argv[i - 1] in ("--dataset", "--seed", "--out"))]
    assert settings(["--config", str(RECIPE), *given]) == settings(argv)
    assert settings(["--config", str(RECIPE), *given]) != settings(given)  # the file sets what differs
    assert load_recipes({"config": [str(RECIPE)]})[0] == {"config": ["medmnist_paper"]}
    assert "docs/recipes/medmnist_paper.yaml" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_network_the_page_describes():
    import torch

    from medtrain.models import create_model

    text = DOC.read_text(encoding="utf-8")
    model = create_model("resnet18_28", in_chans=1, num_classes=2)
    assert f"{sum(p.numel() for p in model.parameters()):,}" == "11,168,706" and "11,168,706" in text
    last_bns = [m.bn2.weight for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for m in stage]
    assert "gamma = 0" in text and all(torch.count_nonzero(w) == 0 for w in last_bns)


#: CFF 1.2.0's top-level keys (its schema: additionalProperties false) and the ones it requires
CFF_KEYS = {"abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi", "identifiers",
            "keywords", "license", "license-url", "message", "preferred-citation", "references", "repository",
            "repository-artifact", "repository-code", "title", "type", "url", "version"}
CFF_REQUIRED = {"authors", "cff-version", "message", "title"}
ENTITY_KEYS = {"address", "alias", "city", "country", "date-end", "date-start", "email", "fax", "location", "name",
               "orcid", "post-code", "region", "tel", "website"}


def test_citation_cff_is_cff_1_2_0_of_this_medtrain():
    import medtrain

    cff = yaml.safe_load(CFF.read_text(encoding="utf-8"))
    assert CFF_REQUIRED <= cff.keys() <= CFF_KEYS, sorted(cff.keys() - CFF_KEYS)
    assert cff["cff-version"] == "1.2.0" and cff["title"] == "medtrain" and cff.get("type", "software") == "software"
    assert isinstance(cff["version"], str) and cff["version"] == medtrain.__version__
    assert isinstance(cff["message"], str) and cff["message"].strip()
    assert cff["authors"] and all(isinstance(a, dict) and a.get("name") and a.keys() <= ENTITY_KEYS
                                  for a in cff["authors"])
    licence = re.search(r'^license = "([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert licence and cff["license"] == licence[1]
    if "repository-code" in cff:  # only where pyproject names one
        assert cff["repository-code"] in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    keywords = cff.get("keywords", ["x"])
    assert all(isinstance(k, str) and k for k in keywords) and len(set(keywords)) == len(keywords)
