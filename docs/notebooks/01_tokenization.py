# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Notebook 1: a tokenizer from scratch, a worksheet
#
# Companion to [Chapter 1, Tokenization](../01-tokenization.md). You will predict how GPT-2
# splits a few words, then write the three pieces of a tokenizer yourself: `merge_pair`, the
# step that byte-pair encoding repeats; `CharTokenizer`, the simplest tokenizer there is; and
# `bpe_encode_chunk`, which encodes text with learned merges. With the package's merges for
# GPT-2, an encoder like yours reproduces GPT-2's token ids exactly.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# and prints ✓ or ✗ with a hint for each check. Every other cell uses the package's code, so
# the notebook runs from top to bottom whether or not you are done. The solutions are in the
# [chapter's exercises](../01-tokenization.md#exercises), folded away. The same checks run from
# a terminal: `minigpt check merge_pair my_file.py`.

# %%
from collections.abc import Sequence

import minigpt.bpe
import minigpt.tokenization
from minigpt.exercises import check, folded

gpt2 = minigpt.tokenization.GPT2Tokenizer()

# %% [markdown]
# ## Exercise 1 (predict): one word, four spellings
#
# The chapter tokenized `" moment"` and its relatives. How many GPT-2 tokens are
# `" beginning"`, `"beginning"`, `" Beginning"` and `" beginnings"`, and do any two of them
# share an id? Guess, then run the cell and open the answer.

# %%
folded(
    "\n".join(
        f"{word!r:>13}: {gpt2.tokens(word)} {gpt2.encode(word)}"
        for word in [" beginning", "beginning", " Beginning", " beginnings"]
    )
)

# %% [markdown]
# ## Exercise 2 (implement): merge_pair
#
# Write `merge_pair(ids, pair, new_id)`: scan `ids` from left to right and replace every
# occurrence of the two neighbouring ids `pair` by `new_id`, returning a new list. Careful with
# overlaps: merging `(5, 5)` in `[5, 5, 5]` gives `[new_id, 5]`.


# %%
def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    raise NotImplementedError("merge each occurrence")


# %%
check("merge_pair", merge_pair)

# %% [markdown]
# ## Exercise 3 (implement): CharTokenizer
#
# One id per character: `CharTokenizer(chars)` numbers the characters of the list `chars` in
# order (and rejects duplicates or entries longer than one character with a `ValueError`);
# `CharTokenizer.from_text(text)` builds it from the *sorted* distinct characters of a text, so
# the same text always gives the same ids. `vocab_size` is the number of characters; `encode`
# and `decode` convert between text and ids, raising `ValueError` for a character or an id the
# tokenizer does not know.


# %%
class CharTokenizer:
    def __init__(self, chars: Sequence[str]) -> None:
        raise NotImplementedError("keep chars, map each to its id")

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        raise NotImplementedError("sorted characters of text")

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError("one id per character")

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError("one character per id")


# %%
check("char_tokenizer", CharTokenizer)

# %% [markdown]
# ## Exercise 4 (implement): bpe_encode_chunk
#
# Training (chapter 1) learns merges, a dictionary `{(left, right): new_id}` in the order they
# were learned, so a lower `new_id` means an earlier merge. To encode a chunk of text, start from
# the ids of its bytes, `[byte_ids[b] for b in chunk]` (GPT-2 numbers the 256 bytes in its own
# order; tokenizers trained here use `range(256)`), then, as long as some neighbouring pair has
# been learned, merge the one that was learned *first*. Use `merge_pair` (yours, once it
# passes). Return the final list of ids.


# %%
def bpe_encode_chunk(
    chunk: bytes,
    merges: dict[tuple[int, int], int],
    byte_ids: Sequence[int],
) -> list[int]:
    raise NotImplementedError("replay the merges")


# %%
check("bpe_encode_chunk", bpe_encode_chunk)

# %% [markdown]
# ## Train a tokenizer and watch it encode
#
# The package's `BPETokenizer.train` learns merges with exactly the loop you replayed in
# Exercise 4. Train 100 merges on a paragraph, look at the first few, and compare how many
# characters each token covers on the training text and on new text. Why the difference?

# %%
text = (
    "Every moment is a beginning, and for a language model every moment is a token. The model "
    "never sees letters or words: it sees a list of integers, one for each token, and a token "
    "is whatever piece of text the tokenizer chose to keep together. Frequent words become "
    "single tokens, rare words are assembled from smaller pieces, and any string at all can "
    "still be written down, because the smallest pieces are bytes."
)
tokenizer = minigpt.bpe.BPETokenizer.train(text, vocab_size=256 + 100)
for (left, right), new_id in list(tokenizer.merges.items())[:6]:
    pieces = tokenizer.vocab[left], tokenizer.vocab[right], tokenizer.vocab[new_id]
    print(new_id, pieces[0], "+", pieces[1], "->", pieces[2])

unseen = "Tomorrow brings new words, and naïve emoji 🌅 too."
for name, s in [("training text", text), ("unseen text", unseen)]:
    print(f"{name}: {len(s) / len(tokenizer.encode(s)):.2f} characters per token")

# %% [markdown]
# The merges were learned on `text`, so they fit it far better than text they have never seen.
#
# **Going further.** Find a word that GPT-2 splits into many tokens, and one that is a single
# token only *with* a leading space; `gpt2.tokens(...)` shows the pieces.
