"""3D ResNets (Med3D/MedicalNet-compatible): registration, 28^3 inputs, and MedicalNet weight loading."""

import pytest
import torch
import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models import create_model, list_models
from medtrain.models import med3d


def test_every_depth_is_registered_in_both_families():
    names = set(list_models())
    for d in med3d.DEPTHS:
        assert f"resnet{d}_3d" in names and f"med3d_resnet{d}" in names


def test_small_input_resnet_keeps_28_cubed_in_the_first_stage():
    torch.manual_seed(0)
    m = create_model("resnet10_3d", in_chans=1, num_classes=3).eval()
    seen = {}
    m.layer1.register_forward_hook(lambda mod, i, o: seen.update(layer1=o.shape))
    m.layer4.register_forward_hook(lambda mod, i, o: seen.update(layer4=o.shape))
    with torch.no_grad():
        out = m(torch.rand(1, 1, 28, 28, 28))
    assert out.shape == (1, 3)
    assert seen["layer1"][2:] == (28, 28, 28) and seen["layer4"][2:] == (4, 4, 4)
    assert m.conv1.stride == (1, 1, 1) and m.conv1.kernel_size == (3, 3, 3) and m.no_max_pool


def test_medicalnet_architecture_shortcuts_and_stem():
    m18 = create_model("med3d_resnet18", in_chans=1, num_classes=2)
    assert m18.conv1.kernel_size == (7, 7, 7) and m18.conv1.stride == (2, 2, 2) and not m18.no_max_pool
    assert not any("downsample" in k for k in m18.state_dict())  # shortcut A: no projection weights
    m10 = create_model("med3d_resnet10", in_chans=1, num_classes=2)
    assert "layer2.0.downsample.0.weight" in m10.state_dict()
    assert "layer2.0.downsample.0.bias" not in m10.state_dict()  # MedicalNet's B has no bias
    with torch.no_grad():
        assert m10.eval()(torch.rand(1, 1, 32, 32, 32)).shape == (1, 2)


def test_bottleneck_depth_50_and_model_options():
    # widen_factor (a MONAI option) keeps the test fast; the block layout is the real ResNet-50's
    m = create_model("resnet50_3d", in_chans=2, num_classes=4, dropout=0.5, widen_factor=0.25)
    assert m.fc.in_features == 512 and m.drop_rate == 0.5 and len(m.layer3) == 6
    with torch.no_grad():
        assert m.eval()(torch.rand(1, 2, 12, 12, 12)).shape == (1, 4)
    nobn = create_model("resnet10_3d", in_chans=1, num_classes=2, batch_norm=False)
    assert not any(isinstance(x, nn.BatchNorm3d) for x in nobn.modules())
    a = create_model("resnet10_3d", in_chans=1, num_classes=2, shortcut_type="A")
    assert not any("downsample" in k for k in a.state_dict())
    with pytest.raises(MedtrainError, match="drop_path"):
        create_model("resnet10_3d", drop_path=0.1)
    with pytest.raises(MedtrainError, match="shortcut_type"):
        create_model("resnet10_3d", shortcut_type="C")


def _fake_medicalnet(tmp_path, depth=10, seed=0):
    """A checkpoint laid out as MedicalNet's: DataParallel names, a segmentation head, no classifier."""
    torch.manual_seed(seed)
    src = med3d.build_resnet3d(depth, 1, 2, small_input=False)
    sd = {f"module.{k}": v for k, v in src.state_dict().items() if not k.startswith("fc.")}
    sd["module.conv_seg.0.weight"] = torch.zeros(32, 512, 3, 3, 3)
    path = tmp_path / f"resnet_{depth}.pth"
    torch.save({"state_dict": sd}, path)
    return src, path


def test_medicalnet_checkpoint_loads_and_reports_missing_and_unexpected(tmp_path):
    src, path = _fake_medicalnet(tmp_path)
    dst = create_model("med3d_resnet10", in_chans=1, num_classes=5)
    rep = med3d.load_medicalnet_weights(dst, path)
    assert "conv_seg.0.weight" in rep.unexpected
    assert set(rep.missing) == {"fc.weight", "fc.bias"}
    assert not rep.mismatched
    for k, v in src.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(dst.state_dict()[k], v), k


def test_multichannel_model_gets_the_stem_repeated_over_channels(tmp_path):
    src, path = _fake_medicalnet(tmp_path)
    dst = create_model("med3d_resnet10", in_chans=3, num_classes=2)
    rep = med3d.load_medicalnet_weights(dst, path)
    assert rep.adapted == ["conv1.weight"]
    src.fc = dst.fc
    src.eval(), dst.eval()
    x = torch.rand(1, 1, 32, 32, 32)
    with torch.no_grad():
        assert torch.allclose(dst(x.repeat(1, 3, 1, 1, 1)), src(x), atol=1e-5)


def test_small_input_model_skips_the_7_cubed_stem_and_says_so(tmp_path):
    _, path = _fake_medicalnet(tmp_path)
    dst = create_model("resnet10_3d", in_chans=1, num_classes=2, shortcut_type="B")
    rep = med3d.load_medicalnet_weights(dst, path)
    assert ("conv1.weight", (64, 1, 7, 7, 7), (64, 1, 3, 3, 3)) in rep.mismatched
    with pytest.raises(MedtrainError, match="does not fit"):
        med3d.load_medicalnet_weights(dst, path, strict=True)


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_checkpoints_are_read_with_weights_only(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"module.conv1.weight": torch.zeros(1)}, "x": _Evil()}, path)
    m = create_model("med3d_resnet10", in_chans=1)
    with pytest.raises(MedtrainError, match="evil.pth"):
        med3d.load_medicalnet_weights(m, path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(MedtrainError, match="junk.pth"):
        med3d.load_medicalnet_weights(m, tmp_path / "junk.pth")
    with pytest.raises(MedtrainError, match="not found"):
        med3d.load_medicalnet_weights(m, tmp_path / "absent.pth")


def test_offline_without_cached_weights_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    def offline(url, dest):
        raise OSError("network unreachable")

    monkeypatch.setattr(med3d, "_download", offline)
    with pytest.raises(MedtrainError) as e:
        med3d.download_medicalnet(18, data_dir=tmp_path)
    msg = str(e.value)
    assert "resnet_18.pth" in msg and med3d.MEDICALNET_URLS[18] in msg
    assert str(tmp_path / "weights" / "resnet_18.pth") in msg
    assert "\n" not in msg


def test_cached_weights_are_used_without_download_and_by_name(tmp_path, monkeypatch):
    src, path = _fake_medicalnet(tmp_path)
    monkeypatch.setattr(med3d, "_download", lambda url, dest: pytest.fail("must not download"))
    (tmp_path / "weights").mkdir()
    path = path.rename(tmp_path / "weights" / path.name)
    assert med3d.download_medicalnet(10, data_dir=tmp_path) == path
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "data"))
    (tmp_path / "data" / "weights").mkdir(parents=True)
    path.rename(tmp_path / "data" / "weights" / "resnet_10.pth")
    m = create_model("med3d_resnet10", in_chans=1, num_classes=2, weights="medicalnet")
    assert torch.equal(m.conv1.weight, src.conv1.weight)


def test_download_writes_the_file_through_the_downloader(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()
    src, path = _fake_medicalnet(tmp_path / "src")
    calls = []

    def fake(url, dest):
        calls.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(path.read_bytes())

    monkeypatch.setattr(med3d, "_download", fake)
    got = med3d.download_medicalnet(10, data_dir=tmp_path / "cache")
    assert got == tmp_path / "cache" / "weights" / "resnet_10.pth" and got.is_file()
    assert calls == [med3d.MEDICALNET_URLS[10]]


def test_monai_is_imported_only_when_a_3d_network_is_built():
    """Importing MONAI costs ~2 s of every command; a 2D run, `--help` and `import medtrain` do not pay it.

    The child records every attempt to load MONAI (and fails it, instead of paying for it: building 3D
    networks with MONAI is what the other tests here do), so an attempt that the code swallows counts too."""
    import subprocess
    import sys

    code = ("import importlib.abc, importlib.util, sys\n"
            "tried = []\n"
            "class NoMonai(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        return importlib.util.spec_from_loader(name, self) if name.split('.')[0] == 'monai' else None\n"
            "    def create_module(self, spec):\n"
            "        return None\n"
            "    def exec_module(self, module):\n"
            "        tried.append(module.__name__)\n"
            "        raise ImportError('MONAI blocked by the test')\n"
            "sys.meta_path.insert(0, NoMonai())\n"
            "import medtrain, medtrain.api, medtrain.cli\n"
            "from medtrain.models import create_model, list_models\n"
            "assert 'med3d_resnet10' in list_models()\n"
            "create_model('resnet18_28_half', in_chans=1, num_classes=2)\n"
            "assert not tried and 'monai' not in sys.modules, f'monai imported before any 3D network: {tried}'\n"
            "try:\n"
            "    create_model('med3d_resnet10', in_chans=1, num_classes=2)\n"
            "except Exception:\n"
            "    pass\n"
            "assert tried == ['monai'], f'building a 3D network must import monai, tried {tried}'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
