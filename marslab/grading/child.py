"""The grading process of one submission: run its kept statements, then the checks, and report each step.

`run` is the target of a child process (forked from a server that has already imported marslab and
the checks). It confines itself first: its own process group (so that the parent can kill whatever it
starts), a limit on new memory (RLIMIT_DATA: Python and NumPy get a MemoryError, TensorFlow's
allocator may crash the process instead), no core files, file writes capped, a private working folder,
and printed output counted and discarded. Messages to the parent, in order:
("defined", problems), then per question ("start", q) and ("result", q, outcome, message, seconds),
then ("done", printed characters).
"""
from __future__ import annotations

import builtins
import importlib
import io
import marshal
import os
import signal
import sys
import time
from multiprocessing.connection import Connection

from marslab.grading.extract import Statement

MESSAGE_CHARS = 1000
FILE_LIMIT = 64 * 2**20
MISSING, ERROR, MEMORY = "missing", "error", "out of memory"


class _Sink(io.TextIOBase):
    """A stdout/stderr that counts what is printed and keeps none of it."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, text: str) -> int:  # noqa: D102
        self.count += len(text)
        return len(text)

    def writable(self) -> bool:  # noqa: D102
        return True


def _vm_data_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmData:"))


def _confine(memory_mb: int, cpu_seconds: int, workdir: str) -> _Sink:
    """Limits, process group, working folder and a silent stdout/stderr for this process."""
    if hasattr(os, "setsid"):  # POSIX: a process group of its own, which the parent kills as a whole
        os.setsid()
    try:  # die with the fork server (hence with the grading run), never orphaned
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    try:
        import resource

        limits = {resource.RLIMIT_CORE: 0, resource.RLIMIT_FSIZE: FILE_LIMIT, resource.RLIMIT_CPU: cpu_seconds}
        if os.path.exists("/proc/self/status"):  # new memory on top of what the fork already holds
            limits[resource.RLIMIT_DATA] = _vm_data_bytes() + memory_mb * 2**20
        for kind, value in limits.items():
            hard = resource.getrlimit(kind)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (value, value))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write raises OSError instead
    except (ImportError, ValueError, OSError, AttributeError):  # no resource module or limits (Windows)
        pass
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sink = _Sink()
    sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = sink
    return sink


def describe(error: BaseException) -> str:
    """'raised ValueError: <first line> (cell 9, line 4)': where in the notebook's code it was raised."""
    where = ""
    tb = error.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.startswith("<cell "):
            where = f" ({name[1:-1]}, line {tb.tb_lineno})"
        tb = tb.tb_next
    try:
        text = str(error).strip().split("\n")[0][:300]
    except Exception:  # noqa: BLE001 (a student's exception class with a broken __str__)
        text = ""
    return f"raised {type(error).__name__}" + (f": {text}" if text else "") + where


def _definitions(statements: list[Statement], memory_mb: int) -> tuple[dict, list[str]]:
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    problems = []
    for statement in statements:
        try:
            exec(marshal.loads(statement.code), namespace)
        except MemoryError:
            problems.append(f"{statement.where}: ran out of memory (the limit is {memory_mb} MB)")
        except BaseException as e:  # noqa: BLE001 (the student's code may raise anything, even SystemExit)
            if statement.kind != "assign":  # an assignment that needs dropped code fails by design
                problems.append(f"{statement.where}: {describe(e)}")
    return namespace, problems


def run(conn: Connection, module_name: str, statements: list[Statement], questions: list[str],
        memory_mb: int, cpu_seconds: int, workdir: str) -> None:
    """Grade `questions` of checks module `module_name` on the functions `statements` define."""
    sink = _confine(memory_mb, cpu_seconds, workdir)
    namespace, problems = _definitions(statements, memory_mb)
    conn.send(("defined", problems))
    by_name = {q.name: q for q in importlib.import_module(module_name).QUESTIONS}
    for name in questions:
        question = by_name[name]
        conn.send(("start", name))
        start = time.perf_counter()
        answer = namespace.get(question.function)
        if answer is None:
            outcome, message = MISSING, f"`{question.function}` is not defined in the notebook"
        else:
            try:
                feedback = question.evaluate(answer)
                outcome, message = feedback.outcome, feedback.message
            except MemoryError:
                outcome, message = MEMORY, f"ran out of memory (the limit is {memory_mb} MB)"
            except BaseException as e:  # noqa: BLE001
                # TensorFlow's allocator says ResourceExhaustedError where Python says MemoryError
                tf_oom = type(e).__name__ == "ResourceExhaustedError"
                outcome, message = (MEMORY, f"ran out of memory (the limit is {memory_mb} MB)") if tf_oom else \
                    (ERROR, describe(e))
        conn.send(("result", name, outcome, str(message)[:MESSAGE_CHARS], time.perf_counter() - start))
    conn.send(("done", sink.count))
