"""MC dropout (Gal & Ghahramani, ICML 2016): dropout sampled at test time, batch norm left alone."""
import pytest
import torch
import torch.nn as nn

from medtrain.errors import MedtrainError
from medtrain.models.layers import (
    AnnealedDropout,
    DropConnectLinear,
    StandoutLinear,
    mc_dropout_mode,
    mc_predict,
    predictive_entropy,
    uncertainty_report,
)

MULTICLASS, MULTILABEL = "multi-class", "multi-label, binary-class"


def small_cnn(p=0.5, num_classes=3):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(p),
        nn.Linear(4, num_classes),
    )


@pytest.fixture
def images():
    torch.manual_seed(0)
    return torch.randn(6, 1, 8, 8)


def test_with_p_zero_all_passes_equal_the_deterministic_prediction(images):
    model = small_cnn(p=0.0).eval()
    expected = model(images).softmax(1)
    pred = mc_predict(model, images, T=5, task=MULTICLASS, return_samples=True)
    assert pred.samples.shape == (5, 6, 3)
    for sample in pred.samples:
        torch.testing.assert_close(sample, expected)
    torch.testing.assert_close(pred.probs, expected)
    torch.testing.assert_close(pred.entropy, -(expected * expected.log()).sum(1))
    torch.testing.assert_close(pred.mutual_info, torch.zeros(6), atol=1e-6, rtol=0)


def test_dropout_is_sampled_but_batch_norm_stays_in_evaluation_mode(images):
    torch.manual_seed(0)
    model = small_cnn(p=0.5)
    model.train()
    model(images * 3 + 1)  # give batch norm running statistics that differ from the test batch's
    model.eval()
    stats = model[1].running_mean.clone()
    seen = []
    model[1].register_forward_pre_hook(lambda m, _: seen.append(m.training))
    pred = mc_predict(model, images, T=8, task=MULTICLASS, return_samples=True)
    assert seen == [False] * 8
    assert torch.equal(model[1].running_mean, stats)  # no statistics updated
    assert not torch.allclose(pred.samples[0], pred.samples[1])  # dropout did sample
    assert (pred.mutual_info > 0).any()


@pytest.mark.parametrize("train", [True, False])
def test_every_module_mode_is_restored(images, train):
    model = small_cnn().train(train)
    model[3].train(not train)  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    mc_predict(model, images, T=2, task=MULTICLASS)
    assert [m.training for m in model.modules()] == before


def test_modes_are_restored_when_the_model_fails(images):
    model = small_cnn().train()
    with pytest.raises(RuntimeError):
        mc_predict(model, images[:, :, :2, :2].expand(6, 2, 2, 2), T=2, task=MULTICLASS)  # wrong channels
    assert all(m.training for m in model.modules())


def test_enables_medtrain_dropout_layers_and_nothing_else():
    model = nn.Sequential(
        AnnealedDropout(0.5, 10), StandoutLinear(4, 4), nn.BatchNorm1d(4), DropConnectLinear(4, 4), nn.Dropout2d(0.1)
    )
    with mc_dropout_mode(model) as enabled:
        assert [type(m) for m in enabled] == [AnnealedDropout, StandoutLinear, DropConnectLinear, nn.Dropout2d]
        assert not model[2].training and not model[1].activation.training and not model.training


def test_multi_label_uses_sigmoid_and_sums_binary_entropies(images):
    model = small_cnn(p=0.0, num_classes=4).eval()
    pred = mc_predict(model, images, T=2, task=MULTILABEL, batch_size=4)
    p = torch.sigmoid(model(images))
    torch.testing.assert_close(pred.probs, p)
    torch.testing.assert_close(pred.entropy, -(p * p.log() + (1 - p) * (1 - p).log()).sum(1))


def test_batching_gives_the_same_result(images):
    model = small_cnn(p=0.0).eval()
    whole = mc_predict(model, images, T=2, task=MULTICLASS)
    chunked = mc_predict(model, images, T=2, task=MULTICLASS, batch_size=4)
    torch.testing.assert_close(whole.probs, chunked.probs)


@pytest.mark.parametrize("head", [nn.Dropout(0.5), DropConnectLinear(4, 4, p=0.5, mask="batch")])
def test_seeded_masks_give_an_image_the_same_prediction_in_any_batch(images, head):
    # a user predicting one image expects the number the run reported for it among 600 others
    model = nn.Sequential(*list(small_cnn())[:5], head, nn.Linear(4, 3)).eval()
    whole = mc_predict(model, images, T=6, task=MULTICLASS, seed=3, return_samples=True)
    alone = mc_predict(model, images[2:3], T=6, task=MULTICLASS, seed=3)
    shuffled = mc_predict(model, images.flip(0), T=6, task=MULTICLASS, seed=3, batch_size=4)
    torch.testing.assert_close(alone.probs[0], whole.probs[2], rtol=0, atol=1e-6)
    torch.testing.assert_close(shuffled.probs.flip(0), whole.probs, rtol=0, atol=1e-6)
    # the T passes are still T draws (a batch-shared mask must not make them one), and the seed matters
    assert (whole.samples[:, 2] - whole.samples[0, 2]).abs().amax() > 1e-3
    other = mc_predict(model, images[2:3], T=6, task=MULTICLASS, seed=4)
    assert (other.probs - alone.probs).abs().amax() > 1e-4


def test_refuses_a_model_without_dropout_modules(images):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    with pytest.raises(MedtrainError, match="no dropout modules"):
        mc_predict(model, images, T=3, task=MULTICLASS)


@pytest.mark.parametrize(
    "kwargs, message", [(dict(T=0), "T >= 1"), (dict(task="multiclass"), "did you mean multi-class")]
)
def test_rejects_bad_arguments(images, kwargs, message):
    with pytest.raises(MedtrainError, match=message):
        mc_predict(small_cnn(), images, **(dict(T=2, task=MULTICLASS) | kwargs))


def test_predictive_entropy_is_maximal_for_uniform_probabilities():
    h = predictive_entropy(torch.tensor([[0.25] * 4, [1.0, 0, 0, 0]]), sigmoid=False)
    torch.testing.assert_close(h, torch.tensor([torch.log(torch.tensor(4.0)).item(), 0.0]))


def test_uncertainty_report_compares_the_most_uncertain_fraction_with_the_rest():
    # Ten images; the two with the highest entropy are both wrong, one of the other eight is.
    probs = torch.tensor([[0.9, 0.1]] * 8 + [[0.4, 0.6]] * 2)
    labels = torch.tensor([0] * 7 + [1] + [0, 0])
    entropy = torch.tensor([0.1] * 8 + [0.9, 0.8])
    report = uncertainty_report(probs, entropy, labels, MULTICLASS, frac=0.2)
    assert report == {
        "frac": 0.2,
        "n_uncertain": 2,
        "n_rest": 8,
        "error_uncertain": 1.0,
        "error_rest": 0.125,
        "error_all": 0.3,
        "entropy_threshold": pytest.approx(0.8),
    }


def test_uncertainty_report_multi_label_error_is_the_fraction_of_wrong_labels():
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.9], [0.2, 0.2], [0.1, 0.1]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    report = uncertainty_report(probs, torch.tensor([0.0, 1.0, 0.1, 0.0]), labels, MULTILABEL, frac=0.25)
    assert report["error_uncertain"] == 1.0 and report["error_rest"] == 0.0 and report["error_all"] == 0.25


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.5])
def test_uncertainty_report_rejects_bad_fractions(frac):
    with pytest.raises(MedtrainError, match="frac"):
        uncertainty_report(torch.rand(4, 2), torch.rand(4), torch.zeros(4), MULTICLASS, frac=frac)
