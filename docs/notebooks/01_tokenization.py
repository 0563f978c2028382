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
# # Notebook 1: build a tokenizer from scratch
#
# Companion to [Chapter 1, Tokenization](../01-tokenization.md). You will write a character
# tokenizer and the byte-pair encoding (BPE) algorithm with nothing but Python, check that they
# agree with `minigpt`'s versions, and finally encode text with GPT-2's own merges and get
# exactly the ids of GPT-2's tokenizer.
#
# Each exercise is followed by a solution cell. Try it yourself first, then run the solution
# and the check below it.

# %%
from collections import Counter
from itertools import pairwise

import regex

from minigpt.bpe import GPT2_SPLIT_PATTERN, BPETokenizer, merge_pair
from minigpt.tokenization import CharTokenizer, GPT2Tokenizer

# %% [markdown]
# The text we train on is written into the notebook, so nothing needs to be downloaded.
# Change it and rerun the cells below: every check should still pass.

# %%
text = (
    "Every moment is a beginning, and for a language model every moment is a token. The model "
    "never sees letters or words: it sees a list of integers, one for each token, and a token "
    "is whatever piece of text the tokenizer chose to keep together. Frequent words become "
    "single tokens, rare words are assembled from smaller pieces, and any string at all, from "
    "a line of poetry to a line of code, can still be written down, because the smallest "
    "pieces are bytes. The tokenizer is trained before the model, by counting which "
    "neighbouring pieces appear together most often and merging them, again and again, until "
    "the vocabulary reaches the size we asked for. After that it is frozen: the model learns "
    "to read the tokens it is given."
)
print(len(text), "characters")

# %% [markdown]
# ## 1. A character tokenizer
#
# **Exercise 1.** Build the vocabulary: the distinct characters of `text`, *sorted* (so the
# same text always gives the same ids). Then write `char_encode(s)` (a list of ids) and
# `char_decode(ids)` (back to a string).

# %%
# Solution
chars = sorted(set(text))
char_to_id = {ch: i for i, ch in enumerate(chars)}


def char_encode(s: str) -> list[int]:
    return [char_to_id[ch] for ch in s]


def char_decode(ids: list[int]) -> str:
    return "".join(chars[i] for i in ids)


print(len(chars), "characters in the vocabulary:", "".join(chars))
print(char_encode("Every moment"))

# %%
reference = CharTokenizer.from_text(text)
assert chars == reference.chars
assert char_encode(text) == reference.encode(text)
assert char_decode(char_encode(text)) == text
print("character tokenizer matches minigpt's CharTokenizer")

# %% [markdown]
# **Exercise 2.** What does your tokenizer do with a character that is not in `text`, such as
# `"Z"` or an emoji? What does `CharTokenizer` do?

# %%
# Solution: ours raises a bare KeyError; minigpt's explains which character is missing.
for encode in (char_encode, reference.encode):
    try:
        encode("Zero")
    except (KeyError, ValueError) as error:
        print(type(error).__name__, error)

# %% [markdown]
# ## 2. Byte-pair encoding: the training loop
#
# BPE starts from bytes (ids 0 to 255) and repeatedly merges the most frequent pair of
# neighbouring ids into a new id. First, cut the text into chunks with GPT-2's regex (merges
# never cross a chunk boundary) and turn each chunk into its UTF-8 bytes.

# %%
chunks = regex.findall(GPT2_SPLIT_PATTERN, text)
words = [list(chunk.encode("utf-8")) for chunk in chunks]
print(chunks[:8])
print(words[:3])

# %% [markdown]
# **Exercise 3.** Write `merge(ids, pair, new_id)`: scan `ids` from left to right and replace
# every occurrence of the two neighbouring ids `pair` with `new_id`. Careful with overlaps:
# merging `(5, 5)` in `[5, 5, 5]` gives `[new_id, 5]`.

# %%
# Solution
def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


# %%
for ids, pair in [([1, 2, 3, 1, 2], (1, 2)), ([5, 5, 5], (5, 5)), ([7], (7, 7)), ([], (1, 2))]:
    assert merge(ids, pair, 99) == merge_pair(ids, pair, 99), (ids, pair)
print(merge([5, 5, 5], (5, 5), 99))

# %% [markdown]
# **Exercise 4.** Write the training loop. Each step counts every neighbouring pair in every
# word, picks the most frequent one (on a tie, the *smallest* pair, comparing `(left, right)`
# as numbers: that is `minigpt`'s rule), records it as merge number `256 + step`, and applies
# it to every word. Stop after `num_merges` steps, or earlier if no pair is left.
#
# This version recounts everything at every step. It is slow for large texts, which is why
# `BPETokenizer.train` updates the counts incrementally, but it must learn the same merges.

# %%
# Solution
def train_bpe(text: str, num_merges: int) -> dict[tuple[int, int], int]:
    words = [list(chunk.encode("utf-8")) for chunk in regex.findall(GPT2_SPLIT_PATTERN, text)]
    merges = {}
    for step in range(num_merges):
        counts = Counter(pair for word in words for pair in pairwise(word))
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        new_id = 256 + step
        merges[best] = new_id
        words = [merge(word, best, new_id) for word in words]
    return merges


my_merges = train_bpe(text, num_merges=100)
vocab = {i: bytes([i]) for i in range(256)}
for (left, right), new_id in my_merges.items():
    vocab[new_id] = vocab[left] + vocab[right]
for (left, right), new_id in list(my_merges.items())[:8]:
    print(new_id, vocab[left], "+", vocab[right], "->", vocab[new_id])

# %%
trained = BPETokenizer.train(text, vocab_size=256 + 100)
assert list(my_merges.items()) == list(trained.merges.items())  # same merges, same order
print("our training loop learns exactly BPETokenizer.train's", len(my_merges), "merges")

# %% [markdown]
# ## 3. Encoding and decoding with the learned merges
#
# **Exercise 5.** Write `bpe_encode(s, merges)`: split `s` into chunks, start each chunk from
# its bytes, and as long as some neighbouring pair has been learned, merge the pair that was
# learned *first* (the lowest new id). Then write `bpe_decode(ids)` with the `vocab` built
# above.

# %%
# Solution
def bpe_encode(s: str, merges: dict[tuple[int, int], int], byte_ids=range(256)) -> list[int]:
    ids = []
    for chunk in regex.findall(GPT2_SPLIT_PATTERN, s):
        part = [byte_ids[b] for b in chunk.encode("utf-8")]
        while len(part) >= 2:
            candidates = [pair for pair in pairwise(part) if pair in merges]
            if not candidates:
                break
            first = min(candidates, key=lambda pair: merges[pair])
            part = merge(part, first, merges[first])
        ids.extend(part)
    return ids


def bpe_decode(ids: list[int]) -> str:
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


example = "Every moment is a beginning"
print(bpe_encode(example, my_merges))
print([vocab[i] for i in bpe_encode(example, my_merges)])

# %%
unseen = "Tomorrow brings new words, and naïve emoji 🌅 too."
for s in [example, unseen, text]:
    assert bpe_encode(s, my_merges) == trained.encode(s)
    assert bpe_decode(bpe_encode(s, my_merges)) == s
print("our encoder and decoder match BPETokenizer on seen and unseen text")

# %% [markdown]
# **Exercise 6.** How many characters per token does your tokenizer achieve on `text`, and on
# `unseen`? Why the difference?

# %%
# Solution: the merges were learned on `text`, so they fit it much better than new text.
for name, s in [("training text", text), ("unseen text", unseen)]:
    print(f"{name}: {len(s) / len(bpe_encode(s, my_merges)):.2f} characters per token")

# %% [markdown]
# ## 4. GPT-2's merges in your encoder
#
# GPT-2's tokenizer is the same algorithm with merges learned from a large web corpus.
# `BPETokenizer.from_tiktoken` recovers those merges from tiktoken's table. GPT-2 also
# numbers the 256 bytes in its own order, so your encoder needs that mapping (`byte_ids`).
# Run **your** `bpe_encode` with GPT-2's merges and compare with GPT-2's tokenizer.

# %%
gpt2 = GPT2Tokenizer()
gpt2_bpe = BPETokenizer.from_tiktoken(gpt2.encoding)
print(len(gpt2_bpe.merges), "merges")

samples = [example, "Tokenizers can't count: 1234567 sunsets 🌅", unseen, text]
for s in samples:
    assert bpe_encode(s, gpt2_bpe.merges, gpt2_bpe.byte_ids) == gpt2.encode(s), s
print(bpe_encode(example, gpt2_bpe.merges, gpt2_bpe.byte_ids), gpt2.tokens(example))
print("your BPE encoder reproduces GPT-2's token ids")

# %% [markdown]
# **Exercise 7 (open).** Find a word that GPT-2 splits into many tokens, and one that is a
# single token only *with* a leading space. `gpt2.tokens(...)` shows the pieces.

# %%
# One possible answer
for s in ["antidisestablishmentarianism", " antidisestablishmentarianism", "moment", " moment"]:
    print(repr(s), gpt2.tokens(s))
