"""Inference: probabilities and saliency, checked against direct computations."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.config import RunConfig
from core.insight.inference import LOW_CONFIDENCE, predict, predict_probabilities, saliency_map
from core.runs.store import RunStore
from core.runs.supervisor import execute_run
from core.training.checkpoints import load_model
from core.training.data import build_datasets, load_arrays


def linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).eval()


def test_probabilities_are_the_softmax_of_the_logits():
    model, image = linear_model(), torch.randn(1, 1, 28, 28)
    prediction = predict(model, image)
    expected = model(image).softmax(1)[0].detach()
    assert torch.allclose(torch.tensor(prediction.probabilities), expected, atol=1e-6)
    assert sum(prediction.probabilities) == pytest.approx(1.0)
    assert prediction.label == int(expected.argmax())
    assert prediction.confidence == pytest.approx(float(expected.max()))


def test_saliency_of_a_linear_model_is_its_weight_row():
    # d logit_k / d x = W[k]: the saliency is |W[k]| scaled to a peak of 1
    model, image = linear_model(), torch.randn(1, 1, 28, 28)
    prediction = predict(model, image)
    row = model[1].weight[prediction.label].detach().abs().reshape(28, 28)
    assert torch.allclose(torch.tensor(prediction.saliency), row / row.max(), atol=1e-6)
    other = saliency_map(model, image, target=(prediction.label + 1) % 10)
    assert not torch.allclose(other, row / row.max())


def test_prediction_leaves_a_shared_model_untouched():
    model = linear_model()
    before = [p.detach().clone() for p in model.parameters()]
    predict(model, torch.randn(1, 1, 28, 28))
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_model_in_training_mode_is_refused():
    with pytest.raises(ValueError, match="eval"):
        predict(linear_model().train(), torch.zeros(1, 1, 28, 28))


def test_an_undecided_model_is_flagged_low_confidence_without_dividing_by_zero():
    model = linear_model()
    nn.init.zeros_(model[1].weight), nn.init.zeros_(model[1].bias)
    prediction = predict(model, torch.randn(1, 1, 28, 28))
    assert prediction.confidence == pytest.approx(0.1) and prediction.low_confidence
    assert prediction.confidence < LOW_CONFIDENCE
    assert all(value == 0.0 for row in prediction.saliency for value in row)


def test_a_trained_checkpoint_predicts_its_test_images(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100, epochs=3, lr=3e-3,
                                        device="cpu"))
    assert execute_run(store, run_id) == "finished"
    model = load_model(store.checkpoint_path(run_id, "best"))[0]
    test = build_datasets(load_arrays("synthetic"), 0, 0).test
    probabilities = predict_probabilities(model, test.images)
    accuracy = (probabilities.argmax(1) == test.labels).float().mean().item()
    assert accuracy == pytest.approx(store.get_run(run_id).summary.test_accuracy)
    assert accuracy > 0.9
    assert predict(model, test.images[:1]).label == int(probabilities[0].argmax())
