"""Chapter 11 — training data: a corpus, encoded once into token ids, sampled in random blocks.

The pipeline:

1. `minigpt.corpus.resolve_corpus` finds the text: a named corpus (`tinyshakespeare`,
   downloaded once into a cache folder and checked against its SHA-256) or any UTF-8 file.
2. `load_dataset` encodes it with a tokenizer, chunk by chunk, into a compact array of ids on
   disk (uint16 when the vocabulary fits, else uint32) and memory-maps it, so a corpus larger
   than memory works. The encoded array is cached, keyed by the corpus's hash and the
   tokenizer's identity, so the second run starts instantly. The first 90 % of the ids are the
   training split, the last 10 % the validation split.
3. `BatchSampler` (built on `get_batch`) cuts random contiguous blocks out of a split: the
   input is a block of ids, the target the same block shifted by one token. It owns its random
   generator, so batches are reproducible and the generator's state can be checkpointed.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .corpus import cache_dir, read_text_chunks, resolve_corpus
from .files import file_sha256, remove_stale_temporaries, temporary_path, write_text_atomic
from .tokenization import CharTokenizer, Tokenizer, get_tokenizer


def build_tokenizer(spec: str | os.PathLike[str] | Tokenizer, corpus: Path) -> Tokenizer:
    """A tokenizer from its name ("char", "gpt2"), a saved BPE file, or an existing one.

    A "char" vocabulary is collected from the corpus piece by piece (sorted, like
    `CharTokenizer.from_text`), so the whole text never has to be in memory.
    """
    if not isinstance(spec, (str, os.PathLike)):
        return spec
    if str(spec) == "char":
        chars: set[str] = set()
        for chunk in read_text_chunks(corpus):
            chars.update(chunk)
        if not chars:
            raise ValueError(f"corpus {corpus} is empty: it needs some text to train on")
        return CharTokenizer(sorted(chars))
    return get_tokenizer(spec)


def tokenizer_key(tokenizer: Tokenizer) -> str:
    """A short fingerprint of a tokenizer: its name and a hash of its `to_dict()`."""
    state = json.dumps(tokenizer.to_dict(), sort_keys=True, ensure_ascii=False)
    return f"{tokenizer.name}-{hashlib.sha256(state.encode('utf-8')).hexdigest()[:16]}"


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds every id: uint16 up to 65,536 tokens."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


# --8<-- [start:encode_corpus]
def encode_corpus(
    corpus: Path, tokenizer: Tokenizer, destination: Path, chunk_chars: int = 1 << 20
) -> int:
    """Encode a text file piece by piece into a flat binary file of ids; returns their count.

    Only one piece of text is in memory at a time, so the corpus may be larger than RAM.
    """
    dtype = token_dtype(tokenizer.vocab_size)
    count = 0
    with open(destination, "wb") as f:
        for chunk in read_text_chunks(corpus, chunk_chars):
            ids = np.asarray(tokenizer.encode(chunk), dtype=dtype)
            ids.tofile(f)
            count += len(ids)
    return count
    # --8<-- [end:encode_corpus]


@dataclass
class TokenDataset:
    """A corpus encoded into ids, split into training and validation parts.

    `tokens` is usually a read-only `np.memmap`: slicing it reads only those ids from disk.
    """

    tokens: np.ndarray
    tokenizer: Tokenizer
    val_fraction: float = 0.1
    corpus: Path | None = None
    path: Path | None = None  # the .bin file holding `tokens`

    @property
    def split_index(self) -> int:
        return len(self.tokens) - int(len(self.tokens) * self.val_fraction)

    @property
    def train(self) -> np.ndarray:
        """The first 90 % (by default) of the ids."""
        return self.tokens[: self.split_index]

    @property
    def val(self) -> np.ndarray:
        """The last 10 % (by default) of the ids."""
        return self.tokens[self.split_index :]

    def split(self, name: str) -> np.ndarray:
        if name not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {name!r}")
        return self.train if name == "train" else self.val


def load_dataset(
    data: str | os.PathLike[str],
    tokenizer: str | os.PathLike[str] | Tokenizer = "char",
    val_fraction: float = 0.1,
    cache: bool = True,
) -> TokenDataset:
    """Encode the corpus `data` (a name or a path) with `tokenizer` and memory-map the ids.

    The ids are stored under `cache_dir()/tokens/<corpus hash>-<tokenizer fingerprint>/`, so the
    same corpus and tokenizer are encoded only once. `cache=False` re-encodes (into the same
    place). An empty corpus raises a ValueError.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    corpus = resolve_corpus(data)
    if corpus.stat().st_size == 0:
        raise ValueError(f"corpus {corpus} is empty: it needs some text to train on")
    tok = build_tokenizer(tokenizer, corpus)
    folder = cache_dir() / "tokens" / f"{file_sha256(corpus)[:16]}-{tokenizer_key(tok)}"
    bin_path, meta_path = folder / "tokens.bin", folder / "meta.json"
    dtype = token_dtype(tok.vocab_size)
    meta = _read_meta(meta_path) if cache else None
    if meta is not None and not _cached_ids_intact(bin_path, meta, dtype):
        if "sha256" in meta:  # an older cache has no checksum: it is simply encoded again
            warnings.warn(
                f"the cached token ids {bin_path} do not match their checksum (the file was "
                f"damaged); encoding the corpus again",
                RuntimeWarning,
                stacklevel=2,
            )
        meta = None
    if meta is None:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder)
        temporary = temporary_path(bin_path)
        try:
            count = encode_corpus(corpus, tok, temporary)
            meta = {
                "num_tokens": count,
                "dtype": dtype.name,
                "sha256": file_sha256(temporary),
                "corpus": str(corpus),
                "tokenizer": tok.to_dict(),
            }
            os.replace(temporary, bin_path)
            write_text_atomic(meta_path, json.dumps(meta, ensure_ascii=False))
        finally:
            temporary.unlink(missing_ok=True)
    if meta["num_tokens"] == 0:
        raise ValueError(f"corpus {corpus} encodes to no tokens: it needs some text to train on")
    tokens = np.memmap(bin_path, dtype=dtype, mode="r")
    return TokenDataset(tokens, tok, val_fraction, corpus, bin_path)


def _cached_ids_intact(bin_path: Path, meta: dict[str, Any], dtype: np.dtype) -> bool:
    """The cached ids are exactly the ones encoded: right size and right SHA-256."""
    try:
        size_ok = bin_path.stat().st_size == meta["num_tokens"] * dtype.itemsize
        return size_ok and file_sha256(bin_path) == meta.get("sha256")
    except (OSError, KeyError, TypeError):
        return False


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --8<-- [start:get_batch]
def get_batch(
    tokens: np.ndarray, batch_size: int, block_size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """`batch_size` random blocks of `block_size` ids, and the same blocks shifted by one.

    Target `y[b, t]` is the token that follows input `x[b, t]`: the model learns to predict
    every next token of the block at once.
    """
    starts = torch.randint(len(tokens) - block_size, (batch_size,), generator=generator)
    return blocks_at(tokens, starts, block_size)


def blocks_at(tokens: np.ndarray, starts: Tensor, block_size: int) -> tuple[Tensor, Tensor]:
    """Inputs and targets for blocks beginning at each of `starts`."""
    x = np.stack([tokens[s : s + block_size] for s in starts.tolist()]).astype(np.int64)
    y = np.stack([tokens[s + 1 : s + 1 + block_size] for s in starts.tolist()]).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)
    # --8<-- [end:get_batch]


def check_split_size(tokens: np.ndarray, block_size: int, name: str = "data") -> None:
    """A split must hold at least one block plus its next-token target."""
    if len(tokens) < block_size + 1:
        raise ValueError(
            f"the {name} split has {len(tokens)} tokens, fewer than block_size + 1 = "
            f"{block_size + 1}; use a longer corpus or a smaller block_size"
        )


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """Move a batch to `device`; on CUDA through pinned memory, without waiting for the copy."""
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


# --8<-- [start:batch_sampler]
class BatchSampler:
    """Random (input, target) batches from one split, reproducible from `seed`.

    The sampler owns its `torch.Generator`; `state_dict()` saves it (as a tensor) so a resumed
    run draws exactly the batches the uninterrupted run would have drawn.
    """

    def __init__(
        self,
        tokens: np.ndarray,
        batch_size: int,
        block_size: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        name: str = "train",
    ) -> None:
        check_split_size(tokens, block_size, name)
        self.tokens, self.batch_size, self.block_size = tokens, batch_size, block_size
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> tuple[Tensor, Tensor]:
        x, y = get_batch(self.tokens, self.batch_size, self.block_size, self.generator)
        return to_device(x, self.device), to_device(y, self.device)

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])
        # --8<-- [end:batch_sampler]


class FixedBatches:
    """The same `num_batches` batches every time: evaluations compare like with like."""

    def __init__(
        self,
        tokens: np.ndarray,
        num_batches: int,
        batch_size: int,
        block_size: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        name: str = "val",
    ) -> None:
        check_split_size(tokens, block_size, name)
        generator = torch.Generator().manual_seed(seed)
        self.starts = torch.randint(
            len(tokens) - block_size, (num_batches, batch_size), generator=generator
        )
        self.tokens, self.block_size = tokens, block_size
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.starts)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for starts in self.starts:
            x, y = blocks_at(self.tokens, starts, self.block_size)
            yield to_device(x, self.device), to_device(y, self.device)
