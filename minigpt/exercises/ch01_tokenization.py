"""Chapter 1's exercises: merge_pair, CharTokenizer and bpe_encode_chunk."""

from __future__ import annotations

from .. import bpe, tokenization
from .core import Exercise
from .tools import expect_equal, expect_raises, fail, hint_if_raises, observe, rng

merge_pair = Exercise(
    "merge_pair",
    1,
    bpe.merge_pair,
    "replace each occurrence of a pair by a new id, left to right",
)


# What the usual wrong versions return, each with the hint for its mistake.
def _no_skip(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        merged = i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair
        out.append(new_id if merged else ids[i])
        i += 1
    return out


def _first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return [*ids[:i], new_id, *ids[i + 2 :]]
    return list(ids)


def _drops_last(ids, pair, new_id):
    return bpe.merge_pair(ids, pair, new_id)[:-1] if ids and ids[-1] != pair[1] else None


def _unordered(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and {ids[i], ids[i + 1]} == set(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


MISTAKES = (
    (_no_skip, "after a merge, continue two places on (i += 2): the pair's second id is used up"),
    (_first_only, "only the first occurrence was merged: keep scanning to the end of the list"),
    (
        _drops_last,
        "the last id was dropped: when no pair starts at the last position, that id still "
        "goes into the result",
    ),
    (_unordered, "the pair is ordered: (a, b) matches a followed by b, not b followed by a"),
)


def _expect_merge(yours, ids, pair, new_id=9):
    with hint_if_raises(f"merge_pair({ids}, {pair}, {new_id}) failed"):
        result = observe(yours(list(ids), pair, new_id))
    expected = bpe.merge_pair(ids, pair, new_id)
    hint = next(
        (
            hint
            for wrong, hint in MISTAKES
            if result != expected and result == wrong(ids, pair, new_id)
        ),
        "",
    )
    expect_equal(result, expected, f"merge_pair({ids}, {pair}, {new_id})", hint)


@merge_pair.check("merges every occurrence of the pair")
def merges_every_occurrence(yours):
    _expect_merge(yours, [1, 2, 3, 1, 2], (1, 2))


@merge_pair.check("overlapping pairs: (5, 5) in [5, 5, 5] gives [9, 5]")
def overlapping_pairs(yours):
    _expect_merge(yours, [5, 5, 5], (5, 5))
    _expect_merge(yours, [5, 5, 5, 5], (5, 5))


@merge_pair.check("keeps an unmatched last id, merges a pair at the very end")
def ends_of_the_list(yours):
    for ids in ([1, 2, 3], [3, 1, 2], [7], []):
        _expect_merge(yours, ids, (1, 2))


@merge_pair.check("the pair is ordered: (1, 2) does not match 2 followed by 1")
def pair_is_ordered(yours):
    _expect_merge(yours, [2, 1, 2], (1, 2))


@merge_pair.check("returns a new list and leaves its input unchanged")
def leaves_input_alone(yours):
    ids = [1, 2, 3, 1, 2]
    with hint_if_raises("merge_pair([1, 2, 3, 1, 2], (1, 2), 9) failed"):
        result = yours(ids, (1, 2), 9)
    ids, result = observe((ids, result))
    if ids != [1, 2, 3, 1, 2]:
        fail(
            f"the list passed in became {ids}: build a new list (BPETokenizer.train still "
            "needs each word's old ids to update its pair counts)"
        )
    if not isinstance(result, list):
        fail(f"merge_pair returned {type(result).__name__}; return a list")


@merge_pair.check("equals the package's merge_pair on 300 random lists")
def random_lists(yours):
    draw = rng()
    for _ in range(300):
        ids = [draw.randrange(3) for _ in range(draw.randrange(12))]
        _expect_merge(yours, ids, (draw.randrange(3), draw.randrange(3)))


char_tokenizer = Exercise(
    "char_tokenizer",
    1,
    tokenization.CharTokenizer,
    "one id per character: from_text, vocab_size, encode, decode",
)

ABC = ["a", "b", "c", " "]


def _tokenizer(yours, chars=ABC):
    with hint_if_raises(f"CharTokenizer({chars}) failed"):
        return yours(list(chars))


@char_tokenizer.check("an id is the character's position in chars")
def ids_are_positions(yours):
    tokenizer = _tokenizer(yours)
    with hint_if_raises("encode('cab a') failed"):
        ids = observe(tokenizer.encode("cab a"))
    expect_equal(ids, [2, 0, 1, 3, 0], "CharTokenizer(['a', 'b', 'c', ' ']).encode('cab a')")


@char_tokenizer.check("decode(encode(text)) gives the text back")
def round_trip(yours):
    draw = rng()
    tokenizer = _tokenizer(yours)
    for _ in range(50):
        text = "".join(draw.choice(ABC) for _ in range(draw.randrange(10)))
        with hint_if_raises(f"decode(encode({text!r})) failed"):
            back = observe(tokenizer.decode(tokenizer.encode(text)))
        expect_equal(back, text, f"decode(encode({text!r}))", "decode joins chars[i] for each id")


@char_tokenizer.check("vocab_size is the number of characters")
def vocab_size(yours):
    tokenizer = _tokenizer(yours)
    with hint_if_raises("vocab_size failed"):
        size = observe(tokenizer.vocab_size)
    expect_equal(size, 4, "CharTokenizer(['a', 'b', 'c', ' ']).vocab_size")


@char_tokenizer.check("from_text(text) uses the text's distinct characters, sorted")
def from_text_sorts(yours):
    text = "hello world, naïve 🌅"
    if not observe(hasattr(yours, "from_text")):
        fail("CharTokenizer has no from_text: add a @classmethod from_text(cls, text)")
    with hint_if_raises(f"CharTokenizer.from_text({text!r}) failed"):
        tokenizer = yours.from_text(text)
        ids = tokenizer.encode(text)
        ids, size, back = observe((ids, tokenizer.vocab_size, tokenizer.decode(ids)))
    reference = tokenization.CharTokenizer.from_text(text)
    if size == len(set(text)) and back == text and ids != reference.encode(text):
        fail(
            "the ids are not in sorted order: build the vocabulary as sorted(set(text)), so "
            "the same corpus always gives the same ids (set order changes from run to run)"
        )
    expect_equal(ids, reference.encode(text), f"from_text({text!r}).encode(text)")


@char_tokenizer.check("encode raises ValueError for a character it does not know")
def unknown_character(yours):
    tokenizer = _tokenizer(yours)
    expect_raises(
        lambda: tokenizer.encode("abz"),
        ValueError,
        "encode('abz')",
        "raise a ValueError that names the unknown character ('z'), so the user knows "
        "what to fix; a bare KeyError from the dictionary says little",
    )


@char_tokenizer.check("decode raises ValueError for an id outside [0, vocab_size)")
def ids_out_of_range(yours):
    tokenizer = _tokenizer(yours)
    hint = (
        "check 0 <= id < vocab_size and raise a ValueError that names the id (Python's "
        "negative indexing would read -1 as the last character)"
    )
    for ids in ([-1], [4]):
        expect_raises(lambda ids=ids: tokenizer.decode(ids), ValueError, f"decode({ids})", hint)


@char_tokenizer.check("CharTokenizer(chars) rejects repeated or multi-character entries")
def rejects_bad_vocabularies(yours):
    hint = "raise ValueError unless chars are distinct single characters ('a' twice: two ids)"
    for chars in (["a", "a"], ["ab", "c"]):
        expect_raises(lambda chars=chars: yours(chars), ValueError, f"CharTokenizer({chars})", hint)


bpe_encode_chunk = Exercise(
    "bpe_encode_chunk",
    1,
    bpe.bpe_encode_chunk,
    "replay the learned merges on a chunk's bytes, earliest first",
)

A, B, C = b"abc"


def _encode(yours, chunk, merges, byte_ids=range(256)):
    with hint_if_raises(f"bpe_encode_chunk({chunk!r}, {merges}) failed"):
        return observe(yours(chunk, merges, byte_ids))


@bpe_encode_chunk.check("without merges, a chunk is its bytes' ids")
def bytes_without_merges(yours):
    expect_equal(_encode(yours, b"hi!", {}), [104, 105, 33], "bpe_encode_chunk(b'hi!', {})")
    expect_equal(_encode(yours, b"", {}), [], "bpe_encode_chunk(b'', {})")


@bpe_encode_chunk.check("starts from byte_ids[b] for every byte b (GPT-2 renumbers bytes)")
def uses_byte_ids(yours):
    reversed_ids = list(range(255, -1, -1))
    expect_equal(
        _encode(yours, b"hi", {}, reversed_ids),
        [255 - 104, 255 - 105],
        "with byte_ids[b] = 255 - b, bpe_encode_chunk(b'hi', {})",
        "start from [byte_ids[b] for b in chunk], not from the raw bytes",
    )


@bpe_encode_chunk.check("applies the earliest-learned merge first, not the leftmost or commonest")
def earliest_merge_first(yours):
    # (b, c) was learned before (a, b): the earliest merge wins although (a, b) comes first.
    first = _encode(yours, b"abc", {(B, C): 256, (A, B): 257})
    # (b, c) occurs twice but was learned after (a, b): counting pairs here is not BPE.
    second = _encode(yours, b"abcbc", {(A, B): 256, (B, C): 257})
    if second == [A, 257, 257]:
        fail(
            "the most frequent pair in the chunk was merged first: encoding does not count "
            "pairs again; it replays the learned merges in the order they were learned"
        )
    if first == [257, C]:
        fail(
            "the leftmost mergeable pair was merged first: merge the pair with the lowest new "
            "id (the earliest learned), wherever it sits; training learned them in that order"
        )
    expect_equal(first, [A, 256], "bpe_encode_chunk(b'abc', {(b, c): 256, (a, b): 257})")
    expect_equal(second, [256, C, 257], "bpe_encode_chunk(b'abcbc', {(a, b): 256, (b, c): 257})")


@bpe_encode_chunk.check("merges build on earlier merges until no learned pair is left")
def merges_build_on_merges(yours):
    merges = {(A, A): 256, (256, 256): 257, (257, B): 258}
    expect_equal(
        _encode(yours, b"aaaab", merges),
        [258],
        "bpe_encode_chunk(b'aaaab', {(a, a): 256, (256, 256): 257, (257, b): 258})",
        "keep merging until no neighbouring pair is in merges: new ids can merge again",
    )
    expect_equal(_encode(yours, b"a", merges), [A], "bpe_encode_chunk(b'a', ...)")


@bpe_encode_chunk.check("equals the package's encoder with merges trained on a paragraph")
def trained_merges(yours):
    text = (
        "Every moment is a beginning, and every beginning is a promise. The tokenizer learns "
        "which neighbouring pieces appear together most often and merges them, again and again."
    )
    tokenizer = bpe.BPETokenizer.train(text, vocab_size=256 + 60)
    for word in ("beginning", " promise", " again", " moments", " tokenizers", " ïn 🌅"):
        chunk = word.encode("utf-8")
        expect_equal(
            _encode(yours, chunk, tokenizer.merges),
            bpe.bpe_encode_chunk(chunk, tokenizer.merges, range(256)),
            f"the ids of {word!r}",
        )


EXERCISES = [merge_pair, char_tokenizer, bpe_encode_chunk]
