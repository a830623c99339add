"""Fits run in parallel worker processes, each compiling a structure once and reusing it for every job.

A job is one fit of one calibration (a fit name and the inputs of its vintage). Jobs are grouped by fit, and
a group runs in one worker process in order, so that the vintages of a backtest that share a structure
compile it once (:func:`sim.calibration.compiled.compiled_fit`). Workers are fresh interpreters whose
PyTensor compiles into the posterior folder's compile cache (:mod:`sim.calibration.toolchain`).
Workers are started as ``python -m sim.calibration.workers`` (not by multiprocessing, which would
re-run a user's script without a ``__main__`` guard). Every fit's seed comes from the calibration seed and the fit's name, and the kernels' arithmetic does not
depend on the process that compiled them, so the draws are the same whatever the number of processes.
"""

from __future__ import annotations

import logging
import os
import pickle
import selectors
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cloudpickle

from sim.calibration.inputs import CalibrationInputs
from sim.calibration.sampling import ConvergenceGate
from sim.calibration.toolchain import compile_cache

#: One job: a label the caller chooses, the fit's name and the inputs of its vintage.
Job = tuple[Any, str, CalibrationInputs]
#: What a job gives back: (posterior, diagnostics, seconds), or the exception it raised.
Outcome = tuple[Any, Any, float] | BaseException


def default_processes() -> int:
    """Worker processes to use: one per CPU this process may run on (``TOKENSIM_CALIBRATION_PROCESSES``
    overrides it)."""
    chosen = os.environ.get("TOKENSIM_CALIBRATION_PROCESSES")
    if chosen:
        return max(int(chosen), 1)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_jobs(jobs: Sequence[Job], *, processes: int | None = None, gate: ConvergenceGate = ConvergenceGate(),
             done: Callable[[Any, str, Outcome], None] | None = None) -> dict[Any, Outcome]:
    """Run every job (in worker processes unless ``processes`` is 1 or there is one group), each fit held to
    ``gate``; returns each label's outcome. ``done`` is told of each outcome as it arrives."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job[1], []).append(job)
    processes = min(processes or default_processes(), len(groups))
    outcomes: dict[Any, Outcome] = {}

    def record(results) -> None:
        for label, fit, outcome in results:
            outcomes[label] = outcome
            if done:
                done(label, fit, outcome)

    if processes <= 1:
        for group in groups.values():
            record(_run_group(group, gate, None))
        return outcomes
    folder = compile_cache(jobs[0][2].cache)
    folder.mkdir(parents=True, exist_ok=True)
    workers = [_Worker(folder, gate) for _ in range(processes)]
    try:
        waiting = list(groups.values())
        busy: dict[Any, _Worker] = {}
        for worker in workers:
            if waiting:
                worker.send(waiting.pop(0))
                busy[worker.stdout] = worker
        with selectors.DefaultSelector() as selector:
            for worker in busy.values():
                selector.register(worker.stdout, selectors.EVENT_READ)
            while busy:
                for key, _ in selector.select():
                    worker = busy[key.fileobj]
                    record(worker.receive())
                    if waiting:
                        worker.send(waiting.pop(0))
                    else:
                        selector.unregister(key.fileobj)
                        del busy[key.fileobj]
    finally:
        for worker in workers:
            worker.stop()
    return outcomes


class _Worker:
    """A worker interpreter (``python -m sim.calibration.workers``) that fits the groups it is sent, one at a
    time, and answers each with its outcomes (length-prefixed pickles on its stdin and stdout)."""

    def __init__(self, folder: Path, gate: ConvergenceGate) -> None:
        self.gate = gate
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        package_root = str(Path(__file__).resolve().parents[2])  # the worker imports this same sim package
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path,
               "PYTENSOR_FLAGS": ",".join(f for f in (flags, f"base_compiledir={folder}") if f)}
        self.errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, "-m", "sim.calibration.workers"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors, env=env)
        self.stdout = self.process.stdout

    def send(self, group: Sequence[Job]) -> None:
        # cloudpickle: the inputs' distributions are built by closures plain pickle refuses.
        _write(self.process.stdin, cloudpickle.dumps((list(group), self.gate)))

    def receive(self) -> list[tuple[Any, str, Outcome]]:
        payload = _read(self.stdout)
        if payload is None:
            self.errors.seek(0)
            tail = self.errors.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"a calibration worker stopped (exit status {self.process.wait()}):\n{tail}")
        return pickle.loads(payload)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                _write(self.process.stdin, b"")
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.errors.close()


def _write(stream, payload: bytes) -> None:
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


def _read(stream) -> bytes | None:
    header = stream.read(8)
    if len(header) < 8:
        return None
    (size,) = struct.unpack("<Q", header)
    return stream.read(size)


def _serve() -> None:
    """The worker's loop: fit each group it is sent (chains on one thread: the workers keep every CPU busy)."""
    logging.getLogger("pymc").setLevel(logging.ERROR)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever the libraries print stays off the answers
    while (payload := _read(stdin)):
        group, gate = pickle.loads(payload)
        results = _run_group(group, gate, 1)
        try:
            answer = pickle.dumps(results)
        except Exception:  # an exception that cannot be pickled travels as its text
            answer = pickle.dumps([(label, fit, RuntimeError(str(outcome)) if isinstance(outcome, BaseException)
                                    else outcome) for label, fit, outcome in results])
        _write(stdout, answer)


def _run_group(group: Sequence[Job], gate: ConvergenceGate, cores: int | None) -> list[tuple[Any, str, Outcome]]:
    """Fit the jobs of one group in order, in this process (chains on ``cores`` threads); exceptions are
    returned, not raised."""
    from sim.calibration.sampling import fit_one, quiet_pymc

    results = []
    for label, fit, inputs in group:
        started = time.perf_counter()
        try:
            with quiet_pymc():
                posterior, report = fit_one(fit, inputs.observations, inputs.priors, inputs.settings, gate,
                                            compute=inputs.compute, cores=cores)
            results.append((label, fit, (posterior, report, time.perf_counter() - started)))
        except Exception as error:  # handed to the caller, which decides what it means
            results.append((label, fit, error))
    return results


if __name__ == "__main__":
    _serve()
