"""Chapter 11 — the text to train on: a named corpus or any UTF-8 file, read in pieces.

`resolve_corpus` finds the text: a named corpus (`tinyshakespeare`, downloaded once into a
cache folder and checked against its SHA-256) or the path of a text file. `read_text_chunks`
reads a file in pieces that tokenize exactly as the whole text would.

Environment variables:

- `MINIGPT_CACHE_DIR`: the cache folder (default `~/.cache/minigpt`) for downloaded corpora and
  encoded token arrays.
- `MINIGPT_TINYSHAKESPEARE`: the path of a local copy of Tiny Shakespeare, used instead of
  downloading it (useful offline). Its SHA-256 must match the canonical file.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .files import file_sha256, remove_stale_temporaries, temporary_path

CACHE_ENV = "MINIGPT_CACHE_DIR"


@dataclass(frozen=True)
class CorpusSource:
    """Where a named corpus comes from, and how to recognise the right file."""

    url: str
    sha256: str
    filename: str
    env_var: str  # a local copy's path may be given in this environment variable


CORPORA: dict[str, CorpusSource] = {
    "tinyshakespeare": CorpusSource(
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        filename="tinyshakespeare.txt",
        env_var="MINIGPT_TINYSHAKESPEARE",
    ),
}


def cache_dir() -> Path:
    """The cache folder: `$MINIGPT_CACHE_DIR`, else `~/.cache/minigpt`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "minigpt").expanduser()


def download(url: str, destination: Path) -> None:
    """Fetch `url` into `destination` (tests replace this function to stay offline)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(destination.parent)
    temporary = temporary_path(destination)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(temporary, "wb") as f:
            for block in iter(lambda: response.read(1 << 20), b""):
                f.write(block)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def resolve_corpus(name_or_path: str | os.PathLike[str]) -> Path:
    """The text file behind `name_or_path`: a named corpus (see `CORPORA`) or a file path.

    For a named corpus, the file in `$<env_var>` (e.g. `MINIGPT_TINYSHAKESPEARE`) wins; else the
    cached copy in `cache_dir()`; else it is downloaded there. Every copy must match the
    corpus's SHA-256. Offline with no copy, the error says where to put the file.
    """
    name = str(name_or_path)
    if name in CORPORA:
        return _named_corpus(name, CORPORA[name])
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise ValueError(f"corpus {name!r} is not a file")
    raise FileNotFoundError(
        f"no corpus named {name!r} and no such file; give the path of a UTF-8 text file or "
        f"one of: {', '.join(CORPORA)}"
    )


def _named_corpus(name: str, source: CorpusSource) -> Path:
    local = os.environ.get(source.env_var)
    if local:
        path = Path(local).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{source.env_var} is set to {local!r}, which is not a file")
        _check_sha256(path, source, f"the file in {source.env_var}")
        return path
    path = cache_dir() / "corpora" / source.filename
    if path.is_file() and file_sha256(path) == source.sha256:
        return path
    try:
        download(source.url, path)
    except OSError as err:  # URLError, timeouts and refused connections are all OSErrors
        raise FileNotFoundError(
            f"could not download corpus {name!r} from {source.url} ({err}); to work offline, "
            f"save that file as {path} or set {source.env_var} to its path"
        ) from None
    _check_sha256(path, source, "the downloaded file")
    return path


def _check_sha256(path: Path, source: CorpusSource, what: str) -> None:
    actual = file_sha256(path)
    if actual != source.sha256:
        raise ValueError(
            f"{what} {path} has SHA-256 {actual}, expected {source.sha256} for {source.url}; "
            f"to train on a different text, pass its path as the corpus instead"
        )


def read_text_chunks(path: str | os.PathLike[str], chunk_chars: int = 1 << 20) -> Iterator[str]:
    """Yield a UTF-8 file in pieces of about `chunk_chars` characters.

    A piece ends only at a single line break between two non-space characters (`...x\n` then
    `y...`). GPT-2-style tokenizers make such a line break a token of its own, so encoding the
    pieces one by one gives exactly the ids of encoding the whole text at once. A longer run of
    whitespace (`" \n\n"`, `"\r\n"`) is tokenized differently at the end of a text, so no piece
    ends with one.
    """
    buffer: list[str] = []
    size = 0
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for line in f:
                previous = buffer[-1] if buffer else ""
                if (
                    size >= chunk_chars
                    and line[:1]
                    and not line[:1].isspace()
                    and len(previous) > 1
                    and not previous[-2].isspace()
                ):
                    yield "".join(buffer)
                    buffer, size = [], 0
                buffer.append(line)
                size += len(line)
    except UnicodeDecodeError as err:
        raise ValueError(
            f"corpus {path} is not UTF-8 text ({err.reason} at byte {err.start} of a block)"
        ) from None
    if buffer:
        yield "".join(buffer)
