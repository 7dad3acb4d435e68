"""`python -m core test`: a checkpoint's accuracy on the test set, per class, and a few samples."""
from __future__ import annotations

import argparse

import torch

from core.training.checkpoints import load_model
from core.training.data import DEFAULT_DATA_DIR, Split, build_datasets, load_arrays
from core.training.evaluation import evaluate


def register(commands: argparse._SubParsersAction) -> None:
    test = commands.add_parser("test", help="evaluate a checkpoint on the MNIST test set")
    test.add_argument("--checkpoint", required=True)
    test.add_argument("--batch-size", type=int, default=1000)
    test.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    test.add_argument("--show-samples", type=int, default=10)
    test.set_defaults(handler=command_test)


def command_test(args: argparse.Namespace) -> int:
    model, config, checkpoint = load_model(args.checkpoint)
    arrays = load_arrays(config.dataset, args.data_dir)
    test = build_datasets(arrays, 0, config.seed).test
    result = evaluate(model, test, batch_size=args.batch_size)
    print(f"checkpoint: {args.checkpoint} (model {config.model}, epoch {checkpoint['epoch']})")
    print(f"test loss {result.loss:.4f}, accuracy {result.accuracy:.2%} "
          f"({round(result.accuracy * len(test))}/{len(test)})")
    print("per-class accuracy:")
    for digit, accuracy in enumerate(result.per_class_accuracy):
        print(f"  {digit}: {accuracy:.2%}")
    if args.show_samples:
        print_samples(model, test, args.show_samples)
    return 0


def print_samples(model: torch.nn.Module, test: Split, count: int) -> None:
    with torch.no_grad():
        probs = model(test.images[:count]).softmax(1)
    print(f"first {count} test images:")
    for i, (p, label) in enumerate(zip(probs, test.labels[:count].tolist())):
        predicted = int(p.argmax())
        mark = "ok" if predicted == label else "WRONG"
        print(f"  #{i}: true {label}, predicted {predicted} ({float(p[predicted]):.1%}) {mark}")
