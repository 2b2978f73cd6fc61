"""Registration through sklxai's optimizer entry points, argument checks, and (de)serialization."""

import io
import pickle

import numpy as np
import pytest
import torch
from sklxai_bort import (
    BortAdamW,
    BortSGD,
    bort_correction,
    bort_param_groups,
    orthogonality_error,
)

import sklxai


def test_registered_as_sklxai_optimizers():
    assert sklxai.get_optimizer("bort-sgd") is BortSGD
    assert sklxai.get_optimizer("bort-adamw") is BortAdamW
    assert sklxai.get_optimizer("sklxai-bort:bort-adamw") is BortAdamW
    info = sklxai.list_optimizers()["bort-adamw"]
    assert info.distribution == "sklxai-bort"
    assert info.value == "sklxai_bort.optim:BortAdamW"
    assert not info.builtin
    assert sklxai.list_optimizers(validate=True)["bort-sgd"].status == "ok"


def _params():
    return torch.nn.Linear(3, 2).parameters()


@pytest.mark.parametrize("cls", [BortSGD, BortAdamW])
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"gamma": -0.1}, "gamma must be a finite number >= 0"),
        ({"gamma": float("nan")}, "gamma"),
        ({"gamma": float("inf")}, "gamma"),
        ({"c": 0.0}, "c must be a finite number > 0"),
        ({"c": -1.0}, "c must"),
        ({"fused": True}, "fused=True"),
        ({"differentiable": True}, "differentiable=True"),
    ],
)
def test_bad_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(_params(), **kwargs)


@pytest.mark.parametrize("cls", [BortSGD, BortAdamW])
def test_bad_param_group_keys(cls):
    w, b = torch.nn.Linear(3, 2).parameters()
    with pytest.raises(ValueError, match="gamma of param group 1"):
        cls([{"params": [w]}, {"params": [b], "gamma": -1.0}])
    opt = cls([w])
    with pytest.raises(ValueError, match="c of param group 1"):
        opt.add_param_group({"params": [b], "c": 0})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": [b], "gamma": 0})
    assert opt.param_groups[1]["gamma"] == 0.0 and opt.param_groups[1]["c"] == 1.0
    with pytest.raises(TypeError, match="gamma must be a real number"):
        cls([w], gamma="0.1")


def test_bad_helper_arguments():
    with pytest.raises(ValueError, match="gamma"):
        bort_param_groups(torch.nn.Linear(2, 2), gamma=-1)
    with pytest.raises(ValueError, match="c must"):
        bort_param_groups(torch.nn.Linear(2, 2), c=0)
    with pytest.raises(ValueError, match="no parameters"):
        bort_param_groups(torch.nn.ReLU())
    with pytest.raises(TypeError, match="module"):
        bort_param_groups([torch.zeros(2, 2)])
    with pytest.raises(ValueError, match="no Linear/Conv weight"):
        orthogonality_error(torch.nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match="ndim >= 2"):
        orthogonality_error(torch.zeros(3))
    with pytest.raises(ValueError, match="c must"):
        orthogonality_error(torch.eye(2), c=-1)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        bort_correction(torch.zeros(3))


def test_sparse_gradient_is_refused():
    emb = torch.nn.Embedding(5, 3, sparse=True)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradient.*gamma=0"):
        BortSGD(emb.parameters(), gamma=0.1).step()
    BortSGD(emb.parameters(), gamma=0.0).step()  # as plain SGD, fine


def _train(model, opt, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(8, 4, generator=g)).pow(2).mean().backward()
        opt.step()


@pytest.mark.parametrize(
    "cls, kwargs", [(BortSGD, {"momentum": 0.9}), (BortAdamW, {"weight_decay": 0.05})]
)
def test_state_dict_round_trip(cls, kwargs):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    opt = cls(bort_param_groups(model, gamma=0.7, c=1.5), lr=0.05, **kwargs)
    _train(model, opt, 3, seed=1)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    clone = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    clone.load_state_dict(saved["model"])
    clone_opt = cls(bort_param_groups(clone), lr=0.05, **kwargs)  # default gamma and c
    clone_opt.load_state_dict(saved["opt"])
    assert [(g["gamma"], g["c"]) for g in clone_opt.param_groups] == [(0.7, 1.5), (0.0, 1.0)]

    _train(model, opt, 3, seed=2)
    _train(clone, clone_opt, 3, seed=2)
    for p, q in zip(model.parameters(), clone.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_loads_a_plain_sgd_state_dict():
    layer = torch.nn.Linear(3, 2)
    plain = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    opt = BortSGD(layer.parameters(), gamma=0.3, c=2.0)
    opt.load_state_dict(plain.state_dict())
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["gamma"], group["c"]) == (0.1, 0.9, 0.3, 2.0)


@pytest.mark.parametrize("cls", [BortSGD, BortAdamW])
def test_pickle_keeps_bort_keys(cls):
    layer = torch.nn.Linear(3, 2)
    opt = cls(layer.parameters(), lr=0.1, gamma=0.4, c=0.5)
    copy = pickle.loads(pickle.dumps(opt))
    assert isinstance(copy, cls)
    assert (copy.defaults["gamma"], copy.param_groups[0]["c"]) == (0.4, 0.5)
    for p in copy.param_groups[0]["params"]:
        p.grad = torch.zeros_like(p)
    copy.step()
    assert np.isfinite(copy.param_groups[0]["params"][0].detach().numpy()).all()
