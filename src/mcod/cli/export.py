"""``mcod export MODEL --onnx FILE``: a saved model's scoring path as ONNX
(:mod:`mcod.export`), to score with onnxruntime where mcod is not installed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcod.cli.arguments import add_command

EXPORT_EPILOG = """\
The graph takes one batch and returns one score per sample (higher = more outlying):
  table models     rows (N, D) float64, the model's columns in order, as read
  scratch, release images (N, C, S, S) float32 scaled to [0, 1] and resized to S
  default          images (N, 3, E, E) float32 in [0, 1] at the encoder's side E
The ONNX metadata holds what the input needs (mcod.preprocessing, JSON) and the
threshold (mcod.threshold). An image model fitted with --float64 runs in float64
throughout; otherwise its convolutions run in float32. Needs the onnx package:
pip install onnx (or, in mcod's repository, pip install -e '.[export]').

examples:
  mcod export model.pt --onnx model.onnx
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export`` to the main parser's subcommands."""
    parser = add_command(
        subparsers, "export", "write a saved model's scoring path as ONNX",
        "Write the scoring path of a model saved by 'mcod detect --save-model' as an ONNX "
        "graph, with the preprocessing it expects in its metadata.", EXPORT_EPILOG)
    parser.add_argument("model", metavar="MODEL", help="model file from 'mcod detect --save-model'")
    parser.add_argument("--onnx", required=True, metavar="FILE", help="the ONNX file to write")
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from mcod.cli.outputs import check_outputs, file_output
    from mcod.export import export_onnx, preprocessing
    from mcod.persistence import load

    check_outputs([file_output("--onnx", args.onnx)], [Path(args.model)])
    detector = load(args.model, device="cpu")
    path = export_onnx(detector, args.onnx)
    spec = preprocessing(detector)
    print(f"wrote {path}: input {spec['input']!r} {spec['dtype']} "
          f"{json.dumps(spec['shape'])}, threshold {detector.threshold_:.6g}")
    if detector.input_kind_ == "image" and not detector.config_.image_float64:
        print("its convolutions run in float32, which onnxruntime rounds apart from torch: "
              "scores agree to ~1e-5 of the largest and near-tied images may change places "
              "(a model fitted with --float64 scores alike to float64 rounding)")
    return 0
