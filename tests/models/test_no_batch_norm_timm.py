"""``batch_norm=False`` (``--no-batch-norm``) on a timm network outside medtrain's zoo: "the same architecture with
every BatchNorm removed", as for the zoo's families, never its activations or its LayerNorms."""
import pytest
import torch
from torch import nn

from medtrain.errors import MedtrainError
from medtrain.models import create_model

BN = nn.modules.batchnorm._BatchNorm


def _count(model, kind) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_efficientnet_loses_its_batch_norms_and_keeps_every_activation():
    # timm's BatchNormAct2d holds the activation after each norm: 33 of its 49 SiLU went with the norms
    with_bn = create_model("efficientnet_b0", 1, 2, input_size=32)
    without = create_model("efficientnet_b0", 1, 2, input_size=32, batch_norm=False)
    assert _count(with_bn, BN) == 49 and _count(without, BN) == 0
    assert _count(without, nn.SiLU) == _count(with_bn, nn.SiLU) == 49
    bn_params = sum(p.numel() for m in with_bn.modules() if isinstance(m, BN) for p in m.parameters(recurse=False))
    assert sum(p.numel() for p in without.parameters()) == sum(p.numel() for p in with_bn.parameters()) - bn_params
    assert without(torch.randn(2, 1, 32, 32)).shape == (2, 2)


def test_a_network_whose_constructor_initialises_a_batch_norm_is_built_without_them():
    # RegNet zero-initialises each block's last BN weight: the Identity put there had no weight (a traceback)
    model = create_model("regnetx_002", 1, 2, input_size=32, batch_norm=False)
    assert _count(model, BN) == 0 and _count(model, nn.ReLU) == _count(create_model("regnetx_002", 1, 2), nn.ReLU)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 2)


@pytest.mark.parametrize("name, norm", [("convnext_atto", "LayerNorm2d"), ("vit_tiny_patch16_224", "LayerNorm")])
def test_a_network_without_batch_norm_is_refused_not_stripped_of_its_layer_norms(name, norm):
    with pytest.raises(MedtrainError, match=rf"--no-batch-norm: {name} has no BatchNorm layers.*{norm}"):
        create_model(name, 1, 2, input_size=32, batch_norm=False)


def test_a_zoo_network_without_batch_norm_is_refused_too():
    with pytest.raises(MedtrainError, match="--no-batch-norm: squeezenet1_1 has no BatchNorm layers"):
        create_model("squeezenet1_1", 1, 2, input_size=28, batch_norm=False)


# --- a run trained before the rule of BatchNorms alone: its weights would be rebuilt as another network ---
# The older rule gave timm a norm_layer of identity, which took every norm built with it: an EfficientNet's
# BatchNormAct2d with the activation inside it (a run of test AUC 0.811 evaluated at 0.603 from the same weights),
# a ConvNeXt's LayerNorm2d. Its weights' metadata lacked batch_norm_removed, with the same medtrain_version.

def _no_bn_run(root, name, old: bool, size: int = 16):
    """A finished run of ``name`` with batch_norm false, handed on as config.yaml and model.safetensors (written by
    rundir's writers; the network's state dict is the same under both rules); ``old``: without the marker."""
    from types import SimpleNamespace

    from medtrain import config as config_mod
    from medtrain import rundir
    from medtrain.models.weights import save_weights
    from medtrain.runmodel import _shape_only_splits

    run = root / name
    run.mkdir()
    cfg = config_mod.resolve({"model": name, "batch_norm": False})
    rundir.write_config(run, cfg)
    splits = _shape_only_splits({"in_chans": 1, "num_classes": 2, "input_size": size, "task": "binary-class"})
    meta = rundir.weights_meta(cfg, splits, SimpleNamespace(mean=torch.tensor([0.5]), std=torch.tensor([0.25])))
    if old:
        meta.pop("batch_norm_removed", None)  # (all else an older medtrain wrote the same)
    save_weights(create_model(name, 1, 2, input_size=size, batch_norm=False), run / rundir.WEIGHTS_FILE, meta)
    return run


def test_an_older_no_batch_norm_run_whose_norm_act_layers_went_whole_is_refused_not_rebuilt_otherwise(tmp_path,
                                                                                                      capsys):
    from conftest import run_cli
    from medtrain.runmodel import load_run_module

    run = _no_bn_run(tmp_path, "mobilenetv3_small_050", old=True)
    with pytest.raises(MedtrainError) as e:
        load_run_module(run)
    line = str(e.value)
    assert "\n" not in line and line.startswith(f"{run} was trained with --no-batch-norm by an older medtrain")
    assert "(BatchNormAct2d) and the activation inside each norm+activation layer" in line
    assert "would compute another network from its weights" in line
    assert f"`medtrain train --config {run}/config.yaml --out NEW`" in line
    code, _, err = run_cli(capsys, "cost", run)  # eval, predict, export, explain load it alike
    assert code == 2 and "older medtrain" in err and "Traceback" not in err


def test_a_no_batch_norm_run_of_this_rule_loads_with_its_activations(tmp_path):
    from medtrain.runmodel import load_run_module

    run = _no_bn_run(tmp_path, "mobilenetv3_small_050", old=False)
    loaded = load_run_module(run)
    assert loaded.meta["batch_norm_removed"] == "batchnorm-only"  # the rule its weights were trained under
    model = loaded.module.model
    as_is = create_model("mobilenetv3_small_050", 1, 2, input_size=16)
    assert _count(model, BN) == 0 and _count(model, nn.Hardswish) == _count(as_is, nn.Hardswish) > 0


def test_an_older_run_of_a_network_with_plain_batch_norms_alone_loads(tmp_path):
    # both rules replaced each nn.BatchNorm2d by identity: the same network, its run keeps working
    from medtrain.runmodel import load_run_module

    run = _no_bn_run(tmp_path, "resnet10t", old=True)
    assert _count(load_run_module(run).module.model, BN) == 0


def test_an_older_run_of_a_network_without_batch_norm_is_said_to_be_old_not_to_train_without_the_flag(tmp_path):
    # the older rule took a ConvNeXt's LayerNorm2d; this version refuses --no-batch-norm on it when building
    from medtrain import config as config_mod
    from medtrain import rundir
    from medtrain.models.weights import save_weights
    from medtrain.runmodel import load_run_module

    run = tmp_path / "convnext_atto"
    run.mkdir()
    rundir.write_config(run, config_mod.resolve({"model": "convnext_atto", "batch_norm": False}))
    save_weights(create_model("convnext_atto", 1, 2), run / rundir.WEIGHTS_FILE,
                 {"model": "convnext_atto", "in_chans": 1, "num_classes": 2, "input_size": 32, "spatial_dims": 2,
                  "task": "binary-class", "mean": [0.5], "std": [0.25], "medtrain_version": "0.3.0"})
    with pytest.raises(MedtrainError, match=r"convnext_atto was trained with --no-batch-norm by an older medtrain.*"
                       r"\(LayerNorm2d\): this version keeps them, refuses --no-batch-norm on a network without "
                       r"BatchNorm.*--config \S+/config.yaml --batch-norm --out NEW"):
        load_run_module(run)


def test_train_refuses_no_batch_norm_for_such_a_network_before_reading_its_data(tmp_path, monkeypatch, capsys):
    """It had been refused after the data were read, the run's first line printed and the flip pilots announced (a
    claims walk)."""
    import medtrain
    import medtrain.api

    monkeypatch.setattr(medtrain.api, "load_splits", lambda *a: pytest.fail("the data were read"))
    with pytest.raises(MedtrainError, match="^--no-batch-norm: squeezenet1_1 has no BatchNorm layers to remove"):
        medtrain.train({"data": str(tmp_path / "d.npz"), "model": "squeezenet1_1", "batch_norm": False,
                        "out": str(tmp_path / "r")})
    assert capsys.readouterr().out == "" and not (tmp_path / "r").exists()
