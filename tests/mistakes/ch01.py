"""Chapter 1: merge_pair, CharTokenizer and bpe_encode_chunk, wrong."""

from itertools import pairwise

from minigpt.bpe import merge_pair as package_merge_pair
from minigpt.tokenization import CharTokenizer

from .registry import mistake


@mistake("merge_pair", "continue two places on (i += 2)")
def steps_by_one(ids, pair, new_id):
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
        else:
            merged.append(ids[i])
        i += 1  # the second id of a merged pair is visited again
    return merged


@mistake("merge_pair", "only the first occurrence was merged")
def first_occurrence_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [new_id] + ids[i + 2 :]
    return list(ids)


@mistake("merge_pair", "the last id was dropped")
def drops_the_last_id(ids, pair, new_id):
    merged, i = [], 0
    while i < len(ids) - 1:  # stops one short
        if (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


@mistake("merge_pair", "the list passed in became")
def merges_in_place(ids, pair, new_id):
    i = 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == pair:
            ids[i : i + 2] = [new_id]
        i += 1
    return ids


@mistake("merge_pair", "the pair is ordered")
def ignores_the_order(ids, pair, new_id):
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and {ids[i], ids[i + 1]} == set(pair):
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


@mistake("char_tokenizer", "not in sorted order")
class FirstAppearanceOrder(CharTokenizer):
    @classmethod
    def from_text(cls, text):
        if not text:
            raise ValueError("empty text")
        return cls(list(dict.fromkeys(text)))  # ids in order of first appearance


@mistake("char_tokenizer", "names the unknown character")
class BareKeyError(CharTokenizer):
    def encode(self, text):
        return [self._ids[ch] for ch in text]


@mistake("char_tokenizer", "negative indexing")
class NegativeIdsDecode(CharTokenizer):
    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


@mistake("char_tokenizer", "distinct single characters")
class NoValidation(CharTokenizer):
    def __init__(self, chars):
        self.chars = list(chars)
        self._ids = {ch: i for i, ch in enumerate(self.chars)}


@mistake("bpe_encode_chunk", "leftmost mergeable pair")
def leftmost_pair_first(chunk, merges, byte_ids):
    ids = [byte_ids[b] for b in chunk]
    while True:
        pair = next((p for p in pairwise(ids) if p in merges), None)
        if pair is None:
            return ids
        ids = package_merge_pair(ids, pair, merges[pair])


@mistake("bpe_encode_chunk", "most frequent pair", absent="leftmost")
def most_frequent_pair_first(chunk, merges, byte_ids):
    ids = [byte_ids[b] for b in chunk]
    while True:
        candidates = [p for p in pairwise(ids) if p in merges]
        if not candidates:
            return ids
        pair = max(candidates, key=lambda p: (candidates.count(p), -merges[p]))
        ids = package_merge_pair(ids, pair, merges[pair])


@mistake("bpe_encode_chunk", "byte_ids[b] for b in chunk")
def ignores_byte_ids(chunk, merges, byte_ids):
    ids = list(chunk)
    while len(ids) >= 2:
        pair = min(pairwise(ids), key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break
        ids = package_merge_pair(ids, pair, merges[pair])
    return ids
