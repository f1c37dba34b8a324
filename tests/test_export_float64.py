"""The float64 rewrites an ``image_float64`` export traces (`mcod.export_float64`): each
equals torch's own float64 layer to rounding, runs in onnxruntime in float64, and what it
cannot rewrite is refused."""

from __future__ import annotations

import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mcod.export import OPSET
from mcod.export_float64 import check_float64_graph, float64_operations

# (in, out, kernel, stride, padding, dilation, groups, bias, padding mode): full, strided,
# dilated (also unevenly), depthwise, grouped, with a channel multiplier, 1x1, an uneven
# kernel, reflected padding
CONVS = [(3, 8, 3, 1, 1, 1, 1, False, "zeros"), (4, 6, 3, 2, 0, 1, 1, True, "zeros"),
         (4, 4, 3, 1, 2, 2, 1, False, "zeros"), (3, 4, 3, 1, (1, 2), (1, 2), 1, True, "zeros"),
         (6, 6, 5, 2, 2, 1, 6, True, "zeros"), (6, 4, 3, 1, 1, 1, 2, True, "zeros"),
         (3, 6, 3, 1, 1, 1, 3, False, "zeros"), (5, 7, 1, 1, 0, 1, 1, False, "zeros"),
         (3, 2, (1, 3), (2, 1), (0, 1), 1, 1, True, "zeros"),
         (3, 4, 3, 1, 1, 1, 1, True, "reflect")]


@pytest.mark.parametrize("spec", CONVS)
def test_a_convolution_equals_torchs(spec):
    c_in, c_out, kernel, stride, padding, dilation, groups, bias, mode = spec
    torch.manual_seed(0)
    conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, groups, bias,
                     padding_mode=mode).double()
    x = torch.randn(2, c_in, 11, 9, dtype=torch.float64)
    with torch.no_grad():
        expected = conv(x)
        with float64_operations():
            got = conv(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-13)


def test_pooling_and_batch_norm_equal_torchs():
    torch.manual_seed(1)
    norm = nn.BatchNorm2d(3).double().eval()
    norm.running_mean.uniform_(-1, 1)
    norm.running_var.uniform_(0.5, 2)
    norm.weight.data.uniform_(0.5, 2)
    x = torch.randn(2, 3, 8, 6, dtype=torch.float64)
    layers = [norm, nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.BatchNorm1d(3, affine=False)]
    with torch.no_grad():
        for layer in layers:
            layer = layer.double().eval()
            data = x.mean(dim=(2, 3)) if isinstance(layer, nn.BatchNorm1d) else x
            expected = layer(data)
            with float64_operations():
                got = layer(data)
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-14)


def test_what_it_cannot_rewrite_is_refused():
    x = torch.zeros(1, 2, 6, 6, dtype=torch.float64)
    with float64_operations():
        with pytest.raises(ValueError, match="padding 'same'"):
            F.conv2d(x, torch.zeros(2, 2, 3, 3, dtype=torch.float64), padding="same")
        with pytest.raises(ValueError, match="whole cells"):
            F.avg_pool2d(x, 3, stride=1)
        with pytest.raises(ValueError, match="whole cells"):
            F.avg_pool2d(x, 4)  # 6 rows: a cell cut short
        with pytest.raises(ValueError, match="one cell"):
            F.adaptive_avg_pool2d(x, 2)
        with pytest.raises(ValueError, match="eval mode"):
            nn.BatchNorm2d(2).double().train()(x)


def test_onnxruntime_runs_the_traced_network_in_float64(tmp_path):
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.BatchNorm2d(4), nn.ReLU6(),
                        nn.Conv2d(4, 4, 3, 1, 1, groups=4), nn.AvgPool2d(2),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten()).double().eval()
    x = torch.rand(5, 3, 16, 16, dtype=torch.float64)
    path = tmp_path / "net.onnx"
    with float64_operations():
        torch.onnx.export(net, (x,), path, input_names=["x"], dynamo=False)
    model = onnx.load(str(path))
    check_float64_graph(model)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), net(x), rtol=0, atol=1e-14)
    # traced without the rewrites, the graph keeps Conv and pooling (BatchNorm folded): refused
    torch.onnx.export(net, (x,), tmp_path / "plain.onnx", input_names=["x"], dynamo=False)
    with pytest.raises(ValueError, match="AveragePool, Conv, GlobalAveragePool"):
        check_float64_graph(onnx.load(str(tmp_path / "plain.onnx")))


def test_a_layer_without_float64_kernels_is_refused(tmp_path, monkeypatch):
    """One the rewrites leave (GELU: Erf); and where the list of known ones misses it,
    onnxruntime's own refusal to open the graph."""
    x = torch.rand(2, 3, dtype=torch.float64)
    torch.onnx.export(nn.GELU().double(), (x,), tmp_path / "gelu.onnx", opset_version=OPSET,
                      dynamo=False)
    with pytest.raises(ValueError, match="keeps Erf"):
        check_float64_graph(onnx.load(str(tmp_path / "gelu.onnx")))
    monkeypatch.setattr("mcod.export_float64._NOT_FLOAT64", frozenset())
    with pytest.raises(ValueError, match="onnxruntime cannot run the graph"):
        check_float64_graph(onnx.load(str(tmp_path / "gelu.onnx")))
