"""Export a fitted detector's scoring path to ONNX, to score where mcod is not installed.

The graph maps one batch to one float64 score per sample (higher = more outlying), as
``decision_function`` does, and computes as mcod scores: in float64 from the encoder's
output on (`MCODNet.score`), and an image model of ``image_float64`` in float64 throughout,
its convolutions written as operations onnxruntime has float64 kernels for
(`mcod.export_float64`; it has no float64 Conv). Otherwise the encoder's float32
convolutions are the one place where the graph rounds apart from mcod:

- tables: ``rows`` (N, D) float64, the columns in the model's order; the graph
  standardises them in float64 as mcod does, clips at ``Z_LIMIT`` training sds, then runs
  the networks (in float64: their float32 weights, cast) and averages their memory scores
  (with a reference: its whitened distance, and a novelty model's local terms);
- images (own encoder: ``scratch``, ``release``): ``images`` (N, C, S, S) float32, already
  scaled to [0, 1] by the training images' range and resized to the network's side S; the
  encoder in float32 (``image_float64``: float64), the memory distance in float64;
- images through a frozen encoder (``default``): ``images`` (N, 3, E, E) float32 in
  [0, 1] at the encoder's side E; the graph normalises them as ImageNet models expect,
  encodes them (float32; ``image_float64``: both in float64), L2-normalises and
  standardises the features in float64, and scores the whitened distance to the
  reference in float64 (a novelty model: with its local terms against the fit rows it
  keeps, `mcod.nn.local_terms`).

What the graph expects of its input (side, scaling, channels, column names and
statistics) is stored in the model's metadata (``metadata_props``) as JSON under
``mcod.preprocessing``, with the threshold under ``mcod.threshold``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

import mcod
from mcod.data.preprocessing import Z_LIMIT
from mcod.detector import MCOD
from mcod.export_float64 import check_float64_graph, float64_operations
from mcod.io.atomic import atomic_write
from mcod.nn.encoders import IMAGENET_MEAN, IMAGENET_STD
from mcod.nn.ensemble import MCODEnsemble

__all__ = ["OPSET", "ExportUnavailableError", "export_onnx", "preprocessing"]

OPSET = 17


class ExportUnavailableError(ValueError):
    """The ``onnx`` package is missing (``pip install onnx``); a ValueError, so
    that the command line says so in one line."""


class _Scoring(nn.Module):
    """The detector's scoring path as one module: input as the graph takes it -> scores."""

    mean: torch.Tensor
    std: torch.Tensor
    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def __init__(self, network: MCODEnsemble, detector: MCOD) -> None:
        super().__init__()
        self.network = network
        self.rows = detector.input_kind_ == "table" or bool(detector.config_.encoder)
        float64 = detector.config_.image_float64
        # an encoder's input and the rows into the head: float32, or with image_float64
        # float64, as `_to_input` casts and `TablePreprocessor` leaves them
        dtype = self.rows_dtype = torch.float64 if float64 else torch.float32
        self.encoder: nn.Module | None = None
        if self.rows:
            self.register_buffer("mean", detector.scale_mean_.double().clone())
            self.register_buffer("std", detector.scale_std_.double().clone())
        if detector.config_.encoder:
            from mcod.nn.pretrained import encoder_for

            self.encoder = encoder_for(detector.config_.encoder, float64)
            if isinstance(self.encoder.net, torch.jit.ScriptModule):
                raise ValueError("ONNX export does not cover TorchScript encoders (torch "
                                 "cannot trace a compiled module into a new graph); an "
                                 "efficientnet-lite state dict or a timm name exports")
            self.register_buffer("pixel_mean",
                                 torch.tensor(IMAGENET_MEAN, dtype=dtype).view(1, 3, 1, 1))
            self.register_buffer("pixel_std",
                                 torch.tensor(IMAGENET_STD, dtype=dtype).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            x = x.to(self.pixel_mean.dtype)
            features = self.encoder((x - self.pixel_mean) / self.pixel_std).double()
            x = features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)
        if self.rows:
            x = ((x - self.mean) / self.std).clamp(-Z_LIMIT, Z_LIMIT).to(self.rows_dtype)
        return self.network.score(x)


def _cdist(g: Any, x1: Any, x2: Any, p: Any, compute_mode: Any) -> Any:
    """``torch.cdist`` (p = 2) as the square root of the summed squared differences.

    Torch's own ONNX form raises that sum to ``1 / (p + 1e-6)``, a relative error of about
    1e-6 in every distance (near-tied samples changed places); mcod computes the memory
    distance in float64, and so does the graph."""
    from torch.onnx import symbolic_helper

    if symbolic_helper._parse_arg(p, "f") != 2.0:
        raise ValueError("the ONNX export covers Euclidean distances only")
    axis = functools.partial(g.op, "Constant")
    diff = g.op("Sub", g.op("Unsqueeze", x1, axis(value_t=torch.tensor([-2]))),
                g.op("Unsqueeze", x2, axis(value_t=torch.tensor([-3]))))
    return g.op("Sqrt", g.op("ReduceSumSquare", diff, axes_i=[-1], keepdims_i=0))


def _store_float32(model: Any, onnx: Any) -> None:
    """Store each large float64 constant that float32 holds exactly (the float32 weights and
    whitener the graph computes with in float64) as float32 and a Cast back: the same
    values in half the bytes."""
    import numpy as np
    from onnx import numpy_helper

    casts = []
    for initializer in model.graph.initializer:
        if initializer.data_type != onnx.TensorProto.DOUBLE:
            continue
        values = numpy_helper.to_array(initializer)
        single = values.astype(np.float32)
        if values.size < 1024 or not np.array_equal(single, values):
            continue
        name = initializer.name
        initializer.CopyFrom(numpy_helper.from_array(single, f"{name}.float32"))
        casts.append(onnx.helper.make_node("Cast", [f"{name}.float32"], [name],
                                           to=onnx.TensorProto.DOUBLE))
    nodes = [*casts, *model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def preprocessing(detector: MCOD) -> dict[str, Any]:
    """What the exported graph expects of its input, for its metadata."""
    config = detector.config_
    if detector.input_kind_ == "table":
        return {
            "input": "rows", "dtype": "float64", "shape": ["N", detector.n_features_in_],
            "columns": detector.feature_names_in_,
            "note": "the columns in this order, raw (the graph standardises them)",
            "column_mean": detector.scale_mean_.double().tolist(),
            "column_std": detector.scale_std_.double().tolist(),
        }
    side = config.encoder_size if config.encoder else config.image_size
    channels = 3 if config.encoder else detector.n_channels_
    steps = [f"scale to [0, 1]: (pixel - {detector.pixel_range_[0]:g}) / "
             f"({detector.pixel_range_[1]:g} - {detector.pixel_range_[0]:g}), clipped",
             f"resize to {side}x{side}: bilinear with antialiasing (torch's "
             "F.interpolate(antialias=True), as mcod does)"]
    if config.encoder:
        steps.append("grey images: the one channel repeated as R, G and B")
    return {"input": "images", "dtype": "float32", "shape": ["N", channels, side, side],
            "layout": "NCHW", "pixel_range": list(detector.pixel_range_), "size": side,
            "steps": steps}


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportUnavailableError("ONNX export needs the onnx package: pip install onnx "
                                     "(or, in mcod's repository, pip install -e "
                                     "'.[export]', which adds onnxruntime)") from None
    return onnx


def export_onnx(detector: MCOD, path: str | os.PathLike[str]) -> Path:
    """Write ``detector``'s scoring path to ``path`` as an ONNX model (atomically)."""
    onnx = _onnx()
    if detector.config_.table_yeo_johnson:
        raise ValueError("ONNX export does not cover table_yeo_johnson models (the "
                         "Yeo-Johnson transform is not in the graph)")
    network = MCODEnsemble(detector.config_, detector.input_shape_,
                           detector.network_.first.queue.size, detector.network_.kept_rows)
    network.load_state_dict(detector.network_.state_dict())
    float64 = detector.config_.image_float64
    if detector.config_.backbone == "mlp" or float64:  # as `MCODNet.score_encode` runs it
        network.double()
    module = _Scoring(network, detector).eval()
    spec = preprocessing(detector)
    example = torch.zeros(2, *spec["shape"][1:],
                          dtype=torch.float64 if spec["dtype"] == "float64" else torch.float32)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        traced = Path(folder) / "scoring.onnx"
        torch.onnx.register_custom_op_symbolic("aten::cdist", _cdist, OPSET)
        try:
            with float64_operations() if float64 else contextlib.nullcontext():
                torch.onnx.export(module, (example,), traced, input_names=[spec["input"]],
                                  output_names=["scores"],
                                  dynamic_axes={spec["input"]: {0: "N"}, "scores": {0: "N"}},
                                  opset_version=OPSET, dynamo=False)
        finally:
            torch.onnx.unregister_custom_op_symbolic("aten::cdist", OPSET)
        model = onnx.load(traced)
    if float64:
        check_float64_graph(model)
    _store_float32(model, onnx)
    metadata = {"mcod.version": mcod.__version__, "mcod.config": detector.config_.name,
                "mcod.preprocessing": json.dumps(spec),
                "mcod.threshold": repr(float(detector.threshold_)),
                "mcod.score": ("float64, higher = more outlying; above mcod.threshold = "
                               "an outlier")}
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "mcod"
    target = Path(path).expanduser()
    with atomic_write(target, "wb") as handle:
        handle.write(model.SerializeToString())
    return target
