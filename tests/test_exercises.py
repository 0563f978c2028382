"""`minigpt check` and `minigpt.exercises.check`: the package passes, the usual mistakes fail,
and nothing a checked file does makes a check pass that its behaviour did not earn.

Every exercise's reference (the package's own object) must pass every check, and every wrong
version in tests/mistakes (the mistakes learners make) must fail with the hint written for it
(and without the hint meant for another mistake). Bad usage exits with status 2 and one line on
stderr; the CLI and `check()` agree. The checked file runs in a child process: exiting, killing
that process, patching torch or the package, looping forever or memorising the inputs all end in
a failure (status 1 or 2), never in status 0.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
import torch

from minigpt import cli
from minigpt.exercises import EXERCISES, ExerciseError, check, core, process
from minigpt.exercises.core import run

from .mistakes import MISTAKES

REQUIRED = (
    "merge_pair",
    "char_tokenizer",
    "token_embedding",
    "sinusoidal_table",
    "scaled_dot_product_attention",
    "causal_mask",
    "multi_head_attention",
    "feed_forward",
    "layer_norm",
    "transformer_block",
    "sample_next_token",
)


def test_the_issues_exercises_exist_with_the_packages_names():
    assert set(REQUIRED) <= set(EXERCISES)
    assert {e.chapter for e in EXERCISES.values()} == set(range(1, 11))
    for exercise_id, exercise in EXERCISES.items():
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", exercise.name)
        assert exercise_id in (exercise.name, snake.lower()), exercise_id
        assert len(exercise.checks) >= 4, f"{exercise_id} has only {len(exercise.checks)} checks"


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_the_package_passes_every_check(exercise_id):
    report = run(EXERCISES[exercise_id], EXERCISES[exercise_id].reference)
    assert report.passed, report.text()
    assert len(report.outcomes) == len(EXERCISES[exercise_id].checks)


@pytest.mark.parametrize("wrong", MISTAKES, ids=lambda m: m.name)
def test_a_mistake_fails_with_its_hint(wrong):
    report = run(EXERCISES[wrong.exercise], wrong.obj)
    assert not report.passed, f"{wrong.name} passed every check"
    hints = [o.message for o in report.outcomes if not o.passed]
    assert any(wrong.hint in hint for hint in hints), (
        f"{wrong.name}: no failing check says {wrong.hint!r}\n{report.text()}"
    )
    if wrong.absent:
        assert not any(wrong.absent in hint for hint in hints), (
            f"{wrong.name}: a hint for another mistake ({wrong.absent!r})\n{report.text()}"
        )


def test_every_exercise_catches_at_least_two_mistakes():
    counts = Counter(m.exercise for m in MISTAKES)
    assert set(counts) <= set(EXERCISES)
    assert {e: counts[e] for e in EXERCISES if counts[e] < 2} == {}


def test_a_seed_repeats_the_inputs_and_each_run_draws_new_ones():
    exercise = EXERCISES["merge_pair"]
    inputs = []

    def recording(ids, pair, new_id):
        inputs[-1].append((tuple(ids), pair))
        return exercise.reference(ids, pair, new_id)

    for seed in (5, 5, 6):
        inputs.append([])
        assert run(exercise, recording, seed=seed).seed == seed
    assert inputs[0] == inputs[1] != inputs[2]
    assert run(exercise, exercise.reference).seed != run(exercise, exercise.reference).seed


def _stub_merge_pair(ids, pair, new_id):
    raise NotImplementedError("write merge_pair")


def test_a_stub_is_reported_as_not_written_yet():
    report = run(EXERCISES["merge_pair"], _stub_merge_pair)
    assert report.stub and not report.passed
    assert len(report.outcomes) == 1 and report.not_run == len(EXERCISES["merge_pair"].checks) - 1
    text = report.text()
    assert "not written yet: NotImplementedError: write merge_pair" in text
    assert "merge_pair is still the stub" in text


def test_checks_leave_the_callers_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    with torch.no_grad():
        run(EXERCISES["sinusoidal_table"], EXERCISES["sinusoidal_table"].reference)
        assert not torch.is_grad_enabled()
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_default_dtype() == torch.float32
    assert torch.get_num_threads() == threads


def test_check_prints_the_report_and_returns_it(capsys):
    report = check("residual_add", EXERCISES["residual_add"].reference, seed=7)
    out = capsys.readouterr().out
    assert report and out.rstrip("\n") == report.text()
    assert out.splitlines()[0] == (
        "residual_add (chapter 7): function residual_add from minigpt.residual.residual_add "
        "(seed 7)"
    )
    assert all(line.startswith("  ✓ ") for line in out.splitlines()[1:-1])


def test_check_rejects_unknown_exercises_and_wrong_signatures():
    with pytest.raises(ExerciseError, match=r"unknown exercise 'layernorm': did you mean"):
        check("layernorm", object)
    with pytest.raises(ExerciseError, match=r"LayerNorm must be a class; got function"):
        check("layer_norm", _stub_merge_pair)


# --- The command line -----------------------------------------------------------------------

PASSING = "from minigpt.layer_norm import LayerNorm  # the package's own: passes\n"
WRONG = """\
    import torch
    from torch import nn


    class LayerNorm(nn.Module):
        def __init__(self, dim, eps=1e-5, bias=True):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(dim))
            self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

        def forward(self, x):
            mean = x.mean(dim=-1, keepdim=True)
            variance = x.var(dim=-1, keepdim=True)  # unbiased: divides by n - 1
            out = (x - mean) / torch.sqrt(variance + self.eps) * self.weight
            return out + self.bias if self.bias is not None else out
    """
RAISES = """\
    from torch import nn


    class LayerNorm(nn.Module):
        def __init__(self, dim, eps=1e-5, bias=True):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))  # torch was never imported
    """
STUB = """\
    from torch import nn


    class LayerNorm(nn.Module):
        def __init__(self, dim, eps=1e-5, bias=True):
            super().__init__()
            raise NotImplementedError("create weight and bias")
    """


def _cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["check", *args])
    return status, out.getvalue(), err.getvalue()


def _file(tmp_path, source, name="mine.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return str(path)


def test_list_shows_every_exercise_with_its_chapter_and_task():
    status, out, err = _cli("--list")
    assert status == 0 and not err
    rows = {line.split()[1]: line for line in out.splitlines()[1:] if line[:7].strip().isdigit()}
    assert set(rows) == set(EXERCISES)
    for exercise_id, exercise in EXERCISES.items():
        assert rows[exercise_id].split()[0] == str(exercise.chapter)
        assert f"{exercise.name}: {exercise.task}" in rows[exercise_id]


def _import(path):
    spec = importlib.util.spec_from_file_location("checked_here", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("source", "status"), [(PASSING, 0), (WRONG, 1), (RAISES, 1), (STUB, 1)])
def test_cli_and_check_give_the_same_verdict(tmp_path, capsys, source, status):
    path = _file(tmp_path, source)
    got, out, err = _cli("layer_norm", path, "--seed", "11")
    assert (got, err) == (status, "")
    report = check("layer_norm", _import(path).LayerNorm, seed=11)
    printed = capsys.readouterr().out
    assert report.passed == (status == 0)
    assert out.splitlines()[0] == f"layer_norm (chapter 8): class LayerNorm from {path} (seed 11)"
    assert out.splitlines()[1:] == printed.splitlines()[1:]


def test_the_readers_exception_is_one_line_under_its_check(tmp_path):
    status, out, _ = _cli("layer_norm", _file(tmp_path, RAISES, "raises.py"))
    assert status == 1 and "Traceback" not in out
    assert (
        "✗ LayerNorm(4) has weight (4,) and bias (4,), starting at 1 and 0 LayerNorm(4) failed; "
        "your code raised NameError: name 'torch' is not defined (in __init__, line 7 of "
        "raises.py)"
    ) in " ".join(out.split())


def test_the_usual_mistake_gets_its_hint_from_the_cli(tmp_path):
    status, out, _ = _cli("layer_norm", _file(tmp_path, WRONG))
    assert status == 1
    assert "the variance divides by n − 1; layer norm divides by n" in " ".join(out.split())
    assert out.splitlines()[-1] == f"2 of {len(EXERCISES['layer_norm'].checks)} checks passed."


BAD_USAGE = [
    (("nonexistent_exercise", "x.py"), "unknown exercise 'nonexistent_exercise'"),
    (("layer_norm",), "name the file with your LayerNorm: minigpt check layer_norm FILE.py"),
    ((), "name an exercise and your file: minigpt check EXERCISE FILE.py"),
    (("layer_norm", "{tmp}/missing.py"), "{tmp}/missing.py: no such file"),
    (
        ("layer_norm", "{tmp}/notes.ipynb"),
        "is not a Python file (.py) (in a notebook, call check()",
    ),
    (("layer_norm", "{tmp}/crash.py"), "cannot import {tmp}/crash.py: ZeroDivisionError: division"),
    (("layer_norm", "{tmp}/syntax.py"), "cannot import {tmp}/syntax.py: SyntaxError:"),
    (("layer_norm", "{tmp}/empty.py"), "{tmp}/empty.py defines no LayerNorm: the layer_norm"),
    (
        ("layer_norm", "{tmp}/signature.py"),
        "LayerNorm(dim) does not match the package's LayerNorm(",
    ),
    (("layer_norm", "{tmp}/default.py"), "eps defaults to 1e-06, not 1e-05"),
    (("layer_norm", "{tmp}/function.py"), "LayerNorm must be a class; got function"),
    (("layer_norm", "{tmp}/plain.py"), "LayerNorm must subclass nn.Module"),
    (("merge_pair", "{tmp}/function.py"), "merge_pair(ids, pair) does not match the package's"),
]
MODULE_HEADER = "from torch import nn\n\n\nclass LayerNorm(nn.Module):\n"
BAD_FILES = {
    "notes.ipynb": "{}",
    "crash.py": "1 / 0\n",
    "syntax.py": "def broken(:\n",
    "empty.py": "x = 1\n",
    "signature.py": MODULE_HEADER + "    def __init__(self, dim):\n        super().__init__()\n",
    "default.py": MODULE_HEADER
    + "    def __init__(self, dim, eps=1e-6, bias=True):\n        pass\n",
    "function.py": "def LayerNorm(x):\n    return x\n\n\n"
    + "def merge_pair(ids, pair):\n    return ids\n",
    "plain.py": "class LayerNorm:\n"
    + "    def __init__(self, dim, eps=1e-5, bias=True):\n        pass\n",
}


@pytest.mark.parametrize(("args", "message"), BAD_USAGE, ids=lambda v: str(v)[:40])
def test_bad_usage_exits_2_with_one_line(tmp_path, args, message):
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    args = [a.format(tmp=tmp_path) for a in args]
    status, out, err = _cli(*args)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("minigpt check: error: ")
    assert message.format(tmp=tmp_path) in err


def test_the_installed_command_runs_a_check(tmp_path):
    path = _file(tmp_path, WRONG)
    result = subprocess.run(
        [sys.executable, "-m", "minigpt", "check", "layer_norm", path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "✗ the variance divides by n" in result.stdout and result.stderr == ""


# --- What a checked file cannot do: each of these passed before the checks ran in a child ----

NEVER_NORMALISES = """\
    import torch
    from torch import nn

    torch.allclose = lambda *args, **kwargs: True  # every comparison "passes"


    class LayerNorm(nn.Module):
        def __init__(self, dim, eps=1e-5, bias=True):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(dim))
            self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

        def forward(self, x):
            return x * self.weight + (self.bias if self.bias is not None else 0)
    """
EXITS_IN_INIT = STUB.replace('raise NotImplementedError("create weight and bias")', "sys.exit(0)")
FALSE_PASSES = {
    "sys.exit in the function": "import sys\n\n\ndef merge_pair(ids, pair, new_id):\n"
    "    sys.exit(0)\n",
    "os._exit in the function": "import os\n\n\ndef merge_pair(ids, pair, new_id):\n"
    "    os._exit(0)\n",
    "the package patched": "import minigpt.bpe\n\n\ndef merge_pair(ids, pair, new_id):\n"
    "    return []\n\n\nminigpt.bpe.merge_pair = merge_pair\n",
    "the stub switch set by the file": "import os\n\n"
    'os.environ["MINIGPT_EXERCISE_STUBS"] = "reference"\n\n\n'
    "def merge_pair(ids, pair, new_id):\n    raise NotImplementedError\n",
    "a KeyboardInterrupt of its own": "def merge_pair(ids, pair, new_id):\n"
    "    raise KeyboardInterrupt\n",
}


@pytest.mark.parametrize("name", list(FALSE_PASSES))
def test_a_file_that_cheats_fails(tmp_path, name):
    status, out, err = _cli("merge_pair", _file(tmp_path, FALSE_PASSES[name]))
    assert status == 1 and err == "", (out, err)
    assert not out.splitlines()[-1].startswith("All ")


def test_sys_exit_is_reported_as_the_readers_exception(tmp_path):
    status, out, _ = _cli("merge_pair", _file(tmp_path, FALSE_PASSES["sys.exit in the function"]))
    assert status == 1
    assert "your code raised SystemExit: 0 (in merge_pair, line 5" in " ".join(out.split())
    path = _file(tmp_path, "import sys\n" + textwrap.dedent(EXITS_IN_INIT))
    status, out, _ = _cli("layer_norm", path)
    assert status == 1 and "your code raised SystemExit: 0 (in __init__" in " ".join(out.split())


def test_os_exit_ends_the_check_with_one_line(tmp_path):
    status, out, _ = _cli("merge_pair", _file(tmp_path, FALSE_PASSES["os._exit in the function"]))
    assert status == 1
    assert "your code ended the process running it (exit status 0)" in " ".join(out.split())
    assert "more checks not run: your code's process was stopped." in out
    status, out, err = _cli("merge_pair", _file(tmp_path, "import os\n\nos._exit(0)\n", "x.py"))
    assert (status, out) == (2, "")
    assert "cannot import" in err and "exit status 0" in err and err.count("\n") == 1


def test_a_keyboard_interrupt_inside_the_code_is_its_exception(tmp_path):
    path = _file(tmp_path, FALSE_PASSES["a KeyboardInterrupt of its own"])
    status, out, err = _cli("merge_pair", path)
    assert status == 1 and "interrupted" not in err
    assert "your code raised KeyboardInterrupt (in merge_pair, line 2" in " ".join(out.split())


def test_patching_torch_in_the_file_changes_nothing_here(tmp_path):
    status, out, _ = _cli("layer_norm", _file(tmp_path, NEVER_NORMALISES))
    assert status == 1 and "up to" in out
    assert torch.allclose(torch.zeros(1), torch.ones(1)) is False


def test_the_stub_switch_is_gone_from_the_shell_too(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGPT_EXERCISE_STUBS", "reference")
    status, out, _ = _cli("layer_norm", _file(tmp_path, STUB))
    assert status == 1 and "LayerNorm is still the stub" in " ".join(out.split())


def test_a_lookup_table_of_one_runs_inputs_fails_the_next_run(tmp_path):
    exercise = EXERCISES["merge_pair"]
    table = {}

    def recording(ids, pair, new_id):
        table[(tuple(ids), pair, new_id)] = exercise.reference(ids, pair, new_id)
        return table[(tuple(ids), pair, new_id)]

    run(exercise, recording, seed=0)  # 0 is never drawn for a run
    source = f"TABLE = {table!r}\n\n\ndef merge_pair(ids, pair, new_id):\n"
    source += "    return list(TABLE.get((tuple(ids), pair, new_id), []))\n"
    path = _file(tmp_path, source)
    assert _cli("merge_pair", path, "--seed", "0")[0] == 0  # the inputs it memorised
    status, out, _ = _cli("merge_pair", path)
    assert status == 1 and "on 300 random lists" in out


def test_time_limits_hold_against_loops_that_catch_everything(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "TIME_LIMIT_S", 0.5)
    monkeypatch.setattr(process, "IMPORT_LIMIT_S", 1.5)
    endless = "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n"
    status, out, err = _cli("merge_pair", _file(tmp_path, endless, "endless.py"))
    assert (status, out) == (2, "") and "did not finish within 1.5 s" in err
    threaded = (
        "import signal, threading, time\n\n"
        "threading.Thread(target=time.sleep, args=(1000,)).start()  # not a daemon\n\n\n"
        "def merge_pair(ids, pair, new_id):\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0)  # no timer of the checker's to cancel\n"
        + textwrap.indent(endless, "    ")
    )
    status, out, _ = _cli("merge_pair", _file(tmp_path, threaded, "threaded.py"))
    assert status == 1 and "took longer than 0.5 s on a tiny input" in out
