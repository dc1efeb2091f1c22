# SPDX-License-Identifier: Apache-2.0
"""Instruction embeddings: the official pickle imported safely, new ones encoded as upstream does.

The pickle is written the way upstream writes ``*_t5_embeddings.pkl`` (``pickle.dump`` of
``{instruction: embedding.to(bfloat16).cpu()}``, ``cosmos_policy/datasets/t5_embedding_utils.py``);
the T5 is a tiny random ``T5EncoderModel`` with a Unigram tokenizer, saved to a folder here; the
reference encoding is upstream's ``encode_prompts`` (``get_t5_emb.py`` L59-120) written out.
"""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cosmos_policy_ros.cli import main as cli
from cosmos_policy_ros.core.config import get_preset
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.official_text import UnsafePickleError, load_official_embeddings

T5_TOKENS = 512  # spec 1.3: padding / truncation to 512
T5_WIDTH = 16
INSTRUCTIONS = ["put the cube in the bowl", "pick up the red block"]


def _checkpoint(tmp_path: Path) -> Path:
    """A tiny T5-conditioned checkpoint: 512 text tokens of the tiny T5's width."""
    torch.manual_seed(0)
    config = get_preset("tiny")
    config = config.replace(dit=dataclasses.replace(config.dit, text_max_tokens=T5_TOKENS, text_embed_dim=T5_WIDTH),
                            text_encoder="t5-11b")
    return CosmosPolicy(config).save_pretrained(tmp_path / "checkpoint")


def _tiny_t5(folder: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import T5Config, T5EncoderModel, T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -3.0)]
    pieces += [("\u2581" + w, -1.0) for w in "put the cube in bowl pick up red block".split()]
    pieces += [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=2))
    tokenizer.pre_tokenizer, tokenizer.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    T5TokenizerFast(tokenizer_object=tokenizer, eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
                    extra_ids=0).save_pretrained(folder)
    torch.manual_seed(1)
    T5EncoderModel(T5Config(vocab_size=len(pieces), d_model=T5_WIDTH, d_kv=4, d_ff=32, num_layers=2,
                            num_heads=4)).save_pretrained(folder)
    return folder


def official_encode(texts: list[str], folder: Path) -> torch.Tensor:
    """Upstream's CosmosT5TextEncoder.encode_prompts, then the bf16 cast of generate_t5_embeddings."""
    from transformers import T5EncoderModel, T5TokenizerFast

    tokenizer = T5TokenizerFast.from_pretrained(folder)
    encoder = T5EncoderModel.from_pretrained(folder).eval()
    batch = tokenizer(texts, return_tensors="pt", truncation=True, padding="max_length", max_length=T5_TOKENS,
                      return_length=True)
    with torch.inference_mode():
        encoded = encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    lengths = batch.attention_mask.sum(dim=1)
    encoded = encoded.clone()
    for b in range(encoded.shape[0]):
        encoded[b][lengths[b]:] = 0
    return encoded.to(torch.bfloat16).cpu()


class WritesFile:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_official_pickle_is_imported_into_the_checkpoint(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path)
    torch.manual_seed(2)
    official = {text: torch.randn(1, T5_TOKENS, T5_WIDTH).to(torch.bfloat16).cpu() for text in INSTRUCTIONS}
    with open(tmp_path / "aloha_t5_embeddings.pkl", "wb") as handle:
        pickle.dump(official, handle)
    assert cli(["import-embeddings", str(tmp_path / "aloha_t5_embeddings.pkl"), str(checkpoint)]) == 0
    model = CosmosPolicy.from_pretrained(checkpoint)
    for text, embedding in official.items():
        assert torch.equal(model.text_cache.get(text), embedding[0].float())


def test_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path)
    marker = tmp_path / "payload_ran"
    with open(tmp_path / "evil.pkl", "wb") as handle:
        pickle.dump({"put the cube in the bowl": torch.zeros(1, T5_TOKENS, T5_WIDTH), "x": WritesFile(marker)},
                    handle)
    with pytest.raises(UnsafePickleError, match="io.open"):
        load_official_embeddings(tmp_path / "evil.pkl")
    assert cli(["import-embeddings", str(tmp_path / "evil.pkl"), str(checkpoint)]) == 1
    assert not marker.exists()
    assert len(CosmosPolicy.from_pretrained(checkpoint).text_cache) == 0


def test_embed_instructions_equals_the_official_encoding(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path)
    t5 = _tiny_t5(tmp_path / "t5")
    assert cli(["embed-instructions", str(checkpoint), *INSTRUCTIONS, "--t5", str(t5)]) == 0
    reference = official_encode(INSTRUCTIONS, t5)
    model = CosmosPolicy.from_pretrained(checkpoint)
    for text, expected in zip(INSTRUCTIONS, reference):
        ours = model.text_cache.get(text)
        assert torch.equal(ours, expected.float())
        real_tokens = int((ours.abs().sum(dim=1) > 0).sum())
        assert 0 < real_tokens < T5_TOKENS and not ours[real_tokens:].any()  # zero past </s>


def test_missing_instruction_names_both_commands(tmp_path: Path) -> None:
    model = CosmosPolicy.from_pretrained(_checkpoint(tmp_path))
    with pytest.raises(KeyError) as error:
        model.embed_instructions(["fold the shirt"])
    message = error.value.args[0]
    assert "'fold the shirt'" in message and "import-embeddings" in message and "embed-instructions" in message
    images = {c: np.zeros((32, 32, 3), np.uint8) for c in model.config.layout.camera_names}
    with pytest.raises(KeyError, match="embed-instructions"):
        model.act(images, np.zeros(model.config.layout.proprio_dim), "fold the shirt")
