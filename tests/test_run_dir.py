"""One run per folder, --overwrite that cannot lose a run, and what a killed run leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace

import pytest

from minigpt import training
from minigpt.training import RunDir, RunDirBusy, StepInfo, load_checkpoint, train
from tests.test_training import read_metrics, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread", "private_cache")

HOLD_THE_LOCK = """
import sys
from minigpt.training import RunDir
run_dir = RunDir(sys.argv[1])
run_dir.lock()
print("locked", flush=True)
sys.stdin.read()  # hold it until killed
"""


def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(tmp_path):
    first = RunDir(tmp_path / "run")
    first.lock()
    try:
        with pytest.raises(RunDirBusy, match=rf"is in use by a run that is still training \(pid "
                           rf"{os.getpid()} on .*, started .*\); wait for it"):  # fmt: skip
            RunDir(tmp_path / "run").lock()
    finally:
        first.unlock()
    RunDir(tmp_path / "run").lock()  # free again


def test_the_lock_of_a_killed_run_never_blocks(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path / "run")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunDirBusy, match=f"pid {holder.pid} "):
        RunDir(tmp_path / "run").lock()
    holder.send_signal(signal.SIGKILL)  # no chance to clean up
    holder.wait()
    RunDir(tmp_path / "run").lock()  # the OS released the lock with the process


def test_training_into_a_folder_in_use_is_refused(corpus, tmp_path):
    busy = RunDir(tmp_path / "run")
    busy.lock()
    try:
        with pytest.raises(RunDirBusy):
            train(tiny_config(corpus, tmp_path / "run"))
        assert not (tmp_path / "run" / "metrics.jsonl").exists()  # it wrote nothing
    finally:
        busy.unlock()


def test_temporary_files_of_killed_runs_are_removed(corpus, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)  # a process that has exited
    stale = [run / f".ckpt.pt.{pid}.tmp", run / f".metrics.jsonl.{pid}.tmp"]
    live = run / f".ckpt.pt.{os.getpid()}.tmp"  # this process's own: left alone
    for path in [*stale, live]:
        path.write_bytes(b"x" * 1000)
    RunDir(run).lock()
    assert [p.exists() for p in stale] == [False, False]
    assert live.exists()


def run_files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"}


def test_overwrite_keeps_the_earlier_run_until_the_new_one_has_saved(corpus, tmp_path, monkeypatch):
    config = tiny_config(corpus, tmp_path / "run", max_iters=4)
    train(config)
    before = run_files(tmp_path / "run")

    def stopped_inside_the_first_step(self, lr):  # a hard stop: nothing of the new run is saved
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(training.Trainer, "train_step", stopped_inside_the_first_step)
        with pytest.raises(KeyboardInterrupt):
            train(replace(config, overwrite=True, max_iters=8))
    # The earlier run, byte for byte: --resume continues it, not a half-replaced one.
    assert run_files(tmp_path / "run") == before
    assert not (tmp_path / "run" / ".replaced").exists()

    def stop_at_step_1(info: StepInfo) -> None:
        if info.step == 1:
            os.kill(os.getpid(), signal.SIGINT)  # saves the new run's first checkpoint

    with pytest.raises(KeyboardInterrupt):
        train(replace(config, overwrite=True, max_iters=8), callbacks=[stop_at_step_1])
    assert load_checkpoint(tmp_path / "run")["step"] == 1
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [0, 1]
    assert not (tmp_path / "run" / "run.json").exists()  # the earlier run's summary is gone
    assert not (tmp_path / "run" / ".replaced").exists()


def test_an_overwrite_killed_before_its_first_save_is_undone_by_the_next_run(corpus, tmp_path):
    config = tiny_config(corpus, tmp_path / "run", max_iters=4)
    train(config)
    saved = (tmp_path / "run" / "ckpt.pt").read_bytes()
    folder = RunDir(tmp_path / "run")
    folder.set_aside()  # what --overwrite does first; then `kill -9` before any save
    assert not folder.checkpoint.exists()
    RunDir(tmp_path / "run").lock()
    assert (tmp_path / "run" / "ckpt.pt").read_bytes() == saved


def test_a_run_without_checkpoints_is_not_overwritten_silently(corpus, tmp_path):
    config = tiny_config(corpus, tmp_path / "run", max_iters=2, checkpoints=False)
    train(config)
    with pytest.raises(FileExistsError, match=r"already holds a run \(metrics.jsonl, run.json\)"):
        train(config)
    assert train(replace(config, overwrite=True)).step == 2
