"""Adam and AdamW as torch.optim has them, without its import of torch._dynamo.

Every torch.optim optimizer imports torch._dynamo when it is built and when it steps: 1.1-1.6 s
of a 2-core CPU, about an eighth of the `fast-99` preset's whole process (benchmarks.fast99_process).
This one keeps torch.optim.Adam's arithmetic on a CPU (its default there: a loop over the
parameters, no amsgrad), so training is the same to the bit; it runs each operation over all the
parameters at once (torch._foreach_*), and keeps torch's state_dict layout, so checkpoints load
into either. It is a torch.optim.Optimizer to the learning-rate schedulers. tests/test_adam.py
holds it to torch.optim.Adam's and AdamW's trajectories.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import torch

# torch.optim.Adam settings this class does not implement: a state dict that turns one on is refused
UNSUPPORTED = ("amsgrad", "maximize", "capturable", "differentiable", "fused")


class Adam(torch.optim.Optimizer):
    """torch.optim.Adam (AdamW with decoupled_weight_decay=True) for a list of tensors: no param-group
    dicts, no amsgrad, no step or state_dict hooks."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled_weight_decay: bool = False):
        # Optimizer.__init__ is left out on purpose: it imports torch._dynamo
        self.defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": False,
                         "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                         "fused": None, "decoupled_weight_decay": decoupled_weight_decay}
        self.state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)
        params = list(params)
        if not params or not all(isinstance(param, torch.Tensor) for param in params):
            raise TypeError("Adam takes a non-empty list of tensors (model.parameters()), not parameter groups")
        self.param_groups = [{"params": params, **self.defaults}]

    def __setstate__(self, state: dict[str, Any]) -> None:
        # torch's would patch the class's step for hooks this class does not have (a deepcopy calls it)
        self.__dict__.update(state)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad.detach_().zero_()

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                _update(group, [param for param in group["params"] if param.grad is not None], self.state)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: parameters by their index, across groups; the state's tensors not copied."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            index.update({id(p): i for i, p in enumerate(group["params"], len(index)) if id(p) not in index})
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": [index[id(p)] for p in group["params"]]})
        return {"state": {index[id(p)]: state for p, state in self.state.items()}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A state_dict from this class or torch.optim.Adam/AdamW for the same parameters."""
        saved_groups = state_dict["param_groups"]
        if [len(g["params"]) for g in saved_groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError("loaded state dict has a different number of parameters or parameter groups")
        unsupported = sorted({key for g in saved_groups for key in UNSUPPORTED if g.get(key)})
        if unsupported:
            raise ValueError(f"loaded state dict uses {', '.join(unsupported)}, which this Adam does not do")
        self.state = defaultdict(dict)
        for group, saved in zip(self.param_groups, saved_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
            for param, index in zip(group["params"], saved["params"]):
                if index in state_dict["state"]:
                    self.state[param] = {k: _placed(k, v, param) for k, v in state_dict["state"][index].items()}


def _placed(key: str, value: Any, param: torch.Tensor) -> Any:
    """A loaded state value on its parameter's device and dtype; the step count stays a CPU float tensor."""
    if key == "step" or not isinstance(value, torch.Tensor):
        return value
    return value.to(dtype=param.dtype, device=param.device)


def _update(group: dict[str, Any], params: list[torch.Tensor], state: defaultdict) -> None:
    """One Adam step for these parameters, in torch.optim.Adam's order of operations."""
    if not params:
        return
    states = [_state_of(param, state) for param in params]
    grads = [param.grad for param in params]
    exp_avgs, exp_avg_sqs = [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]
    (beta1, beta2), lr, weight_decay = group["betas"], group["lr"], group["weight_decay"]
    steps = [s["step"] for s in states]
    torch._foreach_add_(steps, 1)
    if weight_decay != 0 and group["decoupled_weight_decay"]:
        torch._foreach_mul_(params, 1 - lr * weight_decay)
    elif weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    counts = [step.item() for step in steps]  # a parameter that had no gradient some steps counts fewer
    denominators = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denominators, [(1 - beta2 ** count) ** 0.5 for count in counts])
    torch._foreach_add_(denominators, group["eps"])
    torch._foreach_addcdiv_(params, exp_avgs, denominators, [-(lr / (1 - beta1 ** count)) for count in counts])


def _state_of(param: torch.Tensor, state: defaultdict) -> dict[str, Any]:
    """A parameter's step count and moments, made on its first step as torch.optim.Adam makes them."""
    kept = state[param]
    if not kept:
        float64 = torch.get_default_dtype() == torch.float64
        kept["step"] = torch.tensor(0.0, dtype=torch.float64 if float64 else torch.float32)
        kept["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        kept["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    return kept
