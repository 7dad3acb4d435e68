"""Test metrics: loss, accuracy, per-class accuracy, confusion matrix, misclassified examples."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from core.training.data import Split


@dataclass(frozen=True)
class Misclassified:
    index: int
    label: int
    predicted: int
    confidence: float


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    per_class_accuracy: list[float]
    confusion: list[list[int]]  # confusion[true][predicted]
    misclassified: list[Misclassified]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Evaluation:
        wrong = [Misclassified(**m) for m in data["misclassified"]]
        return cls(**{**data, "misclassified": wrong})


# images a forward pass takes at a time: oneDNN runs the conv models 1.1-2.9x faster at 256 than at 1000
# on a 2-core CPU, whose caches the smaller batches fit (benchmarks.eval_batch)
EVAL_BATCH = 256


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Logits for all images, in eval mode, batch by batch."""
    model.eval()
    return torch.cat([model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def loss_and_accuracy(model: nn.Module, split: Split, batch_size: int = EVAL_BATCH) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a split."""
    loss, accuracy, _, _ = loss_accuracy_predictions(model, split, batch_size)
    return loss, accuracy


def loss_accuracy_predictions(model: nn.Module, split: Split,
                              batch_size: int = EVAL_BATCH) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """Mean cross-entropy, accuracy, the predicted class of each example (N,) and their confusion matrix."""
    logits = predict_logits(model, split.images, batch_size)
    loss = nn.functional.cross_entropy(logits, split.labels).item()
    predicted = logits.argmax(1)
    confusion = confusion_matrix(split.labels, predicted, logits.shape[1])
    return loss, (predicted == split.labels).float().mean().item(), predicted, confusion


def confusion_matrix(labels: torch.Tensor, predicted: torch.Tensor, classes: int) -> torch.Tensor:
    """(classes, classes) counts: [true][predicted]."""
    return torch.bincount(labels * classes + predicted, minlength=classes**2).reshape(classes, classes)


def evaluate(model: nn.Module, split: Split, batch_size: int = EVAL_BATCH,
             max_misclassified: int = 500) -> Evaluation:
    """Full evaluation; misclassified examples come most confident first."""
    logits = predict_logits(model, split.images, batch_size)
    labels = split.labels
    probs = logits.softmax(1)
    confidence, predicted = probs.max(1)
    confusion = confusion_matrix(labels, predicted, logits.shape[1])
    per_class = confusion.diag().float() / confusion.sum(1).clamp(min=1).float()
    wrong = (predicted != labels).nonzero().flatten()
    wrong = wrong[confidence[wrong].argsort(descending=True)][:max_misclassified]
    return Evaluation(
        loss=nn.functional.cross_entropy(logits, labels).item(),
        accuracy=(predicted == labels).float().mean().item(),
        per_class_accuracy=per_class.tolist(),
        confusion=confusion.tolist(),
        misclassified=[Misclassified(int(i), int(labels[i]), int(predicted[i]), float(confidence[i]))
                       for i in wrong.tolist()],
    )
