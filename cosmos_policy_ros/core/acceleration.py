# SPDX-License-Identifier: Apache-2.0
"""Inference speed levers of ``CosmosPolicy`` (issue 22), each within bf16 noise of the plain path.

* ``dtype="bfloat16"``: the transformer's weights are cast (not fp32 weights under autocast: half
  the memory traffic, no per-op casts). The VAE stays float32.
* ``attention_backends``: the SDPA kernels allowed, in priority order
  (``torch.nn.attention.sdpa_kernel(..., set_priority=True)``); empty = torch's own choice.
* ``text_kv_cache`` (default on): the instruction's cross-attention K/V once per decision
  (``networks.cached_text_kv``), reused by every sampler step and candidate.
* ``frame_modulation`` (default on): the blocks' adaLN-LoRA linears once per latent frame instead
  of once per token (``networks.per_frame_modulation``).
* ``compile``: ``torch.compile`` of each transformer block (regional: the repeated block compiles
  once, and hooks on the transformer, e.g. the planner's forward counter, still run), static shapes
  (``dynamic=False``); with ``batch_buckets`` a call's batch is padded up to the next bucket so a
  handful of shapes cover every planner call.
* ``cuda_graphs``: compile mode ``reduce-overhead`` (CUDA graphs) on a CUDA device; on CPU it is
  skipped (``compile_mode`` says which mode applies).
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

ATTENTION_BACKENDS = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
                      "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
"""Transformer dtype names -> torch dtypes: the one table (policy_node, checkpoints, levers)."""
LEVER_DTYPES = ("float32", "bfloat16")
"""The dtypes the speed levers (and converted checkpoints) are offered in: float32 and bf16."""


@dataclass(frozen=True)
class InferenceOptions:
    """Which levers a model uses at inference (see the module docstring).

    Args:
        dtype: transformer weight dtype, "float32" or "bfloat16".
        attention_backends: names from ``ATTENTION_BACKENDS`` in priority order; () = torch's choice.
        text_kv_cache: reuse the instruction's cross-attention K/V within a decision.
        frame_modulation: compute the adaLN-LoRA modulation per latent frame, not per token.
        compile: ``torch.compile`` every transformer block with static shapes.
        cuda_graphs: capture the compiled blocks as CUDA graphs (CUDA only; needs ``compile``).
        batch_buckets: increasing batch sizes a call is padded up to (static shapes); () = none.
    """

    dtype: str = "float32"
    attention_backends: tuple[str, ...] = ()
    text_kv_cache: bool = True
    frame_modulation: bool = True
    compile: bool = False
    cuda_graphs: bool = False
    batch_buckets: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.dtype not in LEVER_DTYPES:
            raise ValueError(f"inference dtype={self.dtype!r}; expected one of {sorted(LEVER_DTYPES)}")
        unknown = [b for b in self.attention_backends if b not in ATTENTION_BACKENDS]
        if unknown:
            raise ValueError(f"attention_backends {unknown} unknown; expected names from {sorted(ATTENTION_BACKENDS)}")
        if self.cuda_graphs and not self.compile:
            raise ValueError("cuda_graphs=True needs compile=True (graphs are captured by torch.compile)")
        buckets = list(self.batch_buckets)
        if any(b < 1 for b in buckets) or buckets != sorted(set(buckets)):
            raise ValueError(f"batch_buckets={self.batch_buckets} must be increasing positive sizes")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


def compile_mode(options: InferenceOptions, device: torch.device) -> str | None:
    """The ``torch.compile`` mode for ``device``: None without compile, CUDA graphs only on CUDA."""
    if not options.compile:
        return None
    return "reduce-overhead" if options.cuda_graphs and device.type == "cuda" else "default"


def apply(transformer: nn.Module, options: InferenceOptions) -> None:
    """Cast the transformer's weights and compile its blocks in place (state dict keys unchanged)."""
    if next(transformer.parameters()).dtype != options.torch_dtype:
        transformer.to(dtype=options.torch_dtype)
    mode = compile_mode(options, next(transformer.parameters()).device)
    if mode is not None:
        for block in transformer.transformer_blocks:
            block.compile(dynamic=False, mode=mode)


def bucket_size(batch: int, options: InferenceOptions) -> int:
    """The batch a call of ``batch`` rows runs at: the smallest bucket that holds it (or itself)."""
    return next((b for b in options.batch_buckets if b >= batch), batch)


def pad_batch(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """``tensor`` with its first row repeated up to ``size`` rows (samples are independent)."""
    extra = size - tensor.shape[0]
    return tensor if extra <= 0 else torch.cat([tensor, tensor[:1].expand(extra, *tensor.shape[1:])])


@contextmanager
def attention_kernels(options: InferenceOptions) -> Iterator[None]:
    """Inside: SDPA restricted to ``options.attention_backends`` in that priority (no-op if empty)."""
    with ExitStack() as stack:
        if options.attention_backends:
            stack.enter_context(sdpa_kernel([ATTENTION_BACKENDS[b] for b in options.attention_backends],
                                            set_priority=True))
        yield
