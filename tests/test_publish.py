"""Published runs: `minigpt publish`, `load_model` on a published folder, and the committed run."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
import torch

import minigpt
from minigpt.cli import main
from minigpt.generation import generate_text
from minigpt.runs import RUNS_DIR
from minigpt.training import TrainConfig, train
from minigpt.training.publish import (
    ATTENTION_TEXT,
    WEIGHTS_NAME,
    SampleSettings,
    file_sha256,
    is_published_run,
    publish_run,
)
from tests.conftest import TINY_TEXT

COMMITTED = RUNS_DIR / "shakespeare-char-cpu"
FILES = {"model.safetensors", "run.json", "metrics.jsonl", "attention.json", "samples.txt"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A tiny finished run folder: ckpt.pt, metrics.jsonl, run.json."""
    folder = tmp_path_factory.mktemp("publish")
    corpus = folder / "corpus.txt"
    corpus.write_text((TINY_TEXT + f"ROMEO:\n{ATTENTION_TEXT}.\n\n") * 30, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MINIGPT_CACHE_DIR", str(folder / "cache"))
            train(
                TrainConfig(
                    data=str(corpus),
                    block_size=32,
                    embed_dim=16,
                    num_heads=2,
                    num_layers=1,
                    batch_size=4,
                    max_iters=3,
                    eval_interval=3,
                    eval_iters=1,
                    log_interval=1,
                    warmup_iters=1,
                    device="cpu",
                    progress=False,
                    out_dir=str(folder / "run"),
                )
            )
    finally:
        torch.set_num_threads(threads)
    return folder / "run"


@pytest.fixture(scope="module")
def published(finished_run, tmp_path_factory) -> Path:
    to = tmp_path_factory.mktemp("published") / "tiny-run"
    publish_run(finished_run, to, SampleSettings(max_new_tokens=30))
    return to


def test_publish_writes_one_runs_files(finished_run, published):
    assert {p.name for p in published.iterdir()} == FILES
    summary = json.loads((published / "run.json").read_text(encoding="utf-8"))
    original = json.loads((finished_run / "run.json").read_text(encoding="utf-8"))
    weights = summary.pop("weights")
    assert summary == original  # the run's own summary, plus the weights entry
    assert weights["file"] == WEIGHTS_NAME and weights["step"] == original["steps"] == 3
    assert weights["sha256"] == file_sha256(published / WEIGHTS_NAME)
    assert weights["bytes"] == (published / WEIGHTS_NAME).stat().st_size
    assert (published / "metrics.jsonl").read_bytes() == (
        finished_run / "metrics.jsonl"
    ).read_bytes()
    assert is_published_run(published) and not is_published_run(finished_run)


def test_published_weights_are_the_checkpoints(finished_run, published):
    model, tokenizer = minigpt.load_model(published)
    original, original_tokenizer = minigpt.load_model(finished_run)
    assert not model.training
    assert tokenizer.to_dict() == original_tokenizer.to_dict()
    assert model.config == original.config
    for (name, tensor), (_, expected) in zip(
        model.state_dict().items(), original.state_dict().items()
    ):
        assert torch.equal(tensor, expected), name
    assert model.output.weight is model.token_embedding.weight  # tied, stored once
    # The weights file itself is accepted too.
    again, _ = minigpt.load_model(published / WEIGHTS_NAME)
    assert torch.equal(again.output.weight, model.output.weight)


def test_published_attention_and_samples_come_from_the_weights(published):
    model, tokenizer = minigpt.load_model(published)
    data = json.loads((published / "attention.json").read_text(encoding="utf-8"))
    expected = model.attention_maps(torch.tensor([tokenizer.encode(ATTENTION_TEXT)]))[:, 0]
    torch.testing.assert_close(
        torch.tensor(data["attention"]).double(), expected.double(), atol=5e-4, rtol=0
    )
    assert data["source"]["steps"] == 3 and data["source"]["preset"] == "tiny-run"
    samples = (published / "samples.txt").read_text(encoding="utf-8")
    assert samples.startswith(f"# MiniGPT samples from {published / WEIGHTS_NAME} (step 3)\n")
    for seed in (1, 2, 3):  # what `minigpt sample` writes: three seeded samples
        text = generate_text(
            model, tokenizer, "ROMEO:", max_new_tokens=30, temperature=0.8, seed=seed
        )
        assert (
            f"=== sample {seed} · seed {seed} · temperature 0.8 · prompt 'ROMEO:' ===\n{text}\n"
            in samples
        )


def test_sample_accepts_a_published_folder(finished_run, published, capsys):
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(published),
                "--prompt",
                "Speak",
                "--temperature",
                "0",
                "--max-new-tokens",
                "20",
            ]
        )
        == 0
    )
    from_published = capsys.readouterr().out
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(finished_run),
                "--prompt",
                "Speak",
                "--temperature",
                "0",
                "--max-new-tokens",
                "20",
            ]
        )
        == 0
    )
    assert from_published == capsys.readouterr().out
    assert from_published.startswith("Speak") and len(from_published) == len("Speak") + 21


def test_a_changed_weights_file_is_refused(published, tmp_path):
    copy = shutil.copytree(published, tmp_path / "copy")
    data = bytearray((copy / WEIGHTS_NAME).read_bytes())
    data[-1] ^= 1
    (copy / WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match its run.json: SHA-256 .* damaged"):
        minigpt.load_model(copy)
    (copy / WEIGHTS_NAME).write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\n")
    with pytest.raises(ValueError, match="Git LFS pointer: run git lfs pull"):
        minigpt.load_model(copy)


def test_a_published_folder_needs_its_run_json(published, tmp_path):
    copy = shutil.copytree(published, tmp_path / "copy")
    summary = json.loads((copy / "run.json").read_text(encoding="utf-8"))
    del summary["weights"]
    (copy / "run.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(ValueError, match="records no weights SHA-256"):
        minigpt.load_model(copy)
    (copy / "run.json").unlink()
    with pytest.raises(FileNotFoundError, match="has no run.json beside it"):
        minigpt.load_model(copy)


def test_publish_refuses_to_replace_a_run_and_unfinished_runs(
    finished_run, published, tmp_path, capsys
):
    assert main(["publish", "--run", str(finished_run), "--to", str(published)]) == 2
    assert "already holds a run (run.json); pass --overwrite" in capsys.readouterr().err
    assert main(["publish", "--run", str(tmp_path), "--to", str(tmp_path / "x")]) == 2
    assert "ckpt.pt not found (publish a finished run folder)" in capsys.readouterr().err
    unfinished = shutil.copytree(finished_run, tmp_path / "unfinished")
    summary = json.loads((unfinished / "run.json").read_text(encoding="utf-8"))
    summary["steps"] = 2
    (unfinished / "run.json").write_text(json.dumps(summary), encoding="utf-8")
    with pytest.raises(ValueError, match="checkpoint .* is from step 3 but its run.json"):
        publish_run(unfinished, tmp_path / "y")
    assert not (tmp_path / "y" / "run.json").exists()


def test_publish_overwrite_from_the_command_line(finished_run, tmp_path, capsys):
    to = tmp_path / "again"
    publish = ["publish", "--run", str(finished_run), "--to", str(to), "--prompt", "All:"]
    assert main([*publish, "--max-new-tokens", "5"]) == 0
    assert main([*publish, "--max-new-tokens", "5", "--overwrite"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"published step 3 of .* model\.safetensors \(0\.0 MB, sha256 \w{12}…\)", out)
    assert {p.name for p in to.iterdir()} == FILES  # no staging folder left behind
    refused = ["publish", "--run", str(finished_run), "--to", str(tmp_path / "z")]
    assert main([*refused, "--prompt", "Zounds"]) == 2
    err = capsys.readouterr().err  # the default prompt, ROMEO:, lacks nothing; this one does
    assert "character 'Z' (U+005A) at position 0 is not in the tokenizer's vocabulary" in err
    assert not (tmp_path / "z").exists()


# --- The run the guide publishes ------------------------------------------------------------


def test_the_committed_run_is_one_run():
    summary = json.loads((COMMITTED / "run.json").read_text(encoding="utf-8"))
    weights = summary["weights"]
    path = COMMITTED / WEIGHTS_NAME
    assert weights["sha256"] == file_sha256(path)
    assert path.stat().st_size == weights["bytes"] <= 25_000_000
    metrics = [json.loads(line) for line in (COMMITTED / "metrics.jsonl").read_text().splitlines()]
    last_eval = [m for m in metrics if m["kind"] == "eval"][-1]
    assert weights["step"] == summary["steps"] == metrics[-1]["step"] == last_eval["step"]
    assert last_eval["val_loss"] == summary["final_val_loss"]
    attention = json.loads((COMMITTED / "attention.json").read_text(encoding="utf-8"))
    assert attention["source"]["steps"] == summary["steps"]
    assert attention["source"]["val_loss"] == round(summary["final_val_loss"], 3)
    assert attention["model_config"] == summary["model_config"]


def test_the_committed_files_come_from_the_committed_weights():
    model, tokenizer = minigpt.load_model(COMMITTED)
    data = json.loads((COMMITTED / "attention.json").read_text(encoding="utf-8"))
    ids = torch.tensor([tokenizer.encode(data["text"])])
    torch.testing.assert_close(
        torch.tensor(data["attention"]).double(),
        model.attention_maps(ids)[:, 0].double(),
        atol=5e-4,
        rtol=0,
    )
    samples = (COMMITTED / "samples.txt").read_text(encoding="utf-8")
    header, settings = samples.splitlines()[:2]
    assert (
        header
        == "# MiniGPT samples from minigpt/runs/shakespeare-char-cpu/model.safetensors (step 1500)"
    )
    assert settings.startswith("# temperature=0.8 top_k=None top_p=None max_new_tokens=400")
    first = samples.split("=== sample 1 · seed 1 · temperature 0.8 · prompt 'ROMEO:' ===\n")[1]
    regenerated = generate_text(
        model, tokenizer, "ROMEO:", max_new_tokens=50, temperature=0.8, seed=1
    )
    assert first.startswith(regenerated)


# --- Untrusted published folders: every tampered file is one line, nothing read outside -----


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict) -> None:
    """A safetensors file written byte by byte, so any metadata (even invalid) can be stored."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.bool: "BOOL"}
    header: dict = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, tensor in tensors.items():
        blob = tensor.contiguous().numpy().tobytes()
        header[name] = {
            "dtype": names[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def _tampered(published: Path, folder: Path, change) -> Path:
    """A copy of `published` whose weights file, metadata or run.json `change` rewrote; run.json's
    SHA-256 is updated to match, as someone tampering on purpose would do."""
    from safetensors import safe_open

    copy = Path(shutil.copytree(published, folder))
    weights = copy / WEIGHTS_NAME
    with safe_open(str(weights), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    summary = json.loads((copy / "run.json").read_text(encoding="utf-8"))
    change(metadata=metadata, tensors=tensors, summary=summary, folder=copy)
    if weights.is_file() and not weights.is_symlink():
        _write_safetensors(weights, tensors, metadata)
        if isinstance(summary.get("weights", {}).get("sha256"), str):
            summary["weights"]["sha256"] = file_sha256(weights)
            summary["weights"]["bytes"] = weights.stat().st_size
    summary_path = copy / "run.json"
    if summary_path.is_file() and not summary_path.is_symlink():
        summary_path.write_text(json.dumps(summary.get("__replace__", summary)), encoding="utf-8")
    return copy


def _meta(key, value):
    def change(metadata, **_):
        if value is None:
            metadata.pop(key)
        else:
            metadata[key] = value

    return change


def _config(**fields):
    def change(metadata, **_):
        config = json.loads(metadata["model_config"])
        config.update(fields)
        metadata["model_config"] = json.dumps(config)

    return change


def _tokenizer(data):
    return _meta("tokenizer", json.dumps(data))


def _doubling_bpe() -> dict:
    """41 merges, each joining the previous token to itself: its token would be 2**41 bytes."""
    merges = [[97, 97, 256]] + [[255 + i, 255 + i, 256 + i] for i in range(1, 41)]
    return {"kind": "bpe", "name": "bpe", "pattern": "x", "special_tokens": {},
            "byte_ids": list(range(256)), "merges": merges}  # fmt: skip


def _bpe(**fields) -> dict:
    return {**_doubling_bpe(), "merges": [], **fields}


def _weights(change_tensor):
    def change(tensors, **_):
        for name in tensors:
            tensors[name] = change_tensor(tensors[name])

    return change


def _summary(**weights):
    def change(summary, **_):
        summary["weights"].update(weights)

    return change


def _whole_summary(value):
    def change(summary, **_):
        summary.clear()
        summary["__replace__"] = value

    return change


def _link(name, target):
    def change(folder, **_):
        source = folder.parent / f"elsewhere-{name}"
        shutil.copyfile(folder / name, source)
        (folder / name).unlink()
        (folder / name).symlink_to(source if target is None else target)

    return change


def _fifo(name):
    def change(folder, **_):
        (folder / name).unlink()
        os.mkfifo(folder / name)

    return change


TAMPERED = [
    ("no model_config", _meta("model_config", None), "model.safetensors", "model_config"),
    ("no tokenizer", _meta("tokenizer", None), "model.safetensors", "'tokenizer'"),
    ("no format", _meta("format", None), "model.safetensors", "minigpt-published-v1"),
    ("config hello", _meta("model_config", '"hello"'), "model_config", "not a JSON object"),
    ("config not JSON", _meta("model_config", "{"), "model_config", "not valid JSON"),
    ("config wrong type", _config(embed_dim="16"), "model_config", "embed_dim must be an int"),
    ("config unknown field", _config(colour=1), "model_config", "unknown MiniGPTConfig field"),
    (
        "config huge",
        _config(embed_dim=8192, num_heads=8, num_layers=2**31 - 1),
        "needs about",
        "of memory, but only",
    ),  # fmt: skip
    ("config other vocab", _config(vocab_size=7), "model_config", "vocab_size"),
    (
        "config many layers",
        _config(num_layers=10**7, embed_dim=2, num_heads=1, hidden_dim=2),
        "num_layers=10000000",
        "weights of 1 blocks",
    ),  # fmt: skip
    ("config deep JSON", _meta("model_config", "[" * 100_000), "model_config", "not valid JSON"),
    ("tokenizer deep JSON", _meta("tokenizer", "[" * 100_000), "tokenizer", "not valid JSON"),
    ("bpe long pattern", _tokenizer(_bpe(pattern="a" * 5000)), "tokenizer", "5,000 characters"),
    ("tokenizer a list", _meta("tokenizer", "[1, 2]"), "tokenizer", "not a JSON object"),
    ("tokenizer not JSON", _meta("tokenizer", "{"), "tokenizer", "not valid JSON"),
    ("tokenizer no chars", _tokenizer({"kind": "char"}), "tokenizer", "'chars'"),
    ("tokenizer int chars", _tokenizer({"kind": "char", "chars": [1, 2]}), "tokenizer", "chars"),
    (
        "tokenizer short",
        _tokenizer({"kind": "char", "chars": "abc"}),
        "vocabulary of 3",
        "vocab_size",
    ),  # fmt: skip
    ("tokenizer unknown kind", _tokenizer({"kind": "morse"}), "tokenizer", "unknown tokenizer"),
    ("bpe no byte ids", _tokenizer(_bpe(byte_ids=[])), "tokenizer", "byte_ids"),
    ("bpe unknown ids", _tokenizer(_bpe(merges=[[999, 1000, 256]])), "tokenizer", "999"),
    ("bpe empty merge", _tokenizer(_bpe(merges=[[]])), "tokenizer", "merges"),
    ("bpe bad regex", _tokenizer(_bpe(pattern="(")), "tokenizer", "pattern"),
    ("bpe doubling", _tokenizer(_doubling_bpe()), "tokenizer", "longer than"),
    ("step not a number", _meta("step", "x"), "model.safetensors", "step"),
    ("float16 weights", _weights(lambda t: t.half()), "model.safetensors", "float32"),
    ("int64 weights", _weights(lambda t: t.long()), "model.safetensors", "float32"),
    ("bool weights", _weights(lambda t: t > 0), "model.safetensors", "float32"),
    ("sha256 an int", _summary(sha256=12), "run.json", "weights.sha256"),
    ("step a string", _summary(step="x"), "run.json", "weights.step"),
    ("step negative", _summary(step=-1), "run.json", "weights.step"),
    ("run.json a list", _whole_summary([1]), "run.json", "weights"),
    ("run.json deep", _whole_summary([[[[[]]]]]), "run.json", "weights"),
    ("weights a symlink", _link(WEIGHTS_NAME, None), "model.safetensors", "symbolic link"),
    (
        "weights to passwd",
        _link(WEIGHTS_NAME, "/etc/passwd"),
        "model.safetensors",
        "symbolic link",
    ),  # fmt: skip
    ("run.json a symlink", _link("run.json", None), "run.json", "symbolic link"),
    ("run.json to environ", _link("run.json", "/proc/self/environ"), "run.json", "symbolic link"),
    ("weights a fifo", _fifo(WEIGHTS_NAME), "model.safetensors", "not a regular file"),
    ("run.json a fifo", _fifo("run.json"), "run.json", "not a regular file"),
]


@pytest.mark.parametrize(
    ("change", "fragments"),
    [pytest.param(change, fragments, id=name) for name, change, *fragments in TAMPERED],
)
def test_a_tampered_published_folder_is_one_line_error(
    published, tmp_path, capsys, change, fragments
):
    folder = _tampered(published, tmp_path / "tampered", change)
    with pytest.raises(ValueError) as raised:
        minigpt.load_model(folder)
    message = str(raised.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    code = main(["sample", "--checkpoint", str(folder), "--max-new-tokens", "1", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert all(fragment in captured.err for fragment in fragments)


def test_a_named_weights_file_is_the_one_loaded(published, tmp_path):
    copy = shutil.copytree(published, tmp_path / "copy")
    shutil.copyfile(copy / WEIGHTS_NAME, copy / "other.safetensors")
    model, _ = minigpt.load_model(copy / "other.safetensors")  # a renamed copy: same SHA-256
    data = bytearray((copy / "other.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "other.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"other\.safetensors does not match its run\.json"):
        minigpt.load_model(copy / "other.safetensors")
    (copy / "other.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"other\.safetensors"):
        minigpt.load_model(copy / "other.safetensors")


def test_a_damaged_sparse_weights_file_is_refused_without_reading_it_whole(published, tmp_path):
    copy = shutil.copytree(published, tmp_path / "copy")
    with open(copy / WEIGHTS_NAME, "r+b") as f:
        f.truncate(256 * 2**20)  # 256 MiB, almost all of it a hole
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="does not match its run.json"):
            minigpt.load_model(copy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # the file is four times as large


# --- Publishing is atomic: the old folder whole, or the new one -----------------------------


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _leftovers(to: Path) -> list[str]:
    names = [p.name for p in to.parent.iterdir() if p.name.startswith(f".{to.name}.")]
    return names + [p.name for p in to.iterdir() if p.name.startswith(".publish-")]


@pytest.fixture
def republished(published, tmp_path) -> Path:
    """A published folder, with a file of the user's own beside the run's files."""
    to = Path(shutil.copytree(published, tmp_path / "site" / "tiny-run"))
    (to / "NOTES.md").write_text("my notes\n", encoding="utf-8")
    return to


def test_an_empty_destination_is_refused(finished_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["publish", "--run", str(finished_run), "--to", ""])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err
    assert "error: the folder to publish into is empty (--to '')" in captured.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fault", ["OSError", "SafetensorError"])
def test_a_full_disk_leaves_the_old_folder_whole(
    finished_run, republished, monkeypatch, capsys, fault
):
    import errno

    from safetensors import SafetensorError

    before = _contents(republished)
    if fault == "OSError":

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr("minigpt.training.publish.export_attention_maps", full)
    else:

        def full(*args, **kwargs):
            raise SafetensorError("Error while serializing: I/O error: No space left on device")

        monkeypatch.setattr("safetensors.torch.save_file", full)
    publish = ["publish", "--run", str(finished_run), "--to", str(republished), "--overwrite"]
    code = main([*publish, "--max-new-tokens", "5"])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert f"cannot publish into {republished}: the disk is full" in captured.err
    assert f"{republished} is unchanged" in captured.err
    assert _contents(republished) == before and _leftovers(republished) == []


def test_overwrite_keeps_the_users_own_files(finished_run, republished, capsys):
    before = _contents(republished)
    publish = ["publish", "--run", str(finished_run), "--to", str(republished), "--overwrite"]
    assert main([*publish, "--max-new-tokens", "5", "--prompt", "All:"]) == 0
    after = _contents(republished)
    assert set(after) == FILES | {"NOTES.md"} and after["NOTES.md"] == b"my notes\n"
    assert after["samples.txt"] != before["samples.txt"]
    assert after["samples.txt"].startswith(
        f"# MiniGPT samples from {republished / WEIGHTS_NAME} (step 3)\n".encode()
    )
    assert _leftovers(republished) == []


def test_a_publish_in_progress_refuses_a_second(finished_run, tmp_path, capsys):
    from minigpt.training.publish import destination_lock

    to = tmp_path / "new-run"
    with destination_lock(to):
        code = main(["publish", "--run", str(finished_run), "--to", str(to)])
        captured = capsys.readouterr()
        assert code == 2 and captured.err.count("\n") == 1
        assert f"{to} is being published into by another minigpt publish" in captured.err
        assert list(to.iterdir()) == []


def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_what_a_killed_publish_left_is_tidied(finished_run, republished, capsys):
    pid = _dead_pid()
    stale = republished.parent / f".tiny-run.publish-{pid}"
    stale.mkdir()
    (stale / WEIGHTS_NAME).write_bytes(b"half")
    (republished / ".publish-abc123").mkdir()  # what earlier versions staged inside the folder
    before = _contents(republished)
    # Killed between its two renames: the old folder set aside, the new one not yet in place.
    republished.rename(republished.parent / f".tiny-run.replaced-{pid}")
    code = main(["publish", "--run", str(finished_run), "--to", str(republished)])
    assert code == 2 and "already holds a run" in capsys.readouterr().err  # it was put back
    assert _contents(republished) == before
    assert _leftovers(republished) == []


SIGNALLED = """
import os, signal, sys
from minigpt.cli import main
import minigpt.training.publish as publish
stage, signum = sys.argv[1], getattr(signal, sys.argv[2])
original = getattr(publish, stage)
def interrupted(*args, **kwargs):
    result = original(*args, **kwargs)
    os.kill(os.getpid(), signum)
    return result
setattr(publish, stage, interrupted)
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize(
    ("stage", "signum"),
    [
        ("export_attention_maps", "SIGTERM"),
        ("_write_samples", "SIGINT"),
        ("_write_samples", "SIGTERM"),
    ],
)
def test_a_signal_during_publish_overwrite_leaves_the_old_folder_whole(
    finished_run, republished, stage, signum
):
    import subprocess
    import sys

    before = _contents(republished)
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED, stage, signum, "publish", "--run", str(finished_run),
         "--to", str(republished), "--overwrite", "--max-new-tokens", "5"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 128 + getattr(signal, signum), done.stderr
    assert done.stderr == "minigpt publish: interrupted\n"
    assert _contents(republished) == before and _leftovers(republished) == []


def test_a_signal_during_the_swap_leaves_one_whole_folder(finished_run, republished):
    """The two renames that swap the folders run with stop signals held back: the signal lands
    after the swap, and the folder is the new one, whole."""
    import subprocess
    import sys

    script = SIGNALLED.replace("original = getattr(publish, stage)", "original = os.rename")
    script = script.replace("setattr(publish, stage, interrupted)", "os.rename = interrupted")
    done = subprocess.run(
        [sys.executable, "-c", script, "-", "SIGTERM", "publish", "--run", str(finished_run),
         "--to", str(republished), "--overwrite", "--max-new-tokens", "5", "--prompt", "All:"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    after = _contents(republished)
    assert set(after) == FILES | {"NOTES.md"} and b"prompt='All:'" in after["samples.txt"]
    assert _leftovers(republished) == []


def test_two_publishes_into_one_new_folder_cannot_both_succeed(finished_run, tmp_path):
    import subprocess
    import sys

    to = tmp_path / "race"
    command = [sys.executable, "-m", "minigpt", "publish", "--run", str(finished_run),
               "--to", str(to), "--max-new-tokens", "5"]  # fmt: skip
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
    for p in processes:
        p.stdout.close()
        p.stderr.close()
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert refused.count("\n") == 1 and (
        "being published into by another minigpt publish" in refused
        or "already holds a run" in refused
    )
    assert {p.name for p in to.iterdir()} == FILES and _leftovers(to) == []


def test_publish_with_a_closed_output_still_publishes(finished_run, tmp_path):
    """The work is done; then one line says its report was lost, and the status is 2."""
    import subprocess
    import sys

    to = tmp_path / "published"
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "minigpt", "publish",
         "--run", str(finished_run), "--to", str(to), "--max-new-tokens", "5"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr == (
        "minigpt publish: error: cannot write to standard output (standard output is closed)\n"
    )
    assert {p.name for p in to.iterdir()} == FILES


def test_a_folder_named_like_a_weights_file_is_a_folder(published, tmp_path):
    copy = shutil.copytree(published, tmp_path / "run.safetensors")
    model, _ = minigpt.load_model(copy)
    assert model.config.embed_dim == 16
