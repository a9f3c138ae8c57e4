"""The zoo's architectures: registered, right output shape on their input size, parameter
counts as published (Keras zoo table, An et al. 2020), and the small ones learn."""

from __future__ import annotations

import pytest
import torch

from digitkit.models import build_model, count_params, get_spec
from digitkit.train.recipes import get_recipe

# Trainable parameters. The Keras zoo reports MobileNet 3.23 M, VGG16 14.9 M, ResNet-164
# 1.72 M and WRN-28-10 36.5 M; ours agree to the reported precision.
PARAMS = {
    "mobilenet": 3_227_594,
    "vgg16": 14_921_674,
    "resnet164": 1_715_530,
    "wrn-28-10": 36_489_002,
    "resnet-small": 695_658,
    "simplecnn-m3": 1_124_180,
    "simplecnn-m5": 1_128_180,
    "simplecnn-m7": 2_291_972,
}
PUBLISHED_M = {"mobilenet": 3.23, "vgg16": 14.9, "resnet164": 1.72, "wrn-28-10": 36.5}
SMALL = ("resnet-small", "simplecnn-m3", "simplecnn-m5", "simplecnn-m7")


@pytest.fixture(scope="module", params=list(PARAMS))
def model_and_spec(request):
    torch.manual_seed(0)
    spec = get_spec(request.param)
    return request.param, spec, build_model(request.param)


def test_parameter_count(model_and_spec):
    name, _, model = model_and_spec
    assert count_params(model) == PARAMS[name]
    if name in PUBLISHED_M:
        assert count_params(model) / 1e6 == pytest.approx(PUBLISHED_M[name], rel=0.005)


def test_forward_shape_on_its_input_size(model_and_spec):
    name, spec, model = model_and_spec
    size = 28 + 2 * spec.input_pad
    model.eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 1, size, size))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_spec_metadata(model_and_spec):
    name, spec, _ = model_and_spec
    recipe = get_recipe(spec.recipe)
    if name in PUBLISHED_M:
        assert spec.input_pad == 2 and spec.normalization == "per-image"
        assert recipe.augment == "keras-zoo" and recipe.schedule == "plateau"
        assert recipe.epochs == 200 and recipe.batch_size == 64
    if name.startswith("simplecnn"):
        assert spec.input_pad == 0 and spec.normalization == "symmetric"
        assert (recipe.optimizer, recipe.lr, recipe.schedule, recipe.gamma) == (
            "adam",
            1e-3,
            "exponential",
            0.98,
        )
        assert (recipe.ema, recipe.batch_size, recipe.epochs) == (0.999, 120, 150)
        assert recipe.augment == "simplecnn"


@pytest.mark.parametrize("name", SMALL)
def test_one_training_batch_lowers_the_loss(name):
    torch.manual_seed(0)
    model = build_model(name)
    x = torch.randn(10, 1, 28, 28)
    y = torch.arange(10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # Each step on the same batch: the last loss is below the first.
    assert losses[-1] < losses[0]


def test_depth_validation():
    with pytest.raises(ValueError):
        build_model("resnet164", depth=100)
    with pytest.raises(ValueError):
        build_model("wrn-28-10", depth=27)
    assert count_params(build_model("wrn-28-10", depth=16, widen=1)) < 200_000


@pytest.mark.parametrize("name", ["simplecnn-m3", "simplecnn-m5", "simplecnn-m7"])
def test_simple_cnns_scale_in_width_for_the_cpu(name):
    # --arch width=0.5: the same depth and receptive field with half the channels, about a
    # quarter of the multiply-adds (a CPU-sized ensemble member, issue 15).
    full, half = build_model(name), build_model(name, width=0.5)
    convs = [m for m in full.modules() if isinstance(m, torch.nn.Conv2d)]
    halved = [m for m in half.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels // 2 for c in convs] == [c.out_channels for c in halved]
    assert half(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="width"):
        build_model(name, width=0)
