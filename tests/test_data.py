"""Corpus download and caching, encoding to memory-mapped ids, and batch sampling (no network)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from minigpt import corpus as corpora
from minigpt import data
from minigpt.corpus import CorpusSource, read_text_chunks, resolve_corpus
from minigpt.data import (
    BatchSampler,
    FixedBatches,
    encode_corpus,
    get_batch,
    load_dataset,
    token_dtype,
)
from minigpt.tokenization import CharTokenizer, get_tokenizer
from tests.conftest import TINY_TEXT

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """A private cache folder, and a download function that fails like a machine offline."""
    monkeypatch.setenv("MINIGPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIGPT_TINYSHAKESPEARE", raising=False)

    def no_network(url, destination):
        raise OSError("network is unreachable")

    monkeypatch.setattr(corpora, "download", no_network)


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TINY_TEXT * 30, encoding="utf-8")
    return path


@pytest.fixture
def tiny_named_corpus(tmp_path, monkeypatch):
    """Register a named corpus whose canonical file is a tiny local one."""
    source_file = tmp_path / "canonical.txt"
    source_file.write_text(TINY_TEXT, encoding="utf-8")
    sha = hashlib.sha256(source_file.read_bytes()).hexdigest()
    source = CorpusSource(
        url="https://example.invalid/tiny.txt",
        sha256=sha,
        filename="tiny.txt",
        env_var="MINIGPT_TINY_TEST",
    )
    monkeypatch.setitem(corpora.CORPORA, "tiny", source)
    monkeypatch.delenv("MINIGPT_TINY_TEST", raising=False)
    return source_file


def test_tinyshakespeare_source_is_the_canonical_file():
    source = corpora.CORPORA["tinyshakespeare"]
    assert source.url == (
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    )
    assert source.sha256 == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert source.env_var == "MINIGPT_TINYSHAKESPEARE"


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    assert corpora.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("MINIGPT_CACHE_DIR")
    assert corpora.cache_dir() == Path.home() / ".cache" / "minigpt"


def test_a_path_is_a_corpus(corpus):
    assert resolve_corpus(corpus) == corpus
    assert resolve_corpus(str(corpus)) == corpus


def test_unknown_corpus_names_the_choices(tmp_path):
    message = "no corpus named '.*nope.txt' and no such file.*tinyshakespeare"
    with pytest.raises(FileNotFoundError, match=message):
        resolve_corpus(tmp_path / "nope.txt")


def test_offline_without_a_copy_says_where_to_put_the_file():
    with pytest.raises(FileNotFoundError) as info:
        resolve_corpus("tinyshakespeare")
    message = str(info.value)
    assert "could not download" in message and "network is unreachable" in message
    assert str(corpora.cache_dir() / "corpora" / "tinyshakespeare.txt") in message
    assert "MINIGPT_TINYSHAKESPEARE" in message


def test_download_is_checked_and_cached(tiny_named_corpus, monkeypatch):
    calls = []

    def fake_download(url, destination):
        calls.append(url)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_named_corpus, destination)

    monkeypatch.setattr(corpora, "download", fake_download)
    path = resolve_corpus("tiny")
    assert path == corpora.cache_dir() / "corpora" / "tiny.txt"
    assert path.read_text(encoding="utf-8") == TINY_TEXT
    assert resolve_corpus("tiny") == path  # the cached copy: no second download
    assert calls == ["https://example.invalid/tiny.txt"]


def test_a_download_with_the_wrong_sha256_is_rejected(tiny_named_corpus, monkeypatch):
    def corrupt_download(url, destination):
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text("not the right text", encoding="utf-8")

    monkeypatch.setattr(corpora, "download", corrupt_download)
    with pytest.raises(ValueError, match="has SHA-256 .* expected"):
        resolve_corpus("tiny")


def test_the_environment_variable_points_at_a_local_copy(tiny_named_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGPT_TINY_TEST", str(tiny_named_corpus))
    assert resolve_corpus("tiny") == tiny_named_corpus
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("something else", encoding="utf-8")
    monkeypatch.setenv("MINIGPT_TINY_TEST", str(wrong))
    with pytest.raises(ValueError, match="MINIGPT_TINY_TEST .* has SHA-256"):
        resolve_corpus("tiny")
    monkeypatch.setenv("MINIGPT_TINY_TEST", str(tmp_path / "missing.txt"))
    with pytest.raises(FileNotFoundError, match="MINIGPT_TINY_TEST is set to .* not a file"):
        resolve_corpus("tiny")


def test_real_tinyshakespeare_through_the_environment_variable(
    shakespeare_text, tmp_path, monkeypatch
):
    copy = tmp_path / "input.txt"
    copy.write_bytes(shakespeare_text.encode("utf-8"))
    monkeypatch.setenv("MINIGPT_TINYSHAKESPEARE", str(copy))
    assert resolve_corpus("tinyshakespeare") == copy  # its SHA-256 is the canonical one


def test_empty_and_non_utf8_corpora_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_dataset(empty)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_dataset(latin1)


def test_token_dtype_is_as_small_as_the_vocabulary_allows():
    assert token_dtype(65) == np.uint16
    assert token_dtype(50257) == np.uint16
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


class _WideTokenizer:
    """A tokenizer with more ids than uint16 holds: character code + 66,000."""

    name = "wide"
    vocab_size = 70_000
    eot_token = None

    def encode(self, text):
        return [ord(ch) + 66_000 for ch in text]

    def decode(self, ids):
        return "".join(chr(i - 66_000) for i in ids)

    def to_dict(self):
        return {"kind": "wide"}


def test_large_vocabularies_are_stored_as_uint32(corpus):
    dataset = load_dataset(corpus, _WideTokenizer())
    assert dataset.tokens.dtype == np.uint32
    assert dataset.tokens.min() > 65_535
    assert dataset.tokenizer.decode(dataset.tokens.tolist()) == corpus.read_text(encoding="utf-8")


def test_load_dataset_memory_maps_a_90_10_split(corpus):
    dataset = load_dataset(corpus, "char")
    text = corpus.read_text(encoding="utf-8")
    assert isinstance(dataset.tokens, np.memmap)
    assert dataset.tokens.dtype == np.uint16
    assert len(dataset.tokens) == len(text)
    assert len(dataset.val) == int(len(text) * 0.1)
    assert len(dataset.train) + len(dataset.val) == len(text)
    assert dataset.tokenizer.decode(dataset.tokens.tolist()) == text
    assert dataset.tokenizer.to_dict() == CharTokenizer.from_text(text).to_dict()
    assert dataset.path.parent.parent == corpora.cache_dir() / "tokens"


def test_the_encoded_ids_are_cached(corpus, monkeypatch):
    first = load_dataset(corpus, "char")

    def fail(*args, **kwargs):
        raise AssertionError("encoded again")

    monkeypatch.setattr(data, "encode_corpus", fail)
    second = load_dataset(corpus, "char")
    assert second.path == first.path
    np.testing.assert_array_equal(second.tokens, first.tokens)
    with pytest.raises(AssertionError, match="encoded again"):  # another tokenizer, another key
        load_dataset(corpus, CharTokenizer(sorted(set(TINY_TEXT)) + ["#"]))


def test_damaged_cached_ids_are_encoded_again(corpus):
    first = load_dataset(corpus, "char")
    expected = np.array(first.tokens)
    raw = bytearray(first.path.read_bytes())
    raw[10] ^= 0x01  # one id changed, still inside the vocabulary: only the checksum sees it
    first.path.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="do not match their checksum .* encoding the corpus"):
        second = load_dataset(corpus, "char")
    np.testing.assert_array_equal(second.tokens, expected)


def test_temporary_files_left_by_a_killed_encoder_are_removed(corpus):
    folder = load_dataset(corpus, "char").path.parent
    dead_pid = 2**22 + 12345  # above Linux's largest pid: no such process
    stale = [folder / f"tokens.bin.{dead_pid}.part", folder / f".meta.json.{dead_pid}.tmp"]
    for path in stale:
        path.write_bytes(b"\0" * 1000)
    (folder / "meta.json").unlink()  # force an encode, which tidies the folder first
    load_dataset(corpus, "char")
    assert not any(path.exists() for path in stale)


def test_chunked_encoding_matches_encoding_everything_at_once(tmp_path):
    text = (
        "Line one, with  two spaces.\n\n\nIndented:\n   yes\nNext paragraph<|endoftext|>"
        "done.\nA trailing space \n\nthen a blank line.\r\nWindows line end.\n"
    ) * 20
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    chunks = list(read_text_chunks(path, chunk_chars=40))
    assert len(chunks) > 10 and "".join(chunks) == text
    assert all(not chunk[:1].isspace() for chunk in chunks)
    tokenizer = get_tokenizer("gpt2")
    destination = tmp_path / "ids.bin"
    count = encode_corpus(path, tokenizer, destination, chunk_chars=40)
    ids = np.fromfile(destination, dtype=np.uint16)
    assert count == len(ids)
    assert ids.tolist() == tokenizer.encode(text)


def test_get_batch_targets_are_inputs_shifted_by_one():
    tokens = np.arange(100, dtype=np.uint16)
    x, y = get_batch(tokens, batch_size=5, block_size=8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8) and x.dtype == y.dtype == torch.long
    assert torch.equal(y, x + 1)  # consecutive ids: each block is contiguous
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert int(x.max()) + 1 <= 99


def test_batches_are_reproducible_and_resumable():
    tokens = np.random.default_rng(0).integers(0, 50, 1000).astype(np.uint16)
    a, b = BatchSampler(tokens, 4, 16, seed=1), BatchSampler(tokens, 4, 16, seed=1)
    assert torch.equal(a()[0], b()[0])
    assert not torch.equal(a()[0], BatchSampler(tokens, 4, 16, seed=2)()[0])
    state = a.state_dict()
    assert isinstance(state["generator"], torch.Tensor)
    expected = [a() for _ in range(2)]
    resumed = BatchSampler(tokens, 4, 16, seed=99)
    resumed.load_state_dict(state)
    for (x, y), (ex, ey) in zip([resumed() for _ in range(2)], expected, strict=True):
        assert torch.equal(x, ex) and torch.equal(y, ey)


def test_fixed_batches_are_the_same_every_time():
    tokens = np.arange(500, dtype=np.uint16)
    batches = FixedBatches(tokens, num_batches=3, batch_size=2, block_size=8, seed=0)
    first, second = list(batches), list(batches)
    assert len(first) == len(batches) == 3
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_a_split_shorter_than_a_block_is_a_clear_error():
    with pytest.raises(ValueError, match="val split has 8 tokens, fewer than block_size"):
        BatchSampler(np.arange(8, dtype=np.uint16), 2, 8, name="val")
