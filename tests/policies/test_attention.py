"""Neighborhood attention: the banded fallback equals natten's forward and trains on CPU."""

from __future__ import annotations

import pytest
import torch as th

from policies.attention import NeighborhoodAttention1D, na1d, na1d_banded, neighborhood_indices
from policies.errors import PolicyConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: ~10x faster on a busy machine


def test_edge_windows_shift_inside_the_sequence():
    idx = neighborhood_indices(10, 5)
    assert idx[0].tolist() == [0, 1, 2, 3, 4]  # shifted, not padded
    assert idx[5].tolist() == [3, 4, 5, 6, 7]
    assert idx[9].tolist() == [5, 6, 7, 8, 9]
    dil = neighborhood_indices(12, 3, dilation=2)
    assert dil[0].tolist() == [0, 2, 4] and dil[1].tolist() == [1, 3, 5] and dil[11].tolist() == [7, 9, 11]


@pytest.mark.parametrize(("length", "kernel", "dilation"), [(16, 3, 1), (33, 7, 1), (40, 5, 3), (64, 15, 2), (9, 9, 1)])
def test_banded_equals_natten_forward(length, kernel, dilation):
    natten = pytest.importorskip("natten")
    gen = th.Generator().manual_seed(length * 100 + kernel)
    q, k, v = (th.randn(2, length, 2, 32, generator=gen) for _ in range(3))
    ours = na1d_banded(q, k, v, kernel, dilation)
    theirs = natten.na1d(q, k, v, kernel_size=kernel, dilation=dilation)
    assert th.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()


def test_gradients_flow_on_cpu():
    layer = NeighborhoodAttention1D(dim=64, num_heads=2, kernel_size=5)
    x = th.randn(3, 20, 64, requires_grad=True)
    layer(x).square().mean().backward()
    assert x.grad is not None and th.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in layer.parameters())


def test_auto_backend_on_cpu_is_banded():
    q = k = v = th.randn(1, 8, 1, 32)
    assert th.equal(na1d(q, k, v, 3), na1d_banded(q, k, v, 3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 60, "num_heads": 8, "kernel_size": 5}, "not divisible by num_heads"),
        ({"dim": 64, "num_heads": 2, "kernel_size": 4}, "must be odd"),
    ],
)
def test_bad_configs_say_what_to_change(kwargs, message):
    with pytest.raises(PolicyConfigError, match=message):
        NeighborhoodAttention1D(**kwargs)
    with pytest.raises(PolicyConfigError, match="longer than the sequence"):
        neighborhood_indices(5, 7)


@pytest.mark.skipif(not th.cuda.is_available(), reason="natten's CUDA kernels need a GPU")
def test_natten_cuda_matches_banded_with_gradients():
    q, k, v = (th.randn(2, 64, 2, 32, device="cuda", requires_grad=True) for _ in range(3))
    out = na1d(q, k, v, 7, backend="natten")
    ref = na1d_banded(q, k, v, 7)
    assert th.allclose(out, ref, atol=1e-3)
    out.sum().backward()
    assert q.grad is not None
