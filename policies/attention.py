"""1-D neighborhood attention: NATTEN on CUDA, an exact banded PyTorch implementation elsewhere.

Neighborhood attention (Hassani et al., https://arxiv.org/abs/2204.07143) lets every token
attend to its ``kernel_size`` nearest tokens (with ``dilation``, every ``dilation``-th token).
At the sequence edges NATTEN *shifts* the window inside the sequence rather than padding it,
so every query always sees exactly ``kernel_size`` keys; :func:`neighborhood_indices`
reproduces that rule.

natten 0.21 runs on CPU only through its Flex-Attention backend, forward only (backward raises
``NotImplementedError``), and that forward builds the full L x L score matrix. So off CUDA (and
whenever gradients are needed on CPU) :func:`na1d` uses :func:`na1d_banded`, which gathers the
k neighbours of every query: O(L * k) time and memory. It is tested equal to natten's forward.
"""

from __future__ import annotations

import functools

import torch as th
from torch import nn

from policies.errors import PolicyConfigError


def check_config(*, dim: int, num_heads: int, kernel_size: int, dilation: int = 1, length: int | None = None) -> None:
    """Raise :class:`PolicyConfigError` saying what to change when a configuration cannot work."""
    if num_heads < 1 or dim % num_heads:
        raise PolicyConfigError(
            f"hidden size {dim} is not divisible by num_heads={num_heads}: choose a hidden size that is a "
            f"multiple of the heads (e.g. {max(num_heads, 1) * max(dim // max(num_heads, 1), 1)})."
        )
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise PolicyConfigError(
            f"kernel_size={kernel_size} must be odd and positive (NATTEN's rule), e.g. {kernel_size + 1}."
        )
    if dilation < 1:
        raise PolicyConfigError(f"dilation={dilation} must be at least 1.")
    if length is not None and kernel_size * dilation > length:
        raise PolicyConfigError(
            f"kernel_size * dilation = {kernel_size * dilation} is longer than the sequence ({length} tokens): "
            f"use a kernel of at most {length // dilation if (length // dilation) % 2 else length // dilation - 1}."
        )


@functools.lru_cache(maxsize=64)
def _indices_cached(length: int, kernel_size: int, dilation: int) -> th.Tensor:
    query = th.arange(length)
    group = query % dilation  # each dilation group is its own subsequence
    pos = query // dilation  # position inside the group
    group_len = (length - group + dilation - 1) // dilation
    start = (pos - kernel_size // 2).clamp(min=0)
    start = th.minimum(start, group_len - kernel_size)  # shift the window inside at the end
    offsets = th.arange(kernel_size)
    return group[:, None] + dilation * (start[:, None] + offsets[None, :])


def neighborhood_indices(length: int, kernel_size: int, dilation: int = 1) -> th.Tensor:
    """``(length, kernel_size)`` int64: the keys each query attends to, with NATTEN's edge rule."""
    check_config(dim=1, num_heads=1, kernel_size=kernel_size, dilation=dilation, length=length)
    return _indices_cached(length, kernel_size, dilation)


def na1d_banded(
    query: th.Tensor, key: th.Tensor, value: th.Tensor, kernel_size: int, dilation: int = 1, scale: float | None = None
) -> th.Tensor:
    """Exact 1-D neighborhood attention by gathering neighbours, differentiable everywhere.

    :param query, key, value: ``[batch, length, heads, head_dim]`` (NATTEN's heads-last layout).
    :returns: ``[batch, length, heads, head_dim]``.
    """
    batch, length, heads, head_dim = query.shape
    idx = neighborhood_indices(length, kernel_size, dilation).to(query.device)
    scale = head_dim**-0.5 if scale is None else scale
    flat = idx.reshape(-1)
    k_nb = key.index_select(1, flat).view(batch, length, kernel_size, heads, head_dim)
    v_nb = value.index_select(1, flat).view(batch, length, kernel_size, heads, head_dim)
    scores = th.einsum("blhd,blkhd->blhk", query * scale, k_nb)
    weights = scores.softmax(dim=-1)
    return th.einsum("blhk,blkhd->blhd", weights, v_nb)


def na1d(
    query: th.Tensor,
    key: th.Tensor,
    value: th.Tensor,
    kernel_size: int,
    dilation: int = 1,
    scale: float | None = None,
    backend: str = "auto",
) -> th.Tensor:
    """1-D neighborhood attention, ``[batch, length, heads, head_dim]`` in and out.

    :param backend: ``"natten"``, ``"banded"`` or ``"auto"`` (natten on CUDA, banded elsewhere,
        since natten has no CPU backward and builds an L x L matrix on CPU).
    """
    if backend == "auto":
        backend = "natten" if query.is_cuda else "banded"
    if backend == "natten":
        import natten

        return natten.na1d(query, key, value, kernel_size=kernel_size, dilation=dilation, scale=scale)
    if backend != "banded":
        raise PolicyConfigError(f"backend={backend!r}; use 'auto', 'natten' or 'banded'.")
    return na1d_banded(query, key, value, kernel_size, dilation, scale)


class NeighborhoodAttention1D(nn.Module):
    """Multi-head 1-D neighborhood self-attention layer (qkv projection, attention, projection).

    :param dim: token size; must be divisible by ``num_heads``.
    :param num_heads: attention heads.
    :param kernel_size: odd neighbourhood size.
    :param dilation: neighbour stride.
    :param backend: see :func:`na1d`.
    """

    def __init__(self, dim: int, num_heads: int, kernel_size: int, dilation: int = 1, backend: str = "auto") -> None:
        super().__init__()
        check_config(dim=dim, num_heads=num_heads, kernel_size=kernel_size, dilation=dilation)
        self.num_heads, self.kernel_size, self.dilation, self.backend = num_heads, kernel_size, dilation, backend
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: th.Tensor) -> th.Tensor:
        """``x``: ``[batch, length, dim]`` -> ``[batch, length, dim]``."""
        batch, length, dim = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.num_heads, dim // self.num_heads)
        out = na1d(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], self.kernel_size, self.dilation, backend=self.backend)
        return self.proj(out.reshape(batch, length, dim))
