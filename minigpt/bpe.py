"""Chapter 1 — byte-pair encoding from scratch: learn merges from text, replay them to encode.

Text is cut into chunks by a regex, each chunk becomes its UTF-8 bytes, and learned merges
(pair of ids → new id) are replayed on the bytes, earliest-learned first. Loaded with GPT-2's
merges (`BPETokenizer.from_tiktoken`), this gives exactly tiktoken's ids; trained here
(`BPETokenizer.train`), it learns a vocabulary of its own.
"""

from __future__ import annotations

import heapq
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import regex
import tiktoken

from .files import read_bounded

ENDOFTEXT = "<|endoftext|>"

# GPT-2's rule for cutting text into chunks before BPE: contractions, runs of letters, runs of
# digits and runs of punctuation (each optionally led by one space), and whitespace. Merges
# happen only inside a chunk, so no token spans two chunks: " dog" is a token (id 3290) and so
# is ".", but " dog." never becomes one.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

AllowedSpecial = Collection[str] | Literal["all"]

# Limits on a tokenizer read from a file, which may come from anyone. A merge joins two tokens,
# so 41 merges that each double a token would need 2**41 bytes; bounding each token's length
# also bounds how deep merges nest (every merge adds at least one byte). GPT-2's longest token
# has 128 bytes and its whole vocabulary about 330 KB.
MAX_TOKEN_BYTES = 1024
MAX_VOCAB_BYTES = 2**26
MAX_MERGES = 2**20
MAX_TOKEN_ID = 2**31 - 1  # MiniGPTConfig.vocab_size's limit
MAX_FILE_BYTES = 2**26  # a saved GPT-2 tokenizer takes about 1 MB
MAX_PATTERN_CHARS = 4096  # GPT-2's split pattern has 71
# Seconds the split pattern may take on a text: one second plus 10 µs a character, at least 20
# times what GPT-2's pattern needs. A pattern that backtracks catastrophically is stopped here
# instead of hanging (the `regex` module checks the time while it matches).
SPLIT_SECONDS, SPLIT_SECONDS_PER_CHAR = 1.0, 1e-5


def token_text(token: bytes) -> str:
    """Show one token's bytes as text; a token holding part of a character shows its raw bytes."""
    return token.decode("utf-8", errors="backslashreplace")


# --8<-- [start:bpe_encode]
# --8<-- [start:merge_pair]
def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids`, scanning left to right, by `new_id`."""
    merged = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged
    # --8<-- [end:merge_pair]


def bpe_encode_chunk(
    chunk: bytes, merges: dict[tuple[int, int], int], byte_ids: Sequence[int]
) -> list[int]:
    """Apply learned merges to one chunk, always the earliest-learned (lowest-rank) one first.

    A merge's rank is the id it creates, so earlier merges have lower ids. Replaying them in that
    order rebuilds exactly the tokens that training would have produced for this chunk.
    """
    ids = [byte_ids[b] for b in chunk]
    while len(ids) >= 2:
        pair = min(pairwise(ids), key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break  # no adjacent pair was ever merged: the chunk is fully encoded
        ids = merge_pair(ids, pair, merges[pair])
    return ids
    # --8<-- [end:bpe_encode]


class PairCounts:
    """How often each adjacent pair occurs across all words, kept up to date merge by merge.

    Besides the counts it keeps, for each pair, the set of words containing it (so a merge only
    revisits those words) and a max-heap of (count, pair) entries. Counts change after a merge,
    so heap entries go stale; stale ones are skipped when popped instead of being searched for.
    """

    def __init__(self, words: list[list[int]], freqs: list[int]) -> None:
        self.counts: dict[tuple[int, int], int] = defaultdict(int)
        self.words: dict[tuple[int, int], set[int]] = defaultdict(set)
        for index, (word, freq) in enumerate(zip(words, freqs, strict=True)):
            for pair in pairwise(word):
                self.counts[pair] += freq
                self.words[pair].add(index)
        self.heap = [(-count, pair) for pair, count in self.counts.items()]
        heapq.heapify(self.heap)

    def most_frequent(self) -> tuple[int, int] | None:
        """The most frequent pair; ties go to the smallest pair, compared as (left, right) ids."""
        while self.heap:
            neg_count, pair = heapq.heappop(self.heap)
            if self.counts.get(pair) == -neg_count:
                return pair
        return None

    def replace_word(self, index: int, old: list[int], new: list[int], freq: int) -> None:
        """Update counts for word `index` changing from `old` to `new` (it occurs `freq` times)."""
        change = Counter(pairwise(new))
        change.subtract(pairwise(old))
        for pair, delta in change.items():
            if delta == 0:
                continue
            count = self.counts[pair] + delta * freq
            if count > 0:
                self.counts[pair] = count
                heapq.heappush(self.heap, (-count, pair))
            else:
                del self.counts[pair]
        new_pairs = set(pairwise(new))
        for pair in set(pairwise(old)) - new_pairs:
            self.words[pair].discard(index)
        for pair in new_pairs:
            self.words[pair].add(index)


class BPETokenizer:
    """Byte-level byte-pair encoding, from scratch.

    Text is cut into chunks by a regex `pattern`, each chunk becomes its UTF-8 bytes, and the
    `merges` (pair of ids -> new id, in the order they were learned) are replayed on the bytes.
    `byte_ids[b]` is the id of the single byte `b`: `b` itself for tokenizers trained here, a
    permutation for GPT-2. Special tokens (like "<|endoftext|>") bypass BPE entirely.
    """

    def __init__(
        self,
        merges: dict[tuple[int, int], int],
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: dict[str, int] | None = None,
        byte_ids: Sequence[int] = range(256),
        name: str = "bpe",
    ) -> None:
        self.merges = dict(merges)
        self.pattern = pattern
        self.special_tokens = dict(special_tokens or {})
        self.byte_ids = list(byte_ids)
        self.name = name
        self.vocab = {byte_id: bytes([b]) for b, byte_id in enumerate(self.byte_ids)}
        for (left, right), new_id in self.merges.items():
            self.vocab[new_id] = self.vocab[left] + self.vocab[right]
        for token, token_id in self.special_tokens.items():
            self.vocab[token_id] = token.encode("utf-8")
        self._compiled_pattern = regex.compile(pattern)
        self._chunk_cache: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return max(self.vocab) + 1

    @property
    def eot_token(self) -> int | None:
        return self.special_tokens.get(ENDOFTEXT)

    # --8<-- [start:bpe_train]
    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Sequence[str] = (),
    ) -> BPETokenizer:
        """Learn `vocab_size - 256 - len(special_tokens)` merges from `text`.

        Each step merges the most frequent adjacent pair (ties: the smallest pair of ids) into a
        new token. Repeated chunks are counted once, and a merge only recounts the words that
        contain its pair, so a step is far cheaper than a pass over the text. Training stops
        early if no pair is left to merge.
        """
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(f"vocab_size must be at least {256 + len(special_tokens)}")
        chunk_freqs = Counter(
            chunk
            for part, is_special in split_special_tokens(text, special_tokens)
            if not is_special
            for chunk in regex.findall(pattern, part)
        )
        words = [list(chunk.encode("utf-8")) for chunk in chunk_freqs]
        freqs = list(chunk_freqs.values())
        pairs = PairCounts(words, freqs)
        merges: dict[tuple[int, int], int] = {}
        for new_id in range(256, 256 + num_merges):
            pair = pairs.most_frequent()
            if pair is None:
                break
            merges[pair] = new_id
            for index in pairs.words.pop(pair):
                merged = merge_pair(words[index], pair, new_id)
                pairs.replace_word(index, words[index], merged, freqs[index])
                words[index] = merged
        first_special = 256 + len(merges)
        specials = {token: first_special + i for i, token in enumerate(special_tokens)}
        return cls(merges, pattern, specials)
        # --8<-- [end:bpe_train]

    def encode(self, text: str, allowed_special: AllowedSpecial = "all") -> list[int]:
        """Encode `text`; special tokens not in `allowed_special` are encoded as ordinary text."""
        if allowed_special == "all":
            allowed_special = self.special_tokens.keys()
        unknown = set(allowed_special) - self.special_tokens.keys()
        if unknown:
            raise ValueError(f"not special tokens of this tokenizer: {sorted(unknown)}")
        ids: list[int] = []
        for part, is_special in split_special_tokens(text, allowed_special):
            if is_special:
                ids.append(self.special_tokens[part])
                continue
            for chunk in self._split(part):
                if chunk not in self._chunk_cache:
                    self._chunk_cache[chunk] = tuple(
                        bpe_encode_chunk(chunk.encode("utf-8"), self.merges, self.byte_ids)
                    )
                ids.extend(self._chunk_cache[chunk])
        return ids

    def _split(self, text: str) -> list[str]:
        """Cut text into chunks with the pattern, within a time limit."""
        seconds = SPLIT_SECONDS + SPLIT_SECONDS_PER_CHAR * len(text)
        try:
            return self._compiled_pattern.findall(text, timeout=seconds)
        except TimeoutError:
            raise ValueError(
                f"the tokenizer's split pattern {self.pattern!r} took more than {seconds:.1f} s "
                f"on {len(text):,} characters: it backtracks catastrophically; use another "
                f"tokenizer"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        """Join the tokens' bytes; bytes that are not valid UTF-8 decode as U+FFFD."""
        return b"".join(self._token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def tokens(self, text: str) -> list[str]:
        return [token_text(self._token_bytes(i)) for i in self.encode(text)]

    def _token_bytes(self, token_id: int) -> bytes:
        try:
            return self.vocab[token_id]
        except KeyError:
            raise ValueError(f"token id {token_id} is not in the vocabulary") from None

    @classmethod
    def from_tiktoken(cls, encoding: tiktoken.Encoding) -> BPETokenizer:
        """Rebuild the merges behind a tiktoken encoding, which stores only token ranks.

        A token of rank r was made by merging two tokens of lower rank. Running BPE on its bytes
        with only the ranks below r stops at exactly those two tokens.
        """
        ranks: dict[bytes, int] = encoding._mergeable_ranks
        merges = {}
        for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
            if len(token) > 1:
                left, right = _split_token(token, ranks)
                merges[ranks[left], ranks[right]] = rank
        byte_ids = [ranks[bytes([b])] for b in range(256)]
        return cls(merges, encoding._pat_str, encoding._special_tokens, byte_ids, encoding.name)

    def to_tiktoken(self, name: str = "minigpt-bpe") -> tiktoken.Encoding:
        """Export as a tiktoken encoding (token bytes -> id), for fast encoding in Rust."""
        ranks = {self.vocab[i]: i for i in [*self.byte_ids, *self.merges.values()]}
        if len(ranks) != len(self.byte_ids) + len(self.merges):
            raise ValueError("two merges produce the same bytes, which tiktoken cannot represent")
        return tiktoken.Encoding(
            name, pat_str=self.pattern, mergeable_ranks=ranks, special_tokens=self.special_tokens
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form; `merges` lists [left, right, new_id] in the order learned."""
        return {
            "kind": "bpe",
            "name": self.name,
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "byte_ids": self.byte_ids,
            "merges": [[left, right, new_id] for (left, right), new_id in self.merges.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BPETokenizer:
        """Rebuild a tokenizer from `to_dict()`'s form. The data may come from a file anyone
        made, so every field is checked first (a ValueError names it), and no token may be
        longer than MAX_TOKEN_BYTES."""
        check_bpe_dict(data)
        merges = {(left, right): new_id for left, right, new_id in data["merges"]}
        return cls(merges, data["pattern"], data["special_tokens"], data["byte_ids"], data["name"])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write `to_dict()` as one JSON object (UTF-8)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BPETokenizer:
        """Read a file `save` wrote (at most MAX_FILE_BYTES), checked as `from_dict` does."""
        with open(path, "rb") as f:
            text = read_bounded(f, MAX_FILE_BYTES, f"tokenizer file {path}").decode("utf-8")
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("its JSON is nested too deeply") from None
        return cls.from_dict(data)


def check_bpe_dict(data: Any) -> None:
    """Refuse BPE data of the wrong shape, unknown ids, a bad pattern or oversized tokens."""
    if not isinstance(data, dict):
        raise ValueError(f"BPE tokenizer data is a {type(data).__name__}, not a JSON object")
    kinds = {"name": str, "pattern": str, "special_tokens": dict, "byte_ids": list, "merges": list}
    for key, kind in kinds.items():
        if key not in data:
            raise ValueError(f"BPE tokenizer data has no {key!r}")
        if not isinstance(data[key], kind):
            raise ValueError(
                f"BPE tokenizer's {key!r} is a {type(data[key]).__name__}, not a {kind.__name__}"
            )
    if len(data["pattern"]) > MAX_PATTERN_CHARS:
        raise ValueError(
            f"BPE tokenizer's 'pattern' has {len(data['pattern']):,} characters, more than the "
            f"{MAX_PATTERN_CHARS:,} allowed"
        )
    try:
        regex.compile(data["pattern"])
    except (regex.error, RecursionError, OverflowError) as err:
        raise ValueError(
            f"BPE tokenizer's 'pattern' is not a valid regular expression ({err})"
        ) from None
    byte_ids = data["byte_ids"]
    if len(byte_ids) != 256 or not all(_is_id(i) for i in byte_ids) or len(set(byte_ids)) != 256:
        raise ValueError("BPE tokenizer's 'byte_ids' must be 256 distinct ids, one per byte")
    lengths = dict.fromkeys(byte_ids, 1)
    specials = data["special_tokens"]
    if not all(isinstance(t, str) and t and _is_id(i) for t, i in specials.items()):
        raise ValueError("BPE tokenizer's 'special_tokens' must map non-empty texts to ids")
    merges = data["merges"]
    if len(merges) > MAX_MERGES:
        raise ValueError(f"BPE tokenizer has {len(merges):,} merges, more than {MAX_MERGES:,}")
    total = 256
    for index, merge in enumerate(merges):
        if not (isinstance(merge, list) and len(merge) == 3 and all(map(_is_id, merge))):
            raise ValueError(
                f"BPE tokenizer's 'merges' entry {index} is {str(merge)[:40]}, not three ids "
                f"[left, right, new]"
            )
        left, right, new_id = merge
        for part in (left, right):
            if part not in lengths:
                raise ValueError(
                    f"BPE tokenizer's merge {index} uses id {part}, which no byte or earlier "
                    f"merge makes"
                )
        if new_id in lengths:
            raise ValueError(f"BPE tokenizer's merge {index} makes id {new_id} a second time")
        lengths[new_id] = lengths[left] + lengths[right]
        total += lengths[new_id]
        if lengths[new_id] > MAX_TOKEN_BYTES:
            raise ValueError(
                f"BPE tokenizer's merge {index} makes a token of {lengths[new_id]:,} bytes, "
                f"longer than the {MAX_TOKEN_BYTES:,} allowed"
            )
        if total > MAX_VOCAB_BYTES:
            raise ValueError(
                f"BPE tokenizer's tokens take more than the {MAX_VOCAB_BYTES:,} bytes allowed"
            )
    clashes = sorted(set(specials.values()) & lengths.keys())
    if clashes or len(set(specials.values())) != len(specials):
        raise ValueError(
            f"BPE tokenizer's special tokens reuse ids {clashes or 'among themselves'}"
        )


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_ID


def split_special_tokens(text: str, specials: Collection[str]) -> Iterator[tuple[str, bool]]:
    """Yield (part, is_special): the pieces of `text` between special tokens, and the tokens."""
    if not specials:
        yield text, False
        return
    # Longest first, so a special token that contains another one wins.
    alternatives = "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True))
    for i, part in enumerate(re.split(f"({alternatives})", text)):
        if i % 2 == 1:
            yield part, True
        elif part:
            yield part, False


def _split_token(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """Split a token into the two lower-ranked tokens that BPE merged to create it."""
    max_rank = ranks[token]
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        best = None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < max_rank and (best is None or rank < best[0]):
                best = (rank, i)
        if best is None:
            break
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    if len(parts) != 2:
        raise ValueError(f"token {token!r} is not the merge of two lower-ranked tokens")
    return parts[0], parts[1]
