"""The `minigpt` command line: help, version, tokenize, train, sample, and its errors."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import minigpt
from minigpt import __version__
from minigpt.cli import main
from minigpt.generation import generate_text
from minigpt.training import load_checkpoint, make_config
from tests.conftest import TINY_TEXT

TINY = [
    "--block-size",
    "8",
    "--embed-dim",
    "16",
    "--num-heads",
    "2",
    "--num-layers",
    "1",
    "--batch-size",
    "4",
    "--eval-interval",
    "2",
    "--eval-iters",
    "1",
    "--log-interval",
    "1",
    "--warmup-iters",
    "1",
    "--device",
    "cpu",
    "--no-progress",
]


pytestmark = pytest.mark.usefixtures("one_thread", "private_cache")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One tiny run trained through the CLI, shared by the sampling tests."""
    folder = tmp_path_factory.mktemp("cli-run")
    corpus = folder / "corpus.txt"
    corpus.write_text(TINY_TEXT * 30, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINIGPT_CACHE_DIR", str(folder / "cache"))
        code = main(
            [
                "train",
                "--data",
                str(corpus),
                *TINY,
                "--max-iters",
                "4",
                "--out-dir",
                str(folder / "run"),
            ]
        )
    assert code == 0
    return folder / "run"


def assert_one_line_error(capsys, code: int, *fragments: str) -> str:
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_the_trainers_package_never_imports_the_command_line():
    training = Path(minigpt.__file__).parent / "training"
    imported = set()
    for module in training.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                imported.add("." * node.level + (node.module or ""))
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert "..cli" not in imported and "minigpt.cli" not in imported
    assert {"..samples", ".checkpoint"} <= imported  # the scan sees relative imports


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"minigpt {__version__}" == "minigpt 0.1.0"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "minigpt train --preset shakespeare-char-cpu" in out
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--learning-rate" in out and "--no-compile" in out and "--grad-accum-steps" in out
    assert "the peak learning rate" in out  # the field's comment is its help
    assert main([]) == 2


def help_text(capsys, *command: str) -> str:
    """`minigpt COMMAND --help` with its line wrapping undone."""
    assert main([*command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


def test_train_help_says_a_preset_replaces_the_defaults(capsys):
    text = help_text(capsys, "train")
    assert (
        "--preset {shakespeare-char,shakespeare-char-cpu,shakespeare-gpt2} start from a named "
        "configuration: its values replace the defaults listed below" in text
    )
    assert (
        "training settings (TrainConfig fields): A --preset or --config file replaces these "
        "defaults; --print-config shows the values a run will use." in text
    )
    assert (
        "--print-config print the settings the run would use, as a TOML file for --config, "
        "and exit" in text
    )


def test_sample_help_gives_every_option_its_meaning_and_default(capsys):
    text = help_text(capsys, "sample")
    assert (
        "--max-new-tokens N tokens to generate after the prompt, per sample (default: 500)" in text
    )
    assert "--num-samples N how many samples to generate, one after another (default: 1)" in text


def test_print_config_prints_toml_that_config_reads_back(tmp_path, capsys):
    chosen = [
        "--preset",
        "shakespeare-char-cpu",
        "--lr-decay-iters",
        "none",
        "--batch-size",
        "8",
        "--no-progress",
        "--data",
        str(tmp_path / 'a "quoted" folder ✓' / "corpus.txt"),
        "--out-dir",
        str(tmp_path / "never-made"),
    ]
    assert main(["train", *chosen, "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert "\nbatch_size = 8\n" in printed and "\nmax_iters = 1500\n" in printed  # flag, preset
    assert "# lr_decay_iters = none\n" in printed  # TOML has no null: left at its default
    toml = tmp_path / "run.toml"
    toml.write_text(printed, encoding="utf-8")
    expected = make_config(
        "shakespeare-char-cpu",
        overrides={
            "lr_decay_iters": None,
            "batch_size": 8,
            "progress": False,
            "data": chosen[8],
            "out_dir": chosen[10],
        },
    )
    assert make_config(toml=toml) == expected
    assert main(["train", "--config", str(toml), "--print-config"]) == 0
    assert capsys.readouterr().out == printed
    assert not (tmp_path / "never-made").exists()  # printing trains nothing


def test_tokenize_prints_an_aligned_table(capsys):
    assert main(["tokenize", "Hello, world!"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "id", "token"]
    assert lines[1].split() == ["0", "15496", "'Hello'"]
    assert lines[3].split() == ["2", "995", "'", "world'"]
    assert lines[-1].startswith("4 tokens for 13 characters (gpt2 tokenizer")
    assert len({line.index("'") for line in lines[1:-1]}) == 1  # tokens start in one column


def test_tokenize_with_a_char_vocabulary(capsys, corpus):
    assert main(["tokenize", "All", "--tokenizer", "char", "--data", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "3 tokens for 3 characters (char tokenizer" in out
    assert main(["tokenize", "Zoo", "--tokenizer", "char", "--data", str(corpus)]) == 2
    assert_one_line_error(capsys, 2, "character 'Z'")


def test_train_writes_its_files(run_dir, capsys):
    assert {p.name for p in run_dir.iterdir()} >= {"ckpt.pt", "metrics.jsonl", "run.json"}
    summary = json.loads((run_dir / "run.json").read_text())
    assert summary["steps"] == 4 and summary["config"]["embed_dim"] == 16


def test_train_flags_override_the_toml_file(corpus, tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text(f'data = "{corpus}"\nmax_iters = 50\nembed_dim = 8\n', encoding="utf-8")
    code = main(
        [
            "train",
            "--config",
            str(toml),
            *TINY,
            "--max-iters",
            "1",
            "--out-dir",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.startswith("done: step 1, train loss")
    summary = json.loads((tmp_path / "out" / "run.json").read_text())
    assert summary["config"]["max_iters"] == 1  # the flag beats the file
    assert summary["config"]["embed_dim"] == 16  # ... here too (TINY sets it)


def test_train_resume_keeps_the_checkpoints_settings(corpus, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert (
        main(
            [
                "train",
                "--data",
                str(corpus),
                *TINY,
                "--embed-dim",
                "8",
                "--max-iters",
                "2",
                "--out-dir",
                out,
            ]
        )
        == 0
    )
    assert main(["train", "--resume", "--out-dir", out, "--max-iters", "3"]) == 0
    summary = json.loads((tmp_path / "out" / "run.json").read_text())
    assert summary["steps"] == 3 and summary["resumed_from_step"] == 2
    assert summary["config"]["embed_dim"] == 8 and summary["config"]["progress"] is False


def test_ctrl_c_during_training_says_how_to_resume(monkeypatch, capsys, tmp_path):
    from minigpt import training

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    out_dir = tmp_path / "somewhere"
    assert main(["train", "--out-dir", str(out_dir), "--device", "cpu"]) == 130
    err = capsys.readouterr().err  # stopped before the first checkpoint: nothing to resume
    assert "interrupted" in err and "--resume" not in err
    out_dir.mkdir()
    (out_dir / "ckpt.pt").write_bytes(b"")
    assert main(["train", "--out-dir", str(out_dir), "--device", "cpu"]) == 130
    assert f"minigpt train --resume --out-dir {out_dir}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (["train", "--batch-size", "lots"], ["--batch-size: expected a whole number, got 'lots'"]),
        (["train", "--learning-rate", "fast"], ["--learning-rate: expected a number, got 'fast'"]),
        (["train", "--hidden-dim", "wide"], ["--hidden-dim: expected a whole number"]),
        (["train", "--batch-size", "0"], ["batch_size must be at least 1"]),
        (["train", "--preset", "gpt5"], ["invalid choice: 'gpt5'"]),
        (["train", "--dropout", "1.5", "--device", "cpu"], ["dropout must be in [0, 1)"]),
        (["train", "--resume", "--out-dir", "/nonexistent/run"], ["nothing to resume", "ckpt.pt"]),
        (["sample"], ["--checkpoint"]),
        (
            ["sample", "--checkpoint", "/nonexistent/ckpt.pt"],
            ["checkpoint /nonexistent/ckpt.pt not found"],
        ),
        (["sample", "--checkpoint", "x", "--top-p", "2"], ["top_p must be in (0, 1]"]),
        (["sample", "--checkpoint", "x", "--max-new-tokens", "-1"], ["must be at least 0, got -1"]),
        (["sample", "--checkpoint", "x", "--num-samples", "two"], ["expected a whole number"]),
        (["train", "--threads", "0"], ["--threads", "must be at least 1, got 0"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    ],
)
def test_bad_arguments_are_one_line_errors(capsys, arguments, fragments):
    assert_one_line_error(capsys, main(arguments), *fragments)


def test_unknown_toml_keys_and_empty_corpora_are_one_line_errors(tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text("learning_rat = 0.1\n", encoding="utf-8")
    assert_one_line_error(
        capsys, main(["train", "--config", str(toml)]), "unknown setting(s)", "learning_rat"
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    code = main(["train", "--data", str(empty), *TINY, "--out-dir", str(tmp_path / "o")])
    assert_one_line_error(capsys, code, "empty")


def test_sample_streams_seeded_reproducible_text(run_dir, capsys, tmp_path):
    arguments = [
        "sample",
        "--checkpoint",
        str(run_dir),
        "--prompt",
        "All:",
        "--seed",
        "5",
        "--max-new-tokens",
        "30",
        "--device",
        "cpu",
    ]
    assert main(arguments) == 0
    first = capsys.readouterr().out
    assert first.startswith("All:") and len(first) == len("All:") + 30 + 1  # + final newline
    assert main(arguments) == 0
    assert capsys.readouterr().out == first
    out_file = tmp_path / "samples.txt"
    assert main([*arguments, "--num-samples", "2", "--out", str(out_file)]) == 0
    printed = capsys.readouterr().out
    assert "--- sample 1 (seed 5) ---" in printed and "--- sample 2 (seed 6) ---" in printed
    written = out_file.read_text(encoding="utf-8")
    assert written.startswith(f"# MiniGPT samples from {run_dir / 'ckpt.pt'} (step 4)")
    assert "=== sample 1 · seed 5 · temperature 0.8 · prompt 'All:' ===\n" + first in written
    assert "=== sample 2 · seed 6" in written


def test_threads_flag_sets_pytorchs_cpu_threads(run_dir, capsys):
    import torch

    arguments = ["sample", "--checkpoint", str(run_dir), "--max-new-tokens", "2"]
    assert main([*arguments, "--device", "cpu", "--threads", "2"]) == 0
    assert torch.get_num_threads() == 2  # the one_thread fixture restores it afterwards
    capsys.readouterr()
    assert main(["sample", "--help"]) == 0
    assert "--threads N" in capsys.readouterr().out


def test_sample_takes_the_name_of_a_run_shipped_with_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # anywhere, not the repository
    greedy = ["--prompt", "ROMEO:", "--temperature", "0", "--max-new-tokens", "30"]
    assert main(["sample", "--checkpoint", "shakespeare-char-cpu", *greedy, "--device", "cpu"]) == 0
    model, tokenizer = minigpt.load_model("shakespeare-char-cpu")
    expected = generate_text(model, tokenizer, "ROMEO:", max_new_tokens=30, temperature=0)
    assert capsys.readouterr().out == expected + "\n"


def test_sample_errors(run_dir, tmp_path, capsys):
    code = main(["sample", "--checkpoint", str(run_dir), "--prompt", "Zebra 🦓", "--device", "cpu"])
    assert_one_line_error(capsys, code, "character 'Z' (U+005A) at position 0")
    corrupt = tmp_path / "ckpt.pt"
    corrupt.write_bytes(b"garbage")
    code = main(["sample", "--checkpoint", str(corrupt)])
    assert_one_line_error(capsys, code, "corrupt or not a MiniGPT checkpoint")


def test_the_console_script(run_dir, tmp_path):
    script = Path(sys.executable).with_name("minigpt")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "minigpt.cli"]
    done = subprocess.run(
        [
            *command,
            "sample",
            "--checkpoint",
            str(run_dir),
            "--prompt",
            "Speak",
            "--seed",
            "1",
            "--max-new-tokens",
            "10",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Speak") and len(done.stdout) == 5 + 10 + 1
    missing = subprocess.run(
        [*command, "sample", "--checkpoint", str(tmp_path / "none.pt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "not found" in missing.stderr


# -- faults: every one a single line and exit 2, nothing lost -----------------------------


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (["train", "--num-layers", "99999999999999999999"], ["num_layers must be at most"]),
        (["train", "--batch-size", "99999999999999999999"], ["batch_size must be at most"]),
        (["train", "--min-lr", "nan"], ["min_lr must be a finite number, got nan"]),
        (["train", "--learning-rate", "inf"], ["learning_rate must be a finite number, got inf"]),
        (["train", "--seed", "-1"], ["seed must be a whole number in [0, 4294967295], got -1"]),
        (["sample", "--checkpoint", "x", "--seed", "-1"], ["seed must be a whole number in [0,"]),
        (["sample", "--checkpoint", "x", "--temperature", "inf"], ["temperature must be a finite"]),
        (["sample", "--checkpoint", "x", "--top-p", "nan"], ["top_p must be in (0, 1]"]),
    ],
)
def test_numbers_that_cannot_work_are_one_line_errors(capsys, arguments, fragments):
    assert_one_line_error(capsys, main(arguments), *fragments)


def test_a_model_too_large_for_memory_is_one_line_error(corpus, tmp_path, capsys):
    code = main(["train", "--data", str(corpus), *TINY, "--num-layers", "2147483647",
                 "--out-dir", str(tmp_path / "big")])  # fmt: skip
    assert_one_line_error(capsys, code, "parameters needs about", "GB of memory, but only")


def test_a_damaged_checkpoint_is_refused_by_sample_and_resume(run_dir, tmp_path, capsys):
    damaged = tmp_path / "run"
    damaged.mkdir()
    data = bytearray((run_dir / "ckpt.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, inside the weights
    (damaged / "ckpt.pt").write_bytes(bytes(data))
    assert_one_line_error(capsys, main(["sample", "--checkpoint", str(damaged)]), "is damaged")
    code = main(["train", "--resume", "--out-dir", str(damaged), "--device", "cpu"])
    assert_one_line_error(capsys, code, "is damaged")


def test_a_checkpoint_from_another_version_is_one_line_error(run_dir, tmp_path, capsys):
    payload = torch.load(run_dir / "ckpt.pt", weights_only=True)
    payload["train_config"]["warmup_steps"] = payload["train_config"].pop("warmup_iters")
    payload["minigpt_version"] = "0.2.0"
    (tmp_path / "old").mkdir()
    torch.save(payload, tmp_path / "old" / "ckpt.pt")
    code = main(["train", "--resume", "--out-dir", str(tmp_path / "old")])
    assert_one_line_error(
        capsys, code, "settings this version does not know: warmup_steps", "minigpt 0.2.0"
    )


def test_resume_refuses_another_tokenizer(run_dir, capsys):
    code = main(["train", "--resume", "--out-dir", str(run_dir), "--tokenizer", "gpt2"])
    assert_one_line_error(capsys, code, "cannot resume with tokenizer 'gpt2'")


def test_a_folder_in_use_is_one_line_error(corpus, tmp_path, capsys):
    from minigpt.training import RunDir

    busy = RunDir(tmp_path / "run")
    busy.lock()
    try:
        code = main(["train", "--data", str(corpus), *TINY, "--out-dir", str(tmp_path / "run")])
        assert_one_line_error(capsys, code, "is in use by a run that is still training", "pid")
    finally:
        busy.unlock()


def test_a_damaged_token_cache_is_encoded_again_with_a_one_line_warning(corpus, tmp_path, capsys):
    arguments = ["train", "--data", str(corpus), *TINY, "--max-iters", "1"]
    assert main([*arguments, "--out-dir", str(tmp_path / "a")]) == 0
    (cached,) = Path(os.environ["MINIGPT_CACHE_DIR"]).glob("tokens/*/tokens.bin")
    cached.write_bytes(b"\xff\xff" * (cached.stat().st_size // 2))  # ids far outside the vocab
    capsys.readouterr()
    assert main([*arguments, "--out-dir", str(tmp_path / "b")]) == 0
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("minigpt train: warning: the cached token")


# -- signals and pipes, in a real process --------------------------------------------------


def minigpt_process(*arguments: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "minigpt", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        **options,
    )


def test_sigterm_saves_and_says_how_to_resume(corpus, tmp_path):
    out_dir = tmp_path / "run"
    process = minigpt_process("train", "--data", str(corpus), *TINY[:-1], "--max-iters",
                              "1000000", "--out-dir", str(out_dir))  # fmt: skip
    assert process.stdout.readline().startswith("step 0: train loss")  # training has begun
    process.send_signal(signal.SIGTERM)  # what `timeout`, `docker stop` and systemd send
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    assert "SIGTERM: stopping after this step" in out
    assert err.strip().splitlines()[-1] == (
        f"minigpt train: interrupted; continue with: minigpt train --resume --out-dir {out_dir}"
    )
    assert "Traceback" not in err
    assert main(["train", "--resume", "--out-dir", str(out_dir), "--max-iters", "0"]) == 0


def test_a_closed_pipe_neither_loses_a_run_nor_prints_an_error(corpus, tmp_path, run_dir):
    """`minigpt train … | head -1`: the run still finishes and saves; `sample | head` and
    `tokenize | head` stop quietly."""
    train = minigpt_process("train", "--data", str(corpus), *TINY[:-1], "--max-iters", "12",
                            "--out-dir", str(tmp_path / "run"))  # fmt: skip
    sample = minigpt_process("sample", "--checkpoint", str(run_dir), "--max-new-tokens",
                             "100000", "--device", "cpu")  # fmt: skip
    tokenize = minigpt_process("tokenize", "to be or not to be " * 5000)
    for process in (train, sample, tokenize):
        process.stdout.read(1)  # the reader takes a little, then goes away
        process.stdout.close()
    for process in (train, sample, tokenize):
        err = process.stderr.read()
        process.wait(timeout=120)
        assert process.returncode == 0, err
        assert "Broken pipe" not in err and "Traceback" not in err and "Exception" not in err
    assert load_checkpoint(tmp_path / "run")["step"] == 12
    assert (tmp_path / "run" / "run.json").is_file()


# -- where the output goes: closed, full, interrupted early ------------------------------------


def _with_stdout(redirect: str, *arguments: str) -> subprocess.CompletedProcess:
    """`minigpt ARGUMENTS` run by the shell with its standard output redirected (`>&-`, ...)."""
    return subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", sys.executable, "-m", "minigpt", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.parametrize(
    ("redirect", "reason"),
    [(">&-", "standard output is closed"), (">/dev/full", "No space left on device")],
)
def test_output_that_cannot_be_written_is_an_error(run_dir, tmp_path, redirect, reason):
    """A closed standard output or a full disk: the work is still done (--out is saved), then
    one line says the output was lost, and the status is 2, never 0."""
    out = tmp_path / "samples.txt"
    sample = ["sample", "--checkpoint", str(run_dir), "--max-new-tokens", "5", "--seed", "1",
              "--device", "cpu", "--out", str(out)]  # fmt: skip
    for arguments in (["tokenize", "hello"], sample, ["check", "--list"]):
        done = _with_stdout(redirect, *arguments)
        assert done.returncode == 2, done.stderr
        assert done.stderr == (
            f"minigpt {arguments[0]}: error: cannot write to standard output ({reason})\n"
        )
    assert out.read_text(encoding="utf-8").count("=== sample 1 · seed 1") == 1


@pytest.mark.parametrize(
    ("delay", "signum"),
    [(0.0, signal.SIGINT), (0.2, signal.SIGINT), (0.3, signal.SIGTERM), (0.6, signal.SIGINT)],
)
def test_ctrl_c_while_the_command_starts_is_one_line(delay, signum):
    """Ctrl-C (or SIGTERM) while PyTorch is still being imported: 'interrupted', status 128 +
    the signal, no traceback, and no 'Exception ignored' from inside importlib. The signal is
    sent `delay` seconds after the `minigpt` program has begun (its own module imported)."""
    import time

    code = "import sys, minigpt.cli; print('ready', file=sys.stderr, flush=True); minigpt.cli.run()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "tokenize", "hello", "--tokenizer", "char"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert process.stderr.readline() == "ready\n"
    time.sleep(delay)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert "Traceback" not in err and "Exception" not in err, err
    if process.returncode == 0:  # it had finished already
        assert err == "" and "5 tokens for 5 characters" in out
    else:
        assert process.returncode == 128 + signum
        assert err in ("minigpt: interrupted\n", "minigpt tokenize: interrupted\n")


def test_the_command_line_starts_without_importing_pytorch():
    """What makes early Ctrl-C safe: `minigpt` handles it before the heavy imports begin."""
    code = "import sys, minigpt.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout == "False\n", done.stderr


def test_threads_has_an_upper_bound(capsys):
    cores = os.cpu_count()
    code = main(["sample", "--checkpoint", "x", "--threads", str(cores + 1)])
    assert_one_line_error(
        capsys, code, f"--threads: must be at most {cores} (this machine's CPU cores)"
    )


def test_a_catastrophic_pattern_in_a_bpe_file_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("minigpt.bpe.SPLIT_SECONDS", 0.2)
    path = tmp_path / "slow.json"
    data = {"kind": "bpe", "name": "bpe", "pattern": "(?:a|aa)+$", "special_tokens": {},
            "byte_ids": list(range(256)), "merges": []}  # fmt: skip
    path.write_text(json.dumps(data), encoding="utf-8")
    code = main(["tokenize", "a" * 40 + "!", "--tokenizer", str(path)])
    assert_one_line_error(capsys, code, "split pattern", "backtracks catastrophically")
