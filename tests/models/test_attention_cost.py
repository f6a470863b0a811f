"""A transformer's cost counts self-attention's q·kᵀ and attn·v products, as torch's own counter does."""
import torch
import torch.nn as nn
from timm.models.swin_transformer import SwinTransformer
from torch.utils.flop_counter import FlopCounterMode

from medtrain.models.cost import count_cost, macs_per_image
from medtrain.models.factory import create_model


def _explicit_attention(model: nn.Module) -> nn.Module:
    """timm's math path (q @ k^T, attn @ v), which FlopCounterMode sees; its fused CPU kernel it does not."""
    for m in model.modules():
        if hasattr(m, "fused_attn"):
            m.fused_attn = False
    return model


def _torch_macs(model: nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


def test_vit_cost_adds_two_n_squared_attention_products_per_block_and_matches_torch_counter():
    model = _explicit_attention(create_model("vit_tiny_patch16_224", in_chans=3, num_classes=2, input_size=32)).eval()
    r = count_cost(model, 32, 3)
    tokens, dim, blocks = 2 * 2 + 1, 192, 12  # 32 px / 16 px patches + the class token
    conv_linear = sum(x.macs for x in r.layers if x.kind != "attention")
    assert r.macs_by_kind["attention"] == blocks * 2 * tokens**2 * dim
    assert r.macs == conv_linear + blocks * 2 * tokens**2 * dim
    assert r.macs == _torch_macs(model, torch.zeros(1, 3, 32, 32))
    assert macs_per_image("vit_tiny_patch16_224", 3, 2, (32, 32)) == r.macs  # the meta-device count says the same


def test_swin_window_attention_counts_every_window_and_matches_torch_counter():
    # 28 px, 2 px patches: 14 x 14 tokens in 4 windows of 7 x 7 in the first stage, one window after merging
    model = _explicit_attention(SwinTransformer(img_size=28, patch_size=2, in_chans=1, num_classes=2, embed_dim=16,
                                                depths=(1, 1), num_heads=(2, 4), window_size=7)).eval()
    r = count_cost(model, 28, 1)
    assert r.macs_by_kind["attention"] == 4 * 2 * 49**2 * 16 + 1 * 2 * 49**2 * 32
    assert r.macs == _torch_macs(model, torch.zeros(1, 1, 28, 28))


def test_multihead_attention_counts_its_projections_and_products_like_torch_counter():
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            x = x.flatten(2).transpose(1, 2)
            return self.attn(x, x, x)[0]

    model = Tokens()
    r = count_cost(model, 5, 16)
    n, e = 25, 16
    assert r.macs_by_kind == {"linear": 4 * n * e * e, "attention": 2 * n * n * e}
    assert r.macs == _torch_macs(model.train(), torch.zeros(1, 16, 5, 5))  # train: the math path torch can count


def test_convolutional_network_cost_is_unchanged():
    assert macs_per_image("resnet18_28_half", 1, 2, (28, 28)) == 123_119_104


def test_attention_of_other_shapes_is_measured_not_assumed():
    # CoaT's factorised attention (kᵀv, C x C) had been counted as 2 N^2 C: 4.44 G MACs for CoaT-Lite Tiny at
    # 224 px, 2.8x its published 1.6 G; PVT's attention over a reduced map and LeViT's (attention biases, a qkv
    # that is no nn.Linear) had been left out. Each now equals torch's own counter on the math path.
    import timm

    for name, kwargs, size in (("coat_lite_tiny", {"img_size": 64}, 64), ("pvt_v2_b0", {}, 64),
                               ("levit_128s", {"img_size": 64}, 64)):
        with torch.device("meta"):  # shapes only: nothing is allocated or computed
            model = _explicit_attention(timm.create_model(name, num_classes=2, **kwargs)).eval()
        r = count_cost(model, size, 3)
        assert r.macs == _torch_macs(model, torch.zeros(1, 3, size, size, device="meta")), name
        attention = [x for x in r.layers if x.kind == "attention"]
        assert attention and all(x.macs > 0 for x in attention), name
        if name == "coat_lite_tiny":  # linear in the tokens: well under the N^2 products a formula had counted
            tokens = (size // 4) ** 2 + 1  # the first stage's 4 px patches and the class token
            first = attention[0]
            assert first.macs < 2 * tokens ** 2 * first.in_channels / 4


def test_the_fused_cpu_attention_kernel_is_counted_as_its_math_path():
    # timm's default path on this CPU is scaled_dot_product_attention's fused kernel, which torch's counter misses
    model = create_model("vit_tiny_patch16_224", in_chans=3, num_classes=2, input_size=32).eval()
    fused, missed = count_cost(model, 32, 3).macs, _torch_macs(model, torch.zeros(1, 3, 32, 32))
    assert fused - missed == 12 * 2 * 5 ** 2 * 192  # the twelve blocks' products
    assert fused == count_cost(_explicit_attention(model), 32, 3).macs


def test_a_network_torchs_counter_fails_on_is_counted():
    # torch's FlopCounterMode (its module tracker) fails on CaiT's class attention under no_grad; a first measured
    # count built on it had ended `medtrain cost cait_xxs24_224` in that AssertionError
    import timm

    with torch.device("meta"):
        model = timm.create_model("cait_xxs24_224", img_size=64, num_classes=2).eval()
    r = count_cost(model, 64, 3)
    rows = [x for x in r.layers if x.kind == "attention"]
    assert len(rows) == 24 + 2 and all(x.macs > 0 for x in rows)  # 24 self-attention blocks, 2 class-attention


def test_attention_rows_are_counted_inside_a_meta_device_context_and_a_block_adds_no_empty_row():
    # a 4-D attention input's tokens had been a torch product, a meta tensor under torch.device("meta") (its .item()
    # failed); a block holding its attention module (DaViT's SpatialBlock, an integer num_heads) added rows of 0 MACs
    import timm

    with torch.device("meta"):
        r = count_cost(timm.create_model("levit_conv_128s", img_size=64, num_classes=2).eval(), 64, 3)
        assert r.macs_by_kind["attention"] > 0
        davit = count_cost(timm.create_model("davit_tiny", num_classes=2).eval(), 224, 3)
    rows = [x for x in davit.layers if x.kind == "attention"]
    assert rows and all(x.macs > 0 for x in rows)
