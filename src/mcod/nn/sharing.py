"""What the processes of a torchrun fit share beside DDP's gradients: the rows of the
whole batch and sums over the processes, as differentiable collectives, and BatchNorm over
the whole batch (`mcod.nn.distributed` uses them; each needs torch.distributed's default
group)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["SyncedBatchNorm", "all_rows", "synced_batchnorm"]


def all_rows(*parts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The rows of ``parts`` (B x d_i tensors) of every process, in rank order (MoCo's
    concat_all_gather, in one all-gather). Differentiable: each process's rows get the
    gradient that every process's loss sends them, which DDP's averaging then divides
    back, so a loss of the whole batch computed in every process trains as in one."""
    rows = _Rows.apply(torch.cat(parts, dim=1))
    return tuple(rows.split([part.shape[1] for part in parts], dim=1))


def _summed(tensor: torch.Tensor) -> torch.Tensor:
    total = tensor.clone(memory_format=torch.contiguous_format)
    dist.all_reduce(total)
    return total


class _Sum(torch.autograd.Function):
    """The sum over the processes of a tensor; the gradients are summed alike."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        return _summed(tensor)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _summed(grad)


class _Rows(torch.autograd.Function):
    """The rows of every process, in rank order; each process's rows get the sum of the
    gradients that every process sends them (gloo has no reduce-scatter: all-reduced)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rows = len(tensor)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        start = dist.get_rank() * ctx.rows
        return _summed(grad)[start:start + ctx.rows]


class SyncedBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the whole batch over all processes,
    as one process would see it: the per-process sums are added with a differentiable
    all-reduce, whose backward adds the gradients alike. torch's own SyncBatchNorm refuses
    CPU tensors; this one runs on gloo and NCCL alike. Shares its parameters and buffers
    with the BatchNorm it stands in for (`synced_batchnorm`)."""

    def __init__(self, original: _BatchNorm) -> None:
        super().__init__(original.num_features, original.eps, original.momentum,
                         original.affine, original.track_running_stats)
        self.weight, self.bias = original.weight, original.bias
        self.running_mean, self.running_var = original.running_mean, original.running_var
        self.num_batches_tracked = original.num_batches_tracked
        self.train(original.training)

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        """The running statistics, moved as BatchNorm moves them (momentum None: the
        cumulative mean, as `torch.optim.swa_utils.update_bn` sets)."""
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), factor)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or not dist.is_initialized():
            return super().forward(input)
        self._check_input_dim(input)
        channels, dims = input.shape[1], [0, *range(2, input.dim())]
        shape = (1, channels) + (1,) * (input.dim() - 2)
        count = input.numel() // channels
        mean = input.mean(dims)  # var_mean is ten times slower on CPU
        squares = (input - mean.view(shape)).pow(2).sum(dims)  # centred: no digits lost
        # this process's sums of x and x^2, in float64, where E[x^2] - E[x]^2 keeps its digits
        mean = mean.double()
        local = torch.cat([mean * count, squares.double() + mean.pow(2) * count,
                           torch.full((1,), count, dtype=torch.float64, device=input.device)])
        total = _Sum.apply(local)
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels:2 * channels] / n - mean.pow(2)).clamp_min(0)
        if self.track_running_stats:
            self._track(mean.detach(), var.detach() * n / (n - 1).clamp_min(1))
        scale = (var + self.eps).rsqrt()
        if self.affine:
            scale = scale * self.weight
        shift = (self.bias if self.affine else 0) - mean * scale
        # x * scale + shift in one pass
        return torch.addcmul(shift.to(input.dtype).view(shape), input,
                             scale.to(input.dtype).view(shape))


@contextmanager
def synced_batchnorm(module: nn.Module) -> Iterator[None]:
    """Inside, every BatchNorm of ``module`` is a `SyncedBatchNorm` on the same tensors (the
    state_dict keeps its keys and the optimiser its parameters); restored on exit."""
    swapped = [(parent, name, child) for parent in module.modules()
               for name, child in parent.named_children()
               if isinstance(child, _BatchNorm) and not isinstance(child, SyncedBatchNorm)]
    for parent, name, child in swapped:
        setattr(parent, name, SyncedBatchNorm(child))
    try:
        yield
    finally:
        for parent, name, child in swapped:
            child.train(getattr(parent, name).training)
            setattr(parent, name, child)
