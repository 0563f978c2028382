"""Chapter 1's tokenizers behind one interface: GPT-2's (tiktoken), characters, the registry."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests
import tiktoken
import tiktoken.load
import tiktoken.registry

from minigpt.tokenization import (
    GPT2_BPE_CACHE_KEY,
    GPT2_BPE_URL,
    CharTokenizer,
    GPT2Tokenizer,
    get_tokenizer,
    tokenizer_from_dict,
)


@pytest.fixture(scope="module")
def r50k() -> tiktoken.Encoding:
    return tiktoken.get_encoding("r50k_base")


# GPT-2 through tiktoken


def test_guide_example(r50k: tiktoken.Encoding) -> None:
    text = "Every moment is a beginning"
    tokenizer = GPT2Tokenizer()
    ids = tokenizer.encode(text)
    assert ids == r50k.encode(text)
    assert ids == [6109, 2589, 318, 257, 3726]
    assert tokenizer.tokens(text) == ["Every", " moment", " is", " a", " beginning"]
    assert "".join(tokenizer.tokens(text)) == text
    assert tokenizer.decode(ids) == text


def test_gpt2_tokenizer_properties() -> None:
    tokenizer = GPT2Tokenizer()
    assert (tokenizer.name, tokenizer.vocab_size, tokenizer.eot_token) == ("gpt2", 50257, 50256)
    assert tokenizer.encode("end<|endoftext|>") == [437, 50256]
    assert tokenizer.to_dict() == {"kind": "gpt2"}


def test_gpt2_tokens_show_partial_characters_as_bytes() -> None:
    tokenizer = GPT2Tokenizer()
    text = "hi 🤗"
    assert tokenizer.tokens(text) == ["hi", " \\xf0\\x9f", "\\xa4", "\\x97"]
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_gpt2_cache_key_is_tiktokens() -> None:
    assert hashlib.sha1(GPT2_BPE_URL.encode()).hexdigest() == GPT2_BPE_CACHE_KEY


def test_gpt2_offline_error_explains_cache(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    def no_network(url: str) -> bytes:
        raise requests.ConnectionError(f"no network for {url}")

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # forget already-loaded encodings
    with pytest.raises(RuntimeError, match="To work offline, set TIKTOKEN_CACHE_DIR") as info:
        GPT2Tokenizer()
    assert GPT2_BPE_CACHE_KEY in str(info.value)
    assert f"currently {tmp_path}" in str(info.value)
    assert isinstance(info.value.__cause__, requests.ConnectionError)


# Characters


def test_char_tokenizer_round_trip() -> None:
    tokenizer = CharTokenizer.from_text("hello world")
    assert tokenizer.chars == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tokenizer.vocab_size == 8
    assert tokenizer.eot_token is None
    assert tokenizer.encode("hello") == [3, 2, 4, 4, 5]
    assert tokenizer.decode([3, 2, 4, 4, 5]) == "hello"
    assert tokenizer.tokens("low") == ["l", "o", "w"]


def test_char_tokenizer_unknown_character() -> None:
    tokenizer = CharTokenizer.from_text("abc")
    message = (
        r"^character 'é' \(U\+00E9\) at position 3 is not in the tokenizer's vocabulary "
        r"of 3 characters$"
    )
    with pytest.raises(ValueError, match=message):
        tokenizer.encode("abcé")
    with pytest.raises(ValueError, match=r"^character '\\n' \(U\+000A\) at position 1 "):
        tokenizer.encode("a\nb")


def test_char_tokenizer_errors() -> None:
    with pytest.raises(ValueError, match="^cannot build a character tokenizer from empty text$"):
        CharTokenizer.from_text("")
    with pytest.raises(ValueError, match="^chars must be distinct single characters$"):
        CharTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="^token id 3 is outside the vocabulary of 3$"):
        CharTokenizer.from_text("abc").decode([0, 3])


def test_char_tokenizer_dict_round_trip() -> None:
    tokenizer = CharTokenizer.from_text("To be, or not to be?\n")
    data = json.loads(json.dumps(tokenizer.to_dict()))
    assert data["kind"] == "char"
    restored = tokenizer_from_dict(data)
    assert isinstance(restored, CharTokenizer)
    assert restored.chars == tokenizer.chars


def test_get_tokenizer_by_name() -> None:
    assert isinstance(get_tokenizer("gpt2"), GPT2Tokenizer)
    char = get_tokenizer("char", text="abca")
    assert isinstance(char, CharTokenizer)
    assert char.chars == ["a", "b", "c"]


def test_get_tokenizer_errors() -> None:
    with pytest.raises(
        ValueError, match=r"^the 'char' tokenizer is built from a corpus: pass text"
    ):
        get_tokenizer("char")
    message = r"^unknown tokenizer 'gpt3': choose 'gpt2', 'char' or the path of a BPE file"
    with pytest.raises(ValueError, match=message):
        get_tokenizer("gpt3")


def test_tokenizer_from_dict() -> None:
    assert isinstance(tokenizer_from_dict({"kind": "gpt2"}), GPT2Tokenizer)
    with pytest.raises(ValueError, match=r"^unknown tokenizer kind 'wordpiece': expected 'gpt2'"):
        tokenizer_from_dict({"kind": "wordpiece"})
