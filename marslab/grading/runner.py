"""Run the grading processes: one per submission, `jobs` at a time, each under a time and memory limit.

The processes are forked from a server that imported marslab and every checks module once
(multiprocessing's "forkserver" with those modules preloaded), so a submission costs a fork, not the
seconds of importing TensorFlow. The parent enforces the time limit: each step of a submission (loading
its definitions, then each question) gets `timeout` seconds; past it, the process group is killed. A
question that times out or crashes its process is marked so, and the questions after it are graded in
a fresh process, so one bad function costs that question only and a submission at most
(questions + 1) x timeout seconds.
"""
from __future__ import annotations

import collections
import contextlib
import multiprocessing as mp
import os
import pkgutil
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from marslab.grading import child
from marslab.grading.extract import Statement

TIMED_OUT, CRASHED = "timed out", "crashed"
_MEMORY_SIGNALS = ("SIGSEGV", "SIGABRT", "SIGKILL", "SIGBUS")


@dataclass(frozen=True)
class Verdict:
    """What grading said about one question: outcome (correct, incorrect, not attempted, missing, error,
    timed out, crashed), the message, and the seconds the check took."""

    outcome: str
    message: str = ""
    seconds: float = 0.0


@dataclass
class Graded:
    """Everything the grading processes reported for one submission."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    printed: int = 0


@dataclass(frozen=True)
class Task:
    """Grade `questions` of checks module `module` on a submission's kept statements."""

    key: Hashable
    module: str
    statements: list[Statement]
    questions: list[str]


@dataclass
class _Running:
    task: Task
    process: mp.process.BaseProcess
    conn: Connection
    workdir: str
    started: float
    deadline: float
    step_started: float
    current: str | None = None
    defined: bool = False
    done: bool = False


def checks_modules() -> list[str]:
    """The names of the exercise checks modules: marslab.checks.ex01, ..."""
    import marslab.checks

    return sorted(f"marslab.checks.{m.name}" for m in pkgutil.iter_modules(marslab.checks.__path__)
                  if m.name.startswith("ex"))


@contextlib.contextmanager
def _main_not_rerun():
    """Hide where __main__ came from while a process starts. multiprocessing would re-run the caller's script
    (or fail on stdin) in every child; the child's target lives in marslab and needs none of it."""
    main = sys.modules.get("__main__")
    saved = {key: main.__dict__[key] for key in ("__spec__", "__file__") if key in vars(main)} if main else {}
    if main is not None:
        main.__spec__ = None
        vars(main).pop("__file__", None)
    try:
        yield
    finally:
        if main is not None:
            vars(main).update(saved)


class Runner:
    """Grades tasks in child processes. start_method "forkserver" (default, preloaded) or "spawn" (each
    process imports marslab itself: seconds per submission; for comparison, and where fork is missing)."""

    def __init__(self, jobs: int, timeout: float, memory_mb: int, start_method: str = "forkserver") -> None:
        if jobs < 1 or timeout <= 0 or memory_mb < 1:
            raise ValueError(f"expected jobs >= 1, timeout > 0 and memory >= 1 MB, got {jobs}, {timeout}, {memory_mb}")
        self.jobs, self.timeout, self.memory_mb = jobs, timeout, memory_mb
        if start_method not in mp.get_all_start_methods():  # no fork on Windows: slower, but it works
            start_method = "spawn"
        self.ctx = mp.get_context(start_method)
        if start_method == "forkserver":
            self.ctx.set_forkserver_preload(["marslab", "marslab.grading.child", *checks_modules()])
        self._queue: collections.deque[Task] = collections.deque()
        self._running: dict[Connection, _Running] = {}
        self._results: dict[Hashable, Graded] = {}
        self._workdir = ""
        self._count = 0

    def warm_up(self) -> float:
        """Start the fork server (imports marslab and the checks once); returns the seconds it took."""
        start = time.perf_counter()
        process = self.ctx.Process(target=os.getpid, daemon=True)
        with _main_not_rerun():
            process.start()
        process.join()
        return time.perf_counter() - start

    def run(self, tasks: list[Task], on_done: Callable[[Hashable, Graded], None] | None = None) -> dict:
        """Grade every task; returns {key: Graded}. on_done(key, graded) is called as each one completes."""
        self._queue.extend(tasks)
        self._workdir = tempfile.mkdtemp(prefix="marslab-grade-")
        try:
            while self._queue or self._running:
                while self._queue and len(self._running) < self.jobs:
                    self._start(self._queue.popleft())
                self._step(on_done)
        finally:
            for running in list(self._running.values()):
                self._kill(running)
            self._running.clear()
            shutil.rmtree(self._workdir, ignore_errors=True)
        return self._results

    def _start(self, task: Task) -> None:
        receive, send = self.ctx.Pipe(duplex=False)
        self._count += 1
        cpu_seconds = int(4 * self.timeout * (len(task.questions) + 1)) + 60  # a backstop if the parent dies
        workdir = os.path.join(self._workdir, str(self._count))
        args = (send, task.module, task.statements, task.questions, self.memory_mb, cpu_seconds, workdir)
        process = self.ctx.Process(target=child.run, args=args, daemon=True)
        with _main_not_rerun():
            process.start()
        send.close()
        now = time.monotonic()
        self._running[receive] = _Running(task, process, receive, workdir, now, now + self.timeout, now)

    def _step(self, on_done: Callable | None) -> None:
        soonest = min(r.deadline for r in self._running.values())
        for conn in wait(list(self._running), timeout=max(0.0, soonest - time.monotonic())):
            running = self._running[conn]
            try:
                while not running.done and conn.poll():
                    self._handle(running, conn.recv())
            except (EOFError, OSError):
                self._finish(running, on_done)
                continue
            if running.done:
                self._finish(running, on_done)
        now = time.monotonic()
        for running in [r for r in self._running.values() if now >= r.deadline]:
            self._finish(running, on_done, timed_out=True)

    def _handle(self, running: _Running, message: tuple) -> None:
        graded = self._results.setdefault(running.task.key, Graded())
        kind, now = message[0], time.monotonic()
        if kind == "defined":
            running.defined, running.deadline, running.step_started = True, now + self.timeout, now
            graded.problems += [p for p in message[1] if p not in graded.problems]
        elif kind == "start":
            running.current, running.deadline, running.step_started = message[1], now + self.timeout, now
        elif kind == "result":
            _, name, outcome, text, seconds = message
            graded.verdicts[name] = Verdict(outcome, text, seconds)
            running.current = None
        elif kind == "done":
            running.done = True
            graded.printed += message[1]

    def _kill(self, running: _Running) -> None:
        if running.process.is_alive():  # alive, so its pid (= its process group) is still ours
            try:
                os.killpg(running.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, AttributeError):  # not a group leader yet; Windows
                running.process.kill()
        running.process.join()
        running.conn.close()

    def _finish(self, running: _Running, on_done: Callable | None, timed_out: bool = False) -> None:
        del self._running[running.conn]
        if running.done:
            running.process.join(5)
        self._kill(running)
        shutil.rmtree(running.workdir, ignore_errors=True)  # whatever the student's code wrote
        task = running.task
        graded = self._results.setdefault(task.key, Graded())
        graded.seconds += time.monotonic() - running.started
        if not running.done:
            outcome = TIMED_OUT if timed_out else CRASHED
            reason = f"did not finish within {self.timeout:g} s" if timed_out else self._crash(running.process)
            if not running.defined:
                graded.problems.append(f"loading the notebook's definitions {reason}")
                for name in task.questions:
                    graded.verdicts[name] = Verdict(outcome, f"not graded: loading the notebook's definitions {reason}")
            elif pending := [q for q in task.questions if q not in graded.verdicts]:
                # the question under way (or the next one, if between two) takes the blame, so each try progresses
                current = running.current if running.current in pending else pending[0]
                graded.verdicts[current] = Verdict(outcome, reason, time.monotonic() - running.step_started)
                rest = [q for q in pending if q != current]
                if rest:  # the next questions get a fresh process
                    self._queue.appendleft(Task(task.key, task.module, task.statements, rest))
                    return
        if on_done is not None:
            on_done(task.key, graded)

    def _crash(self, process: mp.process.BaseProcess) -> str:
        code = process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            why = f", most likely the memory limit ({self.memory_mb} MB)" if name in _MEMORY_SIGNALS else ""
            return f"the grading process was killed by {name}{why}"
        return f"the grading process exited early (status {code})"
