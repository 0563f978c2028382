"""Chapter 1's byte-pair encoding from scratch: training, encoding, and GPT-2's merges equal to
tiktoken's ids."""

from __future__ import annotations

import json
import random
from collections import Counter
from itertools import pairwise

import pytest
import regex
import tiktoken

from minigpt.bpe import GPT2_SPLIT_PATTERN, BPETokenizer
from minigpt.tokenization import get_tokenizer, tokenizer_from_dict

HARD_TEXTS = [
    "",
    "Family: 👨‍👩‍👧‍👦, flags 🇫🇷🇯🇵, thumbs 👍🏽, keycap 1️⃣, hugging 🤗",
    "日本語のテキストと中文文本，还有한국어 텍스트。",
    "def f(x):\n\tif x:\n\t\treturn x  # comment\n    else:\n        pass\n",
    "a   b\n\n\n  c \t\t d    \n   \n",
    "   leading and trailing   ",
    " ",
    "\n\n",
    "\r\n\r\nwindows lines\r\n",
    "first doc<|endoftext|>second doc<|endoftext|><|endoftext|>",
    "<|endoftext|>",
    "3.14159 1,000,000 2024-01-01 0x1F 12345678901234567890 ½ ²",
    "don't can't I'm you're we've they'll he'd DON'T it’s 'tis",
    "Привет, мир! مرحبا بالعالم שלום Ελληνικά देवनागरी café naïve e\u0301",
    "control \x00\x07\x1b[31m and BOM \ufeff and nbsp\u00a0here",
    "!!!???...---___===***",
]


def random_unicode(rng: random.Random, length: int) -> str:
    """Random text mixing ASCII, whitespace, accents, CJK, emoji and rare planes (no surrogates)."""
    ranges = [(0x20, 0x7E), (0x09, 0x0D), (0xA0, 0x24F), (0x4E00, 0x4FFF), (0x1F300, 0x1F6FF)]
    ranges.append((0x10000, 0x10FFFF))
    return "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(length))


@pytest.fixture(scope="module")
def r50k() -> tiktoken.Encoding:
    return tiktoken.get_encoding("r50k_base")


@pytest.fixture(scope="module")
def gpt2_bpe(r50k: tiktoken.Encoding) -> BPETokenizer:
    return BPETokenizer.from_tiktoken(r50k)


# BPE from scratch


def test_split_pattern_matches_tiktoken(r50k: tiktoken.Encoding) -> None:
    for text in HARD_TEXTS:
        assert regex.findall(GPT2_SPLIT_PATTERN, text) == regex.findall(r50k._pat_str, text)


def test_train_tiny_example_by_hand() -> None:
    # Pair counts in "aaabdaaabac": aa 4, ab 2, ... -> merge aa (256). Then (256, a) and (a, b)
    # both occur twice; the tie goes to the smaller pair (97, 98) -> 257. Then (256, 257) -> 258.
    tokenizer = BPETokenizer.train("aaabdaaabac", vocab_size=259)
    assert tokenizer.merges == {(97, 97): 256, (97, 98): 257, (256, 257): 258}
    assert tokenizer.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tokenizer.tokens("aaabdaaabac") == ["aaab", "d", "aaab", "a", "c"]
    assert tokenizer.vocab_size == 259
    assert tokenizer.eot_token is None


def test_train_stops_when_nothing_is_left_to_merge() -> None:
    tokenizer = BPETokenizer.train("ab ab", vocab_size=1000)
    assert tokenizer.merges == {(97, 98): 256, (32, 256): 257}
    assert tokenizer.vocab_size == 258


def test_train_rejects_tiny_vocab() -> None:
    with pytest.raises(ValueError, match="^vocab_size must be at least 257$"):
        BPETokenizer.train("abc", vocab_size=256, special_tokens=["<|endoftext|>"])


def test_train_with_special_tokens() -> None:
    text = "one doc<|endoftext|>another doc<|endoftext|>" * 5
    tokenizer = BPETokenizer.train(text, vocab_size=262, special_tokens=["<|endoftext|>"])
    assert len(tokenizer.merges) == 5
    assert tokenizer.vocab_size == 262
    assert tokenizer.eot_token == 261
    # The special token is never learned as text: no merge crosses "<|" and "doc".
    assert not any(b"<|" in tokenizer.vocab[i] for i in tokenizer.merges.values())
    ids = tokenizer.encode("a doc<|endoftext|>")
    assert ids[-1] == 261
    assert 261 not in tokenizer.encode("a doc<|endoftext|>", allowed_special=())
    assert tokenizer.decode(ids) == "a doc<|endoftext|>"
    with pytest.raises(ValueError, match=r"^not special tokens of this tokenizer: \['<\|x\|>'\]$"):
        tokenizer.encode("hi", allowed_special={"<|x|>"})


def naive_train(text: str, num_merges: int) -> dict[tuple[int, int], int]:
    """Reference trainer: recount every pair of every chunk before each merge."""
    words = [list(chunk.encode("utf-8")) for chunk in regex.findall(GPT2_SPLIT_PATTERN, text)]
    merges = {}
    for new_id in range(256, 256 + num_merges):
        counts = Counter(pair for word in words for pair in pairwise(word))
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges[best] = new_id
        for w, word in enumerate(words):
            merged, i = [], 0
            while i < len(word):
                if tuple(word[i : i + 2]) == best:
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            words[w] = merged
    return merges


def test_incremental_training_equals_naive(shakespeare_text: str) -> None:
    text = shakespeare_text[:20_000]
    assert BPETokenizer.train(text, vocab_size=356).merges == naive_train(text, 100)


def test_incremental_training_equals_naive_on_unicode() -> None:
    rng = random.Random(0)
    words = ["naïve", "日本", "🤗🤗", "  ", "\n", "ab", "aaaa", "x1", "don't", "ééé"]
    text = " ".join(rng.choice(words) for _ in range(3000))
    assert BPETokenizer.train(text, vocab_size=316).merges == naive_train(text, 60)


def test_trained_tokenizer_matches_its_tiktoken_export(shakespeare_text: str) -> None:
    train, held_out = shakespeare_text[:200_000], shakespeare_text[-50_000:]
    tokenizer = BPETokenizer.train(train, vocab_size=1024)
    exported = tokenizer.to_tiktoken()
    assert exported.name == "minigpt-bpe"
    for text in [held_out, *HARD_TEXTS]:
        assert exported.encode(text, allowed_special="all") == tokenizer.encode(text)


def test_trained_tokenizer_round_trips_random_unicode() -> None:
    rng = random.Random(1)
    tokenizer = BPETokenizer.train("the cat sat on the mat. 猫が座った 🐈🐈 " * 20, vocab_size=300)
    for _ in range(200):
        text = random_unicode(rng, rng.randint(0, 40))
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_decode_invalid_utf8_and_unknown_ids() -> None:
    tokenizer = BPETokenizer.train("hello", vocab_size=258)
    assert tokenizer.decode([0xF0, 0x9F]) == "\ufffd"
    assert tokenizer.tokens("é") == ["\\xc3", "\\xa9"]  # two bytes never merged
    with pytest.raises(ValueError, match="^token id 258 is not in the vocabulary$"):
        tokenizer.decode([258])


def test_save_load_and_get_tokenizer(tmp_path) -> None:
    tokenizer = BPETokenizer.train(
        "low lower lowest newer wider 日本" * 10, vocab_size=280, special_tokens=["<|endoftext|>"]
    )
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == "bpe"
    assert data["merges"][0] == [*next(iter(tokenizer.merges)), 256]
    for restored in (BPETokenizer.load(path), get_tokenizer(path), get_tokenizer(str(path))):
        assert isinstance(restored, BPETokenizer)
        assert restored.merges == tokenizer.merges
        assert restored.special_tokens == tokenizer.special_tokens
        assert restored.eot_token == tokenizer.eot_token
        for text in HARD_TEXTS:
            assert restored.encode(text) == tokenizer.encode(text)


# BPE with GPT-2's merges


def test_gpt2_merges_rebuild_tiktoken_ranks(
    r50k: tiktoken.Encoding, gpt2_bpe: BPETokenizer
) -> None:
    assert gpt2_bpe.vocab_size == 50257
    assert gpt2_bpe.eot_token == 50256
    assert len(gpt2_bpe.merges) == 50000
    assert gpt2_bpe.to_tiktoken()._mergeable_ranks == r50k._mergeable_ranks


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_gpt2_bpe_equals_tiktoken_on_hard_text(
    r50k: tiktoken.Encoding, gpt2_bpe: BPETokenizer, text: str
) -> None:
    assert gpt2_bpe.encode(text) == r50k.encode(text, allowed_special="all")
    assert gpt2_bpe.encode(text, allowed_special=()) == r50k.encode_ordinary(text)
    assert gpt2_bpe.decode(gpt2_bpe.encode(text)) == text


def test_gpt2_bpe_equals_tiktoken_on_random_unicode(
    r50k: tiktoken.Encoding, gpt2_bpe: BPETokenizer
) -> None:
    rng = random.Random(2)
    for _ in range(300):
        text = random_unicode(rng, rng.randint(0, 30))
        ids = gpt2_bpe.encode(text)
        assert ids == r50k.encode_ordinary(text)
        assert gpt2_bpe.decode(ids) == text


def test_gpt2_bpe_equals_tiktoken_on_shakespeare(
    r50k: tiktoken.Encoding, gpt2_bpe: BPETokenizer, shakespeare_text: str
) -> None:
    ids = gpt2_bpe.encode(shakespeare_text)
    assert ids == r50k.encode_ordinary(shakespeare_text)
    assert gpt2_bpe.decode(ids) == shakespeare_text


def test_gpt2_bpe_dict_round_trip(gpt2_bpe: BPETokenizer) -> None:
    restored = tokenizer_from_dict(json.loads(json.dumps(gpt2_bpe.to_dict())))
    assert isinstance(restored, BPETokenizer)
    assert restored.byte_ids == gpt2_bpe.byte_ids
    for text in HARD_TEXTS:
        assert restored.encode(text) == gpt2_bpe.encode(text)


# Choosing a tokenizer


# BPE data from a file anyone made


def doubling_merges(count: int) -> list[list[int]]:
    """`count` merges, each joining the previous token to itself: 2**count bytes at the end."""
    return [[97, 97, 256]] + [[255 + i, 255 + i, 256 + i] for i in range(1, count)]


def bpe_data(**fields) -> dict:
    data = {"kind": "bpe", "name": "bpe", "pattern": GPT2_SPLIT_PATTERN, "special_tokens": {},
            "byte_ids": list(range(256)), "merges": []}  # fmt: skip
    return {**data, **fields}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"merges": doubling_merges(41)}, "merge 10 makes a token of 2,048 bytes, longer than"),
        ({"merges": [[97, 98, 256]] * 2}, "merge 1 makes id 256 a second time"),
        ({"merges": [[999, 1000, 256]]}, "merge 0 uses id 999, which no byte or earlier merge"),
        ({"merges": [[]]}, "'merges' entry 0 is [], not three ids"),
        ({"merges": [[97, True, 256]]}, "'merges' entry 0 is [97, True, 256]"),
        ({"merges": "ab"}, "'merges' is a str, not a list"),
        ({"byte_ids": []}, "'byte_ids' must be 256 distinct ids"),
        ({"byte_ids": [0] * 256}, "'byte_ids' must be 256 distinct ids"),
        ({"pattern": "("}, "'pattern' is not a valid regular expression"),
        ({"pattern": 7}, "'pattern' is a int, not a str"),
        ({"special_tokens": {"<|x|>": 97}}, "special tokens reuse ids [97]"),
        ({"special_tokens": {"<|x|>": -1}}, "'special_tokens' must map non-empty texts to ids"),
        ({"name": None}, "'name' is a NoneType, not a str"),
    ],
)
def test_bad_bpe_data_is_named(fields, message) -> None:
    with pytest.raises(ValueError, match=regex.escape(message)):
        tokenizer_from_dict(bpe_data(**fields))


def test_a_bpe_data_without_a_field_or_not_an_object_is_named() -> None:
    data = bpe_data()
    del data["merges"]
    with pytest.raises(ValueError, match="BPE tokenizer data has no 'merges'"):
        tokenizer_from_dict(data)
    with pytest.raises(ValueError, match="tokenizer data is a list, not a JSON object"):
        tokenizer_from_dict([1, 2])


def test_the_longest_allowed_tokens_load() -> None:
    tokenizer = tokenizer_from_dict(bpe_data(merges=doubling_merges(10)))  # 1,024 bytes
    assert tokenizer.decode([265]) == "a" * 1024
    assert tokenizer.encode("a" * 1024) == [265]


def test_a_tokenizer_file_of_doubling_merges_is_refused(tmp_path) -> None:
    path = tmp_path / "doubling.json"
    path.write_text(json.dumps(bpe_data(merges=doubling_merges(41))), encoding="utf-8")
    with pytest.raises(ValueError, match="longer than the 1,024 allowed"):
        get_tokenizer(path)


def test_a_huge_tokenizer_file_is_refused_before_it_is_read(tmp_path) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(2**30)  # a 1 GiB hole
    with pytest.raises(ValueError, match="is 1,073,741,824 bytes, more than the 67,108,864"):
        get_tokenizer(path)


def test_a_catastrophic_split_pattern_is_stopped(monkeypatch) -> None:
    """`(a|aa)+$` backtracks exponentially on a run of a's: stopped at the time limit, instead
    of hanging `minigpt tokenize`."""
    monkeypatch.setattr("minigpt.bpe.SPLIT_SECONDS", 0.2)
    tokenizer = tokenizer_from_dict(bpe_data(pattern="(?:a|aa)+$"))
    with pytest.raises(ValueError, match=r"split pattern '\(\?:a\|aa\)\+\$' took more than 0.2 s"):
        tokenizer.encode("a" * 40 + "!")
    assert tokenizer.encode("aaaa") == [97, 97, 97, 97]  # it matches, fast, where it can
