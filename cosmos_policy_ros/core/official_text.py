# SPDX-License-Identifier: Apache-2.0
"""Instruction embeddings the official way (spec 1.3): import upstream's pickle, or run T5 locally.

Upstream ships ``*_t5_embeddings.pkl``: ``pickle.dump`` of ``{instruction: bf16 tensor (1, 512, 1024)}``
(``cosmos_policy/datasets/t5_embedding_utils.py``). A plain pickle of tensors names exactly three
callables: ``torch._utils._rebuild_tensor_v2``, ``torch.storage._load_from_bytes`` (whose bytes
are a legacy ``torch.save`` of the storage) and ``collections.OrderedDict``. The restricted
unpickler resolves only those, and reads the storage bytes with ``torch.load(weights_only=True)``
instead of upstream's unrestricted load; any other global refuses the whole file before it is
called, so a pickle that would run code runs nothing.

New instructions: upstream's ``CosmosT5TextEncoder.encode_prompts``
(``_src/predict2/inference/get_t5_emb.py`` L59-120): fast T5 tokenizer, truncation and padding to
exactly 512 tokens, the encoder's last hidden state with the attention mask, every position at or
beyond the real token count (``</s>`` included in the count) set to zero, stored as bf16.

Both land in the checkpoint's own text cache (``core.text_cache``, safetensors).
"""
from __future__ import annotations

import collections
import io
import pickle
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from cosmos_policy_ros.core.config import CosmosPolicyConfig
from cosmos_policy_ros.core.pretrained import CONFIG_FILE, TEXT_FILE
from cosmos_policy_ros.core.text_cache import TextEmbeddingCache

OFFICIAL_DTYPE = torch.bfloat16  # t5_embedding_utils.generate_t5_embeddings stores bf16


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list (it would run code)."""


def _storage_from_bytes(data: bytes) -> Any:
    """``torch.storage._load_from_bytes`` without its unrestricted ``torch.load``."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


_ALLOWED_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _TensorDictUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(f"refused: the pickle names {module}.{name}; only tensors and plain "
                                    "containers are read (nothing in it was run)")
        return _ALLOWED_GLOBALS[(module, name)]

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refused: persistent id {pid!r} (not a plain tensor pickle)")


def load_official_embeddings(path: str | Path) -> dict[str, torch.Tensor]:
    """``{instruction: tensor}`` from an official ``*_t5_embeddings.pkl``, read without running code."""
    with open(path, "rb") as handle:
        data = _TensorDictUnpickler(handle).load()
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                             for k, v in data.items()):
        raise ValueError(f"{path} is not an {{instruction: tensor}} mapping")
    return data


def encode_instructions(texts: Sequence[str], t5_folder: str | Path, max_tokens: int,
                        device: str = "cpu") -> torch.Tensor:
    """(B, max_tokens, D) float32 (bf16 values) T5 encoder states, computed as upstream does.

    Args:
        t5_folder: local folder with the T5 tokenizer and encoder (e.g. google-t5/t5-11b);
            nothing is downloaded.
        max_tokens: padding / truncation length (the official models: 512).
        device: torch device for the encoder (cuda or cpu).
    """
    from transformers import T5EncoderModel, T5TokenizerFast  # optional at import: only this command needs it

    tokenizer = T5TokenizerFast.from_pretrained(str(t5_folder), local_files_only=True)
    encoder = T5EncoderModel.from_pretrained(str(t5_folder), local_files_only=True).to(device).eval()
    batch = tokenizer(list(texts), return_tensors="pt", truncation=True, padding="max_length",
                      max_length=max_tokens)
    mask = batch.attention_mask.to(device)
    with torch.inference_mode():
        hidden = encoder(input_ids=batch.input_ids.to(device), attention_mask=mask).last_hidden_state
    lengths = mask.sum(dim=1)
    hidden = hidden.clone()
    for row, length in enumerate(lengths.tolist()):
        hidden[row, length:] = 0
    return hidden.to(OFFICIAL_DTYPE).float().cpu()


def add_to_checkpoint(folder: str | Path, embeddings: Mapping[str, torch.Tensor]) -> TextEmbeddingCache:
    """Add embeddings to a from_pretrained folder's text cache (shapes checked against its config)."""
    folder = Path(folder)
    config = CosmosPolicyConfig.from_json(folder / CONFIG_FILE)
    cache = TextEmbeddingCache(config.dit.text_max_tokens, config.dit.text_embed_dim, config.text_encoder)
    if (folder / TEXT_FILE).exists():
        cache.load(folder / TEXT_FILE)
    for text, embedding in embeddings.items():
        cache.add(text, embedding)
    cache.save(folder / TEXT_FILE)
    return cache
