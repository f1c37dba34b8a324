"""A float64 network traced into operations that onnxruntime computes in float64.

onnxruntime's CPU build has no float64 Conv, AveragePool or GlobalAveragePool, and its
BatchNormalization holds epsilon as a float32 attribute. While `float64_operations` is
active, torch computes those layers from operations it has float64 kernels for, so that
an exported model of ``image_float64`` (`mcod.export`) runs in float64 throughout:

- a convolution: the sum over the kernel's taps of a strided slice of the padded input
  times that tap's weights (a product per channel for a depthwise convolution, else a
  matmul over the group's input channels);
- average pooling over whole cells, and adaptive pooling to one cell: a mean;
- BatchNorm in eval mode: ``(x - mean) * weight / sqrt(var + eps) + bias``, eps a float64
  constant.

The results equal torch's own float64 layers to ~1e-15 (another order of summation).
What it cannot rewrite (string paddings, overlapping pools, BatchNorm in training mode)
raises ValueError; `check_float64_graph` refuses a graph that still holds what onnxruntime
cannot run in float64 (a layer of another encoder, such as a timm model's GELU).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = ["check_float64_graph", "float64_operations"]

# what onnxruntime 1.x cannot run in float64, or (BatchNormalization's float32 epsilon)
# not exactly; where onnxruntime is installed, opening the graph finds any other
_NOT_FLOAT64 = frozenset({"Conv", "ConvTranspose", "AveragePool", "GlobalAveragePool",
                          "BatchNormalization", "InstanceNormalization", "Erf",
                          "HardSigmoid", "Resize"})


def _pair(value: int | tuple[int, ...] | list[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if len(value) == 1:
        return value[0], value[0]
    return value[0], value[1]


def _conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
            stride: Any = 1, padding: Any = 0, dilation: Any = 1,
            groups: int = 1) -> torch.Tensor:
    """``F.conv2d`` as a sum over the kernel's taps of slices times weights."""
    if isinstance(padding, str):
        raise ValueError(f"float64 export: convolution padding {padding!r} is not covered")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    x = F.pad(input, (pw, pw, ph, ph)) if ph or pw else input
    n, channels, h, w = x.shape
    out_channels, per_group, kh, kw = weight.shape
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    depthwise = groups == channels == out_channels and per_group == 1
    out: torch.Tensor | None = None
    for i in range(kh):
        for j in range(kw):
            tap = x[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                    j * dw:j * dw + sw * (ow - 1) + 1:sw]
            if depthwise:
                term = tap * weight[:, 0, i, j].view(1, channels, 1, 1)
            else:
                taps = weight[:, :, i, j].reshape(groups, out_channels // groups, per_group)
                term = torch.matmul(taps, tap.reshape(n, groups, per_group, oh * ow))
                term = term.reshape(n, out_channels, oh, ow)
            out = term if out is None else out + term
    assert out is not None  # a kernel has at least one tap
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _avg_pool2d(input: torch.Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
                ceil_mode: bool = False, count_include_pad: bool = True,
                divisor_override: int | None = None) -> torch.Tensor:
    """Average pooling over whole, non-overlapping cells, as a mean."""
    kh, kw = _pair(kernel_size)
    n, c, h, w = input.shape
    if (_pair(stride or kernel_size) != (kh, kw) or _pair(padding) != (0, 0)
            or divisor_override or h % kh or w % kw):
        raise ValueError("float64 export: only average pooling over whole cells is covered")
    return input.reshape(n, c, h // kh, kh, w // kw, kw).mean(dim=(3, 5))


def _adaptive_avg_pool2d(input: torch.Tensor, output_size: Any) -> torch.Tensor:
    if _pair(output_size) != (1, 1):
        raise ValueError("float64 export: adaptive average pooling to one cell only")
    return input.mean(dim=(2, 3), keepdim=True)


def _batch_norm(input: torch.Tensor, running_mean: torch.Tensor | None,
                running_var: torch.Tensor | None, weight: torch.Tensor | None = None,
                bias: torch.Tensor | None = None, training: bool = False,
                momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    if training or running_mean is None or running_var is None:
        raise ValueError("float64 export: BatchNorm in eval mode (running statistics) only")
    shape = (1, -1) + (1,) * (input.dim() - 2)
    scale = 1 / torch.sqrt(running_var + torch.tensor(eps, dtype=running_var.dtype))
    if weight is not None:
        scale = scale * weight
    out = (input - running_mean.view(shape)) * scale.view(shape)
    return out if bias is None else out + bias.view(shape)


_REWRITES: dict[Callable[..., Any], Callable[..., torch.Tensor]] = {
    torch.conv2d: _conv2d,
    F.avg_pool2d: _avg_pool2d,
    F.adaptive_avg_pool2d: _adaptive_avg_pool2d,
    F.batch_norm: _batch_norm,
}


def float64_operations() -> TorchFunctionMode:
    """A context inside which torch's conv2d, average pooling and BatchNorm compute as the
    module docstring says."""
    return _Float64Operations()


class _Float64Operations(TorchFunctionMode):
    def __torch_function__(self, func: Callable[..., Any], types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        # each rewrite takes its function's parameters, by the same names
        return _REWRITES.get(func, func)(*args, **(kwargs or {}))


def check_float64_graph(model: Any) -> None:
    """Refuse (ValueError) an ONNX graph that still holds an operation onnxruntime cannot
    compute in float64, or exactly, and where onnxruntime is installed, one it cannot open."""
    left = sorted({node.op_type for node in model.graph.node} & _NOT_FLOAT64)
    if left:
        raise ValueError(f"this model's networks cannot be exported in float64: its graph "
                         f"keeps {', '.join(left)}, which onnxruntime does not compute in "
                         "float64 (exactly)")
    try:
        import onnxruntime
    except ImportError:
        return
    try:
        onnxruntime.InferenceSession(model.SerializeToString(),
                                     providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises kinds of its own
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"this model's networks cannot be exported in float64: "
                         f"onnxruntime cannot run the graph ({reason})") from None
