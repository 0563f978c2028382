"""Chapter 1 — tokenization: turn text into the integer ids a language model reads, and back.

Three tokenizers share one small interface (`Tokenizer`):

* `CharTokenizer`: one id per character of a corpus. Tiny vocabulary, long sequences.
* `BPETokenizer` (in `minigpt.bpe`): byte-level byte-pair encoding written from scratch, so
  every step of training and encoding can be read. With GPT-2's merges it equals tiktoken.
* `GPT2Tokenizer`: GPT-2's tokenizer through tiktoken, the fast choice for real training.

Every tokenizer can be stored as a JSON-compatible dict (`to_dict` / `tokenizer_from_dict`), so a
checkpoint can carry the exact tokenizer its model was trained with, without pickling.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import tiktoken

from .bpe import ENDOFTEXT, BPETokenizer, token_text

# tiktoken caches a downloaded file under the SHA-1 of its URL; this is the key for r50k_base.
GPT2_BPE_URL = "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken"
GPT2_BPE_CACHE_KEY = "0ea1e91bbb3a60f729a8dc8f777fd2fc07cd8df4"


class Tokenizer(Protocol):
    """What the rest of MiniGPT needs from a tokenizer."""

    name: str

    @property
    def vocab_size(self) -> int: ...

    @property
    def eot_token(self) -> int | None: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def tokens(self, text: str) -> list[str]: ...

    def to_dict(self) -> dict[str, Any]: ...


# --8<-- [start:char_tokenizer]
class CharTokenizer:
    """One token per character: the simplest tokenizer, built from the characters of a corpus."""

    name = "char"
    eot_token = None

    def __init__(self, chars: Sequence[str]) -> None:
        if len(set(chars)) != len(chars) or any(len(ch) != 1 for ch in chars):
            raise ValueError("chars must be distinct single characters")
        self.chars = list(chars)
        self._ids = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """Sorting makes the ids reproducible: the same corpus always gives the same vocabulary."""
        if not text:
            raise ValueError("cannot build a character tokenizer from empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as err:
            ch = err.args[0]
            raise ValueError(
                f"character {ch!r} (U+{ord(ch):04X}) at position {text.index(ch)} is not in the "
                f"tokenizer's vocabulary of {self.vocab_size} characters"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        for i in ids:
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is outside the vocabulary of {self.vocab_size}")
        return "".join(self.chars[i] for i in ids)
        # --8<-- [end:char_tokenizer]

    def tokens(self, text: str) -> list[str]:
        return [self.chars[i] for i in self.encode(text)]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "char", "chars": "".join(self.chars)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        chars = data.get("chars")
        if not isinstance(chars, str) or not chars:
            shown = "no 'chars'" if chars is None else f"'chars' {str(chars)[:40]}"
            raise ValueError(f"char tokenizer data has {shown}, not a non-empty text")
        return cls(list(chars))


# --8<-- [start:gpt2_tokenizer]
class GPT2Tokenizer:
    """GPT-2's byte-level BPE (tiktoken's r50k_base): 50,257 ids, the last one "<|endoftext|>"."""

    name = "gpt2"

    def __init__(self) -> None:
        self.encoding = load_gpt2_encoding()

    @property
    def vocab_size(self) -> int:
        return self.encoding.n_vocab

    @property
    def eot_token(self) -> int:
        return self.encoding.eot_token

    def encode(self, text: str) -> list[int]:
        """Encode text; a literal "<|endoftext|>" becomes the document separator token."""
        return self.encoding.encode(text, allowed_special={ENDOFTEXT})

    def decode(self, ids: Sequence[int]) -> str:
        return self.encoding.decode(list(ids))

    def tokens(self, text: str) -> list[str]:
        """Each token's text. A token can hold part of a character (emoji often span several
        tokens); its bytes are then shown escaped, like '\\xf0\\x9f'."""
        single = self.encoding.decode_single_token_bytes
        return [token_text(single(i)) for i in self.encode(text)]
        # --8<-- [end:gpt2_tokenizer]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "gpt2"}


def load_gpt2_encoding() -> tiktoken.Encoding:
    """Load r50k_base, turning a failed download into advice on working offline."""
    try:
        return tiktoken.get_encoding("r50k_base")
    except OSError as err:  # requests' and urllib's network errors are OSErrors
        cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR", "<unset>")
        raise RuntimeError(
            f"could not download GPT-2's BPE file from {GPT2_BPE_URL} ({err.__class__.__name__})"
            f" and found no cached copy. To work offline, set TIKTOKEN_CACHE_DIR to a folder "
            f"holding that file saved under the name {GPT2_BPE_CACHE_KEY} (tiktoken's cache "
            f"key for it). TIKTOKEN_CACHE_DIR is currently {cache_dir}."
        ) from err


def get_tokenizer(name_or_path: str | os.PathLike[str], text: str | None = None) -> Tokenizer:
    """Pick a tokenizer by name ("gpt2", or "char" built from `text`) or a saved BPE file."""
    if name_or_path == "gpt2":
        return GPT2Tokenizer()
    if name_or_path == "char":
        if text is None:
            raise ValueError("the 'char' tokenizer is built from a corpus: pass text=...")
        return CharTokenizer.from_text(text)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        try:
            return BPETokenizer.load(path)
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError among them
            raise ValueError(
                f"tokenizer file {path} is not a BPE tokenizer saved with BPETokenizer.save "
                f"({type(err).__name__}: {err})"
            ) from None
    raise ValueError(
        f"unknown tokenizer {str(name_or_path)!r}: choose 'gpt2', 'char' or the path of a BPE file "
        "saved with BPETokenizer.save"
    )


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its `to_dict()` form, e.g. as stored in a checkpoint; data of
    the wrong shape is a ValueError."""
    if not isinstance(data, dict):
        raise ValueError(f"tokenizer data is a {type(data).__name__}, not a JSON object")
    kind = data.get("kind")
    if kind == "gpt2":
        return GPT2Tokenizer()
    if kind == "char":
        return CharTokenizer.from_dict(data)
    if kind == "bpe":
        return BPETokenizer.from_dict(data)
    raise ValueError(f"unknown tokenizer kind {kind!r}: expected 'gpt2', 'char' or 'bpe'")
