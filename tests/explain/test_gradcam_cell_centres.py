"""Grad-CAM draws each cell of its coarse map where that cell looks (walk 'explain', finding 1).

MONAI's default upsampler (``F.interpolate``, ``align_corners=False``) drew cell ``j`` of the 7x7 map of a 28 px
input centred on pixel ``4j + 1.5``; a ResNet cell's receptive field is centred on about ``4j`` (stride-2
convolutions padded by ``k//2``), so every Grad-CAM map lay ~1.5 px down and to the right of the evidence. A map
whose only hot cell is (3, 3) must peak on that cell's receptive-field centre, in 2D and 3D."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medtrain.explain import LogitNet, explain
from medtrain.explain._upsample import cell_centre_upsampler, cell_centres
from medtrain.runmodel import untrained_run_model

pytestmark = pytest.mark.usefixtures("one_thread")

HOT = 3  #: the hot cell (HOT, HOT) of the 7x7 layer3 map of a 28 px input


def receptive_centre(net: nn.Module, layer: nn.Module, shape, cell) -> np.ndarray:
    """Where ``cell`` of ``layer``'s output looks: the |gradient|-weighted centre, over a constant input, of its
    summed activation (the network in eval mode)."""
    seen = []
    handle = layer.register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.full((1, *shape), 0.5, requires_grad=True)
    net.eval()(x)
    handle.remove()
    (g,) = torch.autograd.grad(seen[0][(0, slice(None), *cell)].sum(), x)
    w = g[0].abs().sum(0).double().numpy()
    return np.array([(idx * w).sum() / w.sum() for idx in np.indices(w.shape)])


def peak_and_mass_centre(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.array(np.unravel_index(np.argmax(m), m.shape)),
            np.array([(idx * m).sum() / m.sum() for idx in np.indices(m.shape)]))


def test_a_one_cell_gradcam_map_peaks_on_that_cells_receptive_field_centre(monkeypatch):
    from monai.visualize import GradCAM

    run = untrained_run_model("resnet10_28_half", num_classes=2, input_size=28)

    def one_hot_cell(self, x, class_idx=None, retain_graph=False, layer_idx=-1, **kwargs):
        m = torch.zeros(len(x), 1, 7, 7)
        m[:, :, HOT, HOT] = 1.0
        return m

    monkeypatch.setattr(GradCAM, "compute_map", one_hot_cell)
    x = np.random.default_rng(0).integers(0, 256, (2, 1, 28, 28)).astype(np.uint8)
    res = explain(run, x, method="gradcam", layer="layer3")

    net = LogitNet(run)
    centre = receptive_centre(net, net.model.layer3, run.input_shape, (HOT, HOT))
    # the network's geometry: two stride-2 stages, output j over input 4j (MONAI had drawn it at 4j + 1.5)
    assert np.all(np.abs(centre - 4 * HOT) < 1.0), centre
    for m in res.maps:
        peak, mass = peak_and_mass_centre(m)
        assert np.all(np.abs(peak - centre) <= 0.5 + 1e-9), (peak, centre)  # the nearest pixel to the centre
        assert np.all(np.abs(mass - centre) < 0.5), (mass, centre)


def test_a_volume_cell_is_drawn_trilinearly_on_its_receptive_field_centre():
    """Known geometry: two 3x3x3 stride-2 convolutions padded by 1 of equal weights put output cell j over input
    4j exactly (away from the border, whose cells' fields the padding cuts); the hot cell's map peaks there and
    falls off linearly to the neighbouring cells' centres."""
    net = nn.Sequential(nn.Conv3d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.Conv3d(2, 2, 3, stride=2, padding=1))
    with torch.no_grad():
        for conv in (net[0], net[2]):
            conv.weight.fill_(0.1)
            conv.bias.fill_(0.1)
    shape = (1, 16, 16, 16)  # a 4x4x4 map
    centres = cell_centres(net, "2", shape)
    assert centres is not None and [len(c) for c in centres] == [4, 4, 4]
    for c in centres:
        np.testing.assert_allclose(c[1:3], [4.0, 8.0], atol=1e-6)  # interior cells: 4j
    hot = torch.zeros(1, 1, 4, 4, 4)
    hot[0, 0, 2, 2, 2] = 1.0
    m = cell_centre_upsampler(net, "2", shape)((16, 16, 16))(hot)[0, 0].numpy()
    assert m.shape == (16, 16, 16)
    peak, mass = peak_and_mass_centre(m)
    np.testing.assert_array_equal(peak, [8, 8, 8])
    np.testing.assert_allclose(mass, [8, 8, 8], atol=0.5)
    assert m[8, 8, 8] == pytest.approx(1.0) and m[6, 8, 8] == pytest.approx(0.5) and m[8, 8, 4] == pytest.approx(0.0)


def test_a_layer_whose_cells_cannot_be_located_keeps_monais_upsampling():
    """No spatial map (a flattened output): MONAI's default upsampler, as before."""
    from monai.visualize.visualizer import default_upsampler

    net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.Flatten())
    assert cell_centres(net, "1", (1, 8, 8)) is None
    assert cell_centre_upsampler(net, "1", (1, 8, 8)) is default_upsampler
