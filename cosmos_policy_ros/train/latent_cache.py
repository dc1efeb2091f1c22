# SPDX-License-Identifier: Apache-2.0
"""VAE-latent cache: the VAE is frozen, so each sample's latents are computed once.

A sample's latents are the VAE encoding of its whole pixel sequence (current and future images;
the causal VAE makes every frame depend on the earlier ones, so whole sequences are cached, keyed
by the sample's index in the concatenated training sets).

* ``memory``: computed on first use by each rank, kept in RAM.
* ``disk``: one ``latents.npy`` (N, C, T, h, w) float32 under ``<output_dir>/latent_cache``,
  filled once before training (rank r encodes rows r, r + world, ...) and memory-mapped by every
  rank; ``latents.json`` holds a fingerprint (VAE weights, training sets, shape) so a changed VAE
  or data set rebuilds it. Needs a file system shared by the ranks (one node).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from cosmos_policy_ros.core import features
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.data.training_set import INDEX_FILE

LOG = logging.getLogger(__name__)
CACHE_FILE = "latents.npy"
FINGERPRINT_FILE = "latents.json"
ENCODE_BATCH = 8  # samples per VAE call while filling the disk cache


def fingerprint(model: CosmosPolicy, data_roots: Sequence[str], num_samples: int) -> dict:
    """What the cached latents depend on: VAE weights, image size, training-set indexes, count."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.vae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    data = hashlib.sha256(b"".join((Path(r) / INDEX_FILE).read_bytes() for r in data_roots)).hexdigest()
    return {"vae_sha256": digest.hexdigest(), "data_sha256": data, "num_samples": num_samples,
            "image_size": [model.config.layout.image_height, model.config.layout.image_width]}


def _encode(model: CosmosPolicy, samples: list[dict]) -> torch.Tensor:
    batch = {key: torch.stack([torch.as_tensor(s[key]) for s in samples])
             for key in (features.OBS_IMAGES, features.FUTURE_IMAGES)}
    return model.encode_videos(batch).float().cpu()


class LatentCache:
    """Latents (B, C, T, h, w) of samples by base index.

    Args:
        mode: ``memory`` or ``disk``.
        model: the model whose (frozen) VAE encodes.
        base: dataset indexed by base index (the concatenated training sets).
        folder: cache folder (disk mode).
        key: ``fingerprint(...)`` of this run (disk mode).
    """

    def __init__(self, mode: str, model: CosmosPolicy, base: Dataset, folder: Path | None = None,
                 key: dict | None = None) -> None:
        if mode not in ("memory", "disk"):
            raise ValueError(f"latent cache mode={mode!r} must be memory or disk")
        self.mode, self.model, self.base = mode, model, base
        self.folder, self.key = folder, key
        self._memory: dict[int, torch.Tensor] = {}
        self._rows: np.ndarray | None = None

    def fill_disk(self, rank: int, world_size: int, barrier: Callable[[], None],
                  progress: Callable = lambda items, **_: items) -> None:
        """Build (or reuse) the disk cache; every rank must call it."""
        if self.folder is None or self.key is None:
            raise ValueError("the disk latent cache needs a folder and a fingerprint key")
        path, meta = self.folder / CACHE_FILE, self.folder / FINGERPRINT_FILE
        valid = meta.is_file() and json.loads(meta.read_text()) == self.key and path.is_file()
        if not valid:
            shape = tuple(_encode(self.model, [self.base[0]]).shape[1:])
            if rank == 0:
                self.folder.mkdir(parents=True, exist_ok=True)
                meta.unlink(missing_ok=True)
                np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                          shape=(len(self.base), *shape)).flush()
            barrier()
            rows = np.load(path, mmap_mode="r+")
            mine = list(range(rank, len(self.base), world_size))
            chunks = [mine[i:i + ENCODE_BATCH] for i in range(0, len(mine), ENCODE_BATCH)]
            for chunk in progress(chunks, desc="VAE latent cache", unit="batch"):
                rows[chunk] = _encode(self.model, [self.base[i] for i in chunk]).numpy()
            rows.flush()
            del rows
            barrier()
            if rank == 0:
                meta.write_text(json.dumps(self.key, indent=2))
            LOG.info("latent cache written: %s", path)
        barrier()
        self._rows = np.load(path, mmap_mode="r")

    def latents(self, base_indices: Sequence[int], batch: dict) -> torch.Tensor:
        """(B, C, T, h, w) float32 latents of the batch's samples (``batch`` supplies the images)."""
        indices = [int(i) for i in base_indices]
        if self.mode == "disk":
            if self._rows is None:
                raise RuntimeError("disk latent cache used before fill_disk()")
            return torch.from_numpy(np.stack([self._rows[i] for i in indices]))
        missing = [j for j, i in enumerate(indices) if i not in self._memory]
        if missing:
            pick = {key: torch.as_tensor(batch[key])[missing]
                    for key in (features.OBS_IMAGES, features.FUTURE_IMAGES)}
            for j, latent in zip(missing, self.model.encode_videos(pick).float().cpu()):
                self._memory[indices[j]] = latent
        return torch.stack([self._memory[i] for i in indices])
