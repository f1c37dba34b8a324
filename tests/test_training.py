"""The training loop's weight averaging (SWA) and its BatchNorm re-estimation."""

import pytest
import torch
from torch import nn

from mcod import get_config
from mcod.nn import training
from mcod.nn.model import MCODNet
from mcod.nn.training import train, use_averaged_weights

TABLE = get_config("tabular").replace(feature_dim=8, embedding_dim=4, n_memory=2, queue_size=16)


def table_net(config=TABLE) -> tuple[MCODNet, torch.Tensor]:
    torch.manual_seed(0)
    return MCODNet(config, (5,), queue_size=16), torch.randn(40, 5) * 3 + 1


def test_batchnorm_statistics_are_those_of_the_clean_data() -> None:
    net, data = table_net()
    first_linear, first_norm = net.query.backbone[0], net.query.backbone[1]
    assert isinstance(first_linear, nn.Linear) and isinstance(first_norm, nn.BatchNorm1d)
    averaged = torch.optim.swa_utils.AveragedModel(net.query).module
    use_averaged_weights(net, averaged, data, batch_size=10)  # four equal batches
    with torch.no_grad():
        hidden = first_linear(data)
    torch.testing.assert_close(first_norm.running_mean, hidden.mean(0))
    # update_bn averages the per-batch unbiased variances of equal batches
    batch_vars = torch.stack([h.var(0) for h in hidden.split(10)])
    torch.testing.assert_close(first_norm.running_var, batch_vars.mean(0))


def test_a_one_sample_last_batch_is_left_out() -> None:
    net, data = table_net()
    averaged = torch.optim.swa_utils.AveragedModel(net.query).module
    use_averaged_weights(net, averaged, data[:21], batch_size=10)  # batches 10, 10, 1
    with torch.no_grad():
        hidden = net.query.backbone[0](data[:20])
    torch.testing.assert_close(net.query.backbone[1].running_mean, hidden.mean(0))


@pytest.mark.parametrize(("start", "averaged_epochs"), [(0.5, [2, 3]), (0.0, [0, 1, 2, 3])])
def test_final_weights_are_the_mean_over_the_later_epochs(
    monkeypatch: pytest.MonkeyPatch, start: float, averaged_epochs: list[int]
) -> None:
    snapshots: list[dict[str, torch.Tensor]] = []

    class Recording(torch.optim.swa_utils.AveragedModel):
        def update_parameters(self, model: nn.Module) -> None:
            snapshots.append({k: v.detach().clone() for k, v in model.named_parameters()})
            super().update_parameters(model)

    monkeypatch.setattr(training, "AveragedModel", Recording)
    net, data = table_net(TABLE.replace(average_weights_from=start))
    train(net, data, epochs=4, batch_size=10)
    assert len(snapshots) == len(averaged_epochs)
    first, last = snapshots[0]["cluster.linear.weight"], snapshots[-1]["cluster.linear.weight"]
    assert not torch.equal(first, last)  # the weights moved, so the mean is not the last
    for name, parameter in net.query.named_parameters():
        expected = torch.stack([s[name] for s in snapshots]).mean(0)
        torch.testing.assert_close(parameter, expected)


def test_no_averaging_keeps_the_last_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("weights were averaged")

    monkeypatch.setattr(training, "use_averaged_weights", fail)
    net, data = table_net(TABLE.replace(average_weights_from=None))
    after_each_step: list[dict[str, torch.Tensor]] = []
    push_keys = net.after_step

    def recording(keys: object) -> None:  # runs right after each optimiser step
        push_keys(keys)  # type: ignore[arg-type]
        after_each_step.append({k: v.detach().clone() for k, v in net.query.named_parameters()})

    monkeypatch.setattr(net, "after_step", recording)
    train(net, data, epochs=2, batch_size=10)
    first, last = after_each_step[0], after_each_step[-1]
    assert not torch.equal(first["cluster.linear.weight"], last["cluster.linear.weight"])
    for name, parameter in net.query.named_parameters():
        assert torch.equal(parameter, last[name])  # the last step's weights, unaveraged


@pytest.mark.parametrize("start", [-0.1, 1.0])
def test_bad_averaging_start_is_refused_before_any_training(start: float) -> None:
    with pytest.raises(ValueError, match="average_weights_from"):
        TABLE.replace(average_weights_from=start)
