# SPDX-License-Identifier: Apache-2.0
"""Instruction -> text embedding cache, stored as safetensors keyed by the text (no pickle).

Upstream feeds T5-11B encoder states (512 tokens x 1024, zero past the real tokens) and ships
them as a pickle. Here:

* ``encoder="t5-11b"``: embeddings come from the official pickle or a local T5 encoder
  (``core.official_text``; commands ``import-embeddings`` / ``embed-instructions``); an unknown
  instruction raises ``KeyError`` naming both commands.
* ``encoder="hash"`` (small presets): a deterministic stand-in that needs no weights. Word i of
  the instruction (lower-cased, split on whitespace) becomes token i, a unit-variance vector drawn
  from ``numpy.random.RandomState`` seeded by the word's SHA-256; tokens past the word count are
  zero (like T5 padding). Same text -> same embedding on every machine.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

TEXTS_METADATA_KEY = "texts"
SEED_BYTES = 4  # bytes of the word hash used as the RandomState seed


def missing_instruction_message(text: str, num_known: int, encoder: str) -> str:
    """Why ``text`` cannot be embedded, and the two commands that add it."""
    return (f"instruction {text!r} is not in the checkpoint's text embedding cache ({num_known} known); "
            f"add its {encoder} embedding with `cosmos-policy import-embeddings <official *_t5_embeddings.pkl> "
            f"<checkpoint>` or `cosmos-policy embed-instructions <checkpoint> \"<text>\" --t5 <local T5 folder>`")


def hash_embedding(text: str, max_tokens: int, embed_dim: int) -> torch.Tensor:
    """Deterministic (max_tokens, embed_dim) float32 embedding of ``text`` (see module docstring)."""
    out = np.zeros((max_tokens, embed_dim), dtype=np.float32)
    for i, word in enumerate(text.lower().split()[:max_tokens]):
        seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:SEED_BYTES], "little")
        out[i] = np.random.RandomState(seed).standard_normal(embed_dim)
    return torch.from_numpy(out)


class TextEmbeddingCache:
    """Maps instruction strings to (max_tokens, embed_dim) float32 embeddings.

    Args:
        max_tokens / embed_dim: embedding shape the DiT expects.
        encoder: "t5-11b" (lookup only) or "hash" (computed on a miss).
    """

    def __init__(self, max_tokens: int, embed_dim: int, encoder: str) -> None:
        self.max_tokens = max_tokens
        self.embed_dim = embed_dim
        self.encoder = encoder
        self._embeddings: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._embeddings)

    def __contains__(self, text: str) -> bool:
        return text in self._embeddings

    @property
    def texts(self) -> list[str]:
        return list(self._embeddings)

    def add(self, text: str, embedding: torch.Tensor) -> None:
        """Store an embedding (e.g. a T5-11B output computed elsewhere), shape (L, D) or (1, L, D)."""
        embedding = embedding.reshape(embedding.shape[-2:]).float().cpu()
        if tuple(embedding.shape) != (self.max_tokens, self.embed_dim):
            raise ValueError(f"text embedding for {text!r} has shape {tuple(embedding.shape)}, "
                             f"expected ({self.max_tokens}, {self.embed_dim})")
        self._embeddings[text] = embedding

    def get(self, text: str) -> torch.Tensor:
        """(max_tokens, embed_dim) embedding of ``text``; computed and cached for the hash encoder."""
        if text not in self._embeddings:
            if self.encoder != "hash":
                raise KeyError(missing_instruction_message(text, len(self), self.encoder))
            self._embeddings[text] = hash_embedding(text, self.max_tokens, self.embed_dim)
        return self._embeddings[text]

    def batch(self, texts: list[str]) -> torch.Tensor:
        """(B, max_tokens, embed_dim) float32 for a list of instructions."""
        return torch.stack([self.get(t) for t in texts])

    def save(self, path: str | Path) -> None:
        texts = self.texts
        tensors = {f"embedding.{i}": self._embeddings[t].contiguous() for i, t in enumerate(texts)}
        save_file(tensors, str(path), metadata={TEXTS_METADATA_KEY: json.dumps(texts)})

    def load(self, path: str | Path) -> None:
        """Add every embedding stored in a file written by ``save``."""
        with safe_open(str(path), framework="pt") as handle:
            texts = json.loads(handle.metadata()[TEXTS_METADATA_KEY])
        tensors = load_file(str(path))
        for i, text in enumerate(texts):
            self.add(text, tensors[f"embedding.{i}"])
