"""Checkpoints under faults: damaged files, files from other versions, a full disk, pickles."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from minigpt.training import TrainConfig, load_checkpoint, load_model, save_checkpoint, train
from minigpt.training.checkpoint import CHECKPOINT_NAME
from tests.conftest import TINY_TEXT

pytestmark = pytest.mark.usefixtures("one_thread", "private_cache")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny finished run; tests copy its checkpoint before damaging it."""
    folder = tmp_path_factory.mktemp("checkpoint-run")
    corpus = folder / "corpus.txt"
    corpus.write_text(TINY_TEXT * 30, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINIGPT_CACHE_DIR", str(folder / "cache"))
        config = TrainConfig(
            data=str(corpus), block_size=8, embed_dim=16, num_heads=2, num_layers=1,
            batch_size=4, max_iters=2, eval_interval=2, eval_iters=1, device="cpu",
            out_dir=str(folder / "run"), progress=False,
        )  # fmt: skip
        train(config)
    return folder / "run" / CHECKPOINT_NAME


def rewrite(source: Path, destination: Path, **changes) -> Path:
    """A copy of a checkpoint with some entries replaced (None deletes one)."""
    payload = torch.load(source, weights_only=True)
    for key, value in changes.items():
        if value is None:
            payload.pop(key)
        else:
            payload[key] = value
    torch.save(payload, destination)
    return destination


def test_flipped_bytes_inside_the_weights_are_refused(trained, tmp_path):
    """torch.load reads a checkpoint whose tensor bytes changed without noticing: every record
    is now checked against the CRC-32 the zip archive stores for it."""
    data = bytearray(trained.read_bytes())
    with zipfile.ZipFile(trained) as archive:
        record = max(archive.infolist(), key=lambda info: info.file_size)  # the largest tensor
    start = record.header_offset + 30 + len(record.filename) + len(record.extra)
    for offset in range(start, start + record.file_size, 97):
        data[offset] ^= 0xFF
    damaged = tmp_path / "ckpt.pt"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"is damaged: its record {record.filename} fails its CRC"):
        load_checkpoint(damaged)
    with pytest.raises(ValueError, match="is damaged"):
        load_model(damaged)


def test_a_truncated_file_is_refused(trained, tmp_path):
    damaged = tmp_path / "ckpt.pt"
    damaged.write_bytes(trained.read_bytes()[: trained.stat().st_size // 2])
    with pytest.raises(ValueError, match="corrupt or not a MiniGPT checkpoint"):
        load_checkpoint(damaged)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": "weights"}, "its 'model' entry is a str, not a dict"),
        ({"tokenizer": ["a"]}, "its 'tokenizer' entry is a list, not a dict"),
        ({"step": "10"}, "its 'step' entry is a str, not a int"),
        ({"step": -1}, "its step is -1"),
        ({"tokenizer": None}, "is incomplete: it has no 'tokenizer' entry"),
        ({"optimizer": "adam"}, "its 'optimizer' entry is a str, not a dict"),
        (
            {"model": {"blocks.0.norm1.weight": [1.0]}},
            "its weight 'blocks.0.norm1.weight' is a list",
        ),
    ],
)
def test_entries_of_the_wrong_kind_are_named(trained, tmp_path, changes, message):
    path = rewrite(trained, tmp_path / "ckpt.pt", **changes)
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)


def test_a_bad_model_config_is_named_with_the_version_that_wrote_it(trained, tmp_path):
    config = torch.load(trained, weights_only=True)["model_config"]
    path = rewrite(trained, tmp_path / "ckpt.pt", model_config={**config, "block_size": "8"})
    with pytest.raises(
        ValueError,
        match=r"has an invalid model_config: block_size must be an int, got str '8' \(written by "
        r"minigpt 0.1.0; this is minigpt 0.1.0\)",
    ):
        load_model(path)


def test_settings_from_another_version_are_named(trained, tmp_path):
    settings = torch.load(trained, weights_only=True)["train_config"]
    renamed = {**settings, "lr_warmup": 100}
    path = rewrite(
        trained, tmp_path / CHECKPOINT_NAME, train_config=renamed, minigpt_version="0.3.0"
    )
    config = TrainConfig(out_dir=str(tmp_path), resume=True, device="cpu", progress=False)
    with pytest.raises(
        ValueError,
        match=r"has settings this version does not know: lr_warmup \(written by minigpt 0.3.0; "
        r"this is minigpt 0.1.0\)",
    ):
        train(config)
    older = rewrite(path, path, minigpt_version=None)
    with pytest.raises(ValueError, match="written by a minigpt that did not record its version"):
        train(config)
    assert older.is_file()


def test_a_checkpoint_without_its_optimizer_samples_but_does_not_resume(trained, tmp_path):
    path = rewrite(trained, tmp_path / CHECKPOINT_NAME, optimizer=None)
    model, _ = load_model(path)  # sampling needs only the weights
    config = TrainConfig(out_dir=str(tmp_path), resume=True, device="cpu", progress=False)
    with pytest.raises(ValueError, match="has no optimizer state, so it cannot be resumed"):
        train(config)


def test_a_pickled_object_is_refused_quietly(tmp_path, recwarn):
    path = tmp_path / "ckpt.pt"
    torch.save({"format": "minigpt-checkpoint-v1", "model": Path("x")}, path)  # not a tensor
    with pytest.raises(ValueError, match="holds Python objects other than tensors"):
        load_checkpoint(path)
    assert not [w for w in recwarn if "weights_only" in str(w.message)]


def test_a_full_disk_keeps_the_previous_checkpoint(trained, tmp_path, monkeypatch):
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(trained.read_bytes())
    before = path.read_bytes()

    def disk_full(payload, file):
        Path(file).write_bytes(b"half")  # part of a file, then PyTorch's writer gives up
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 320")

    monkeypatch.setattr(torch, "save", disk_full)
    monkeypatch.setattr(
        "shutil.disk_usage", lambda _: type("Usage", (), {"free": 1000, "total": 0, "used": 0})
    )
    payload = {"model": {"w": torch.zeros(1000)}}
    with pytest.raises(
        OSError,
        match=r"cannot save the checkpoint .*ckpt.pt: the disk is full \(0 MB free, about 0 MB "
        r"needed\); the previous checkpoint is kept",
    ):
        save_checkpoint(path, payload)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # no temporary left


def test_an_invalid_random_state_is_named_on_resume(trained, tmp_path):
    rewrite(trained, tmp_path / CHECKPOINT_NAME, rng=[{"torch": 1}])
    settings = torch.load(trained, weights_only=True)["train_config"]
    config = TrainConfig(**{**settings, "out_dir": str(tmp_path), "resume": True})
    with pytest.raises(ValueError, match="its saved random state is invalid"):
        train(config)


def test_a_checkpoints_tokenizer_is_checked_before_it_is_built(trained, tmp_path):
    """41 merges that each double a token would need 2**41 bytes: refused while loading."""
    merges = [[97, 97, 256]] + [[255 + i, 255 + i, 256 + i] for i in range(1, 41)]
    doubling = {"kind": "bpe", "name": "bpe", "pattern": "x", "special_tokens": {},
                "byte_ids": list(range(256)), "merges": merges}  # fmt: skip
    path = rewrite(trained, tmp_path / "ckpt.pt", tokenizer=doubling)
    with pytest.raises(ValueError, match="invalid tokenizer .*longer than the 1,024 allowed"):
        load_model(path)
    path = rewrite(trained, tmp_path / "ckpt.pt", tokenizer={"kind": "char", "chars": [1, 2]})
    with pytest.raises(ValueError, match="invalid tokenizer .*'chars' \\[1, 2\\], not a non-empty"):
        load_model(path)


def test_a_tokenizer_that_disagrees_with_the_model_is_refused_at_load(trained, tmp_path):
    chars = torch.load(trained, weights_only=True)["tokenizer"]["chars"]
    path = rewrite(trained, tmp_path / "ckpt.pt", tokenizer={"kind": "char", "chars": chars[:-1]})
    with pytest.raises(
        ValueError,
        match=f"tokenizer has a vocabulary of {len(chars) - 1} but its model_config's "
        f"vocab_size is {len(chars)}",
    ):
        load_model(path)


def test_a_changed_num_layers_is_refused_before_the_model_is_built(trained, tmp_path):
    """Ten million tiny blocks fit in memory but would take many minutes to build."""
    config = torch.load(trained, weights_only=True)["model_config"]
    changed = {**config, "num_layers": 10**7, "embed_dim": 2, "num_heads": 1, "hidden_dim": 2}
    path = rewrite(trained, tmp_path / "ckpt.pt", model_config=changed)
    with pytest.raises(
        ValueError, match="num_layers=10000000 but it holds the weights of 1 blocks"
    ):
        load_model(path)
