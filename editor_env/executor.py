"""One way to run per-sample work: local processes (default) or a Ray cluster.

Every data-pipeline step that does the same work for each recording (``musicedit precache``,
``align``, ``bc-dataset``, ``python -m pointer_baseline.precache``, ``scripts/precache_stems.py``)
calls :meth:`Executor.map` with a picklable function and the items, and gets back one
:class:`Outcome` per item, in the order given:

- ``backend="local"``: ``workers == 1`` runs in this process (nothing to pickle, easiest to debug);
  ``workers > 1`` uses :class:`concurrent.futures.ProcessPoolExecutor`.
- Either way with workers or Ray, the first item runs in this process before any worker starts
  (:func:`_prime`), so that librosa's numba functions are compiled and cached once: workers compiling
  them at once can corrupt numba's on-disk cache (numba issue #10128).
- ``backend="ray"``: each item is a Ray task (``num_cpus=1``). ``ray_address`` joins a running
  cluster (``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the others;
  ``"auto"`` finds a local one); without it a Ray instance is started on this machine with
  ``workers`` CPUs. ``workers`` caps the tasks in flight on a cluster (None: the cluster's CPUs
  decide). Every node needs ``pip install 'musicedit[cluster]'`` and must see the data and cache
  folders under the same paths (a shared file system): tasks read and write files, never ship
  arrays through the object store.

Each task runs with one BLAS/OpenMP thread on every backend, so the files do not depend on where
they were made (a multi-threaded BLAS sums in another order). A failing item (any exception, or a
worker process that dies) becomes an :class:`Outcome` with its name and the reason; the others go on. The functions themselves skip work that is already done
(the caches' freshness keys), so a rerun after a failure or an interruption does only what is
missing.

Install Ray with ``pip install -e '.[cluster]'`` (pinned in ``constraints.txt``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

from editor_env.errors import MusicEditError

BACKENDS = ("local", "ray")


@dataclasses.dataclass
class Outcome:
    """What one item gave: ``value`` (the function's return) or ``error`` (why it failed)."""

    name: str
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def describe_error(exc: BaseException) -> str:
    """A one-line reason: the message of a :class:`MusicEditError` (already says what to do),
    else the exception's type and message."""
    return str(exc) if isinstance(exc, MusicEditError) else f"{type(exc).__name__}: {exc}"


def _call(fn: Callable[[Any], Any], item: Any, name: str) -> Outcome:
    """Run ``fn(item)`` with one BLAS/OpenMP thread and wrap the result or the exception (runs in the worker).

    One thread per task on every backend: Ray gives each task one CPU (``OMP_NUM_THREADS=1``), and
    a multi-threaded BLAS sums in another order (mel features differ by ~1e-7), so the cache files
    would depend on where they were made.
    """
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=1):
            return Outcome(name, value=fn(item))
    except Exception as exc:  # one bad sample must not stop the others; the reason is kept
        return Outcome(name, error=describe_error(exc))


@dataclasses.dataclass(frozen=True)
class Executor:
    """Where per-sample work runs (see the module doc); ``Executor()`` is this process alone.

    :param backend: ``"local"`` or ``"ray"``.
    :param workers: local: processes (None or 1: this process); ray: tasks in flight (None: no cap;
        a Ray instance started here gets ``workers`` CPUs, default all of this machine's).
    :param ray_address: address of a running Ray cluster (``HOST:6379`` or ``"auto"``).
    """

    backend: str = "local"
    workers: int | None = None
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise MusicEditError(f"--backend must be one of {', '.join(BACKENDS)} (got {self.backend!r}).")
        if self.workers is not None and self.workers < 1:
            raise MusicEditError(f"--workers must be at least 1 (got {self.workers}).")
        if self.backend == "local" and self.ray_address is not None:
            raise MusicEditError("--ray-address needs --backend ray.")

    def describe(self) -> str:
        """``"2 local processes"``, ``"Ray at HOST:6379"`` … for a command's first line."""
        if self.backend == "ray":
            where = f"Ray at {self.ray_address}" if self.ray_address else "a local Ray instance"
            return where + (f", {self.workers} task(s) in flight" if self.workers else "")
        n = self.workers or 1
        return "this process" if n == 1 else f"{n} local processes"

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Sequence[Any],
        *,
        names: Sequence[str] | None = None,
        desc: str = "samples",
        progress: bool = True,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """``fn(item)`` for every item; one :class:`Outcome` per item, in input order.

        :param fn: a module-level function (or :func:`functools.partial` of one) so that it pickles.
        :param names: the sample name of each item, for progress and failure reports (default: each
            item's ``name`` attribute, e.g. a :class:`~editor_env.dataset.SamplePair`'s, else ``str(item)``).
        :param on_outcome: called in this process as each item finishes (in completion order).
        """
        from tqdm.auto import tqdm

        names = [str(getattr(item, "name", item)) for item in items] if names is None else list(names)
        if len(names) != len(items):
            raise ValueError(f"Executor.map: {len(items)} items but {len(names)} names")
        outcomes: list[Outcome | None] = [None] * len(items)
        bar = tqdm(total=len(items), desc=desc, unit="sample", disable=not progress or not items)
        failed = 0

        def record(index: int, outcome: Outcome) -> None:
            nonlocal failed
            outcomes[index] = outcome
            failed += not outcome.ok
            if on_outcome is not None:
                on_outcome(outcome)
            bar.set_postfix(failed=failed, refresh=False)
            bar.update()

        try:
            if self.backend == "local" and (self.workers or 1) == 1:
                for index, (item, name) in enumerate(zip(items, names)):
                    record(index, _call(fn, item, name))
            else:
                first = _prime(fn, items, names, record)
                rest, rest_names = items[first:], names[first:]
                shifted = lambda index, outcome: record(first + index, outcome)  # noqa: E731
                if rest and self.backend == "ray":
                    _run_ray(fn, rest, rest_names, self.workers, self.ray_address, shifted)
                elif rest:
                    _run_processes(fn, rest, rest_names, self.workers, shifted)
        finally:
            bar.close()
        return [o for o in outcomes if o is not None]


def map_samples(fn: Callable[[Any], Any], items: Sequence[Any], *, executor: Executor | None = None, **kwargs: Any):
    """``(executor or Executor()).map(fn, items, **kwargs)``: see :meth:`Executor.map`."""
    return (executor or Executor()).map(fn, items, **kwargs)


def _prime(fn, items, names, record) -> int:
    """Run items in this process until one succeeds, before any worker starts; returns how many ran.

    Functions compiled on first use and cached on disk, librosa's numba functions (``cache=True``), are then
    compiled and written once, and the workers only read them: workers that compile the same gufunc at once can
    leave a cache that crashes every later process that loads it (a segmentation fault in ``librosa.beat``; numba
    issue #10128). Seen here (ad hoc, cold starts with an empty ``NUMBA_CACHE_DIR``): ``precache`` on 2 workers
    crashed both workers, and every run after it, in 1 of 3 tries (and in 2 of 2 in a fresh virtual environment).
    """
    for index, (item, name) in enumerate(zip(items, names)):
        outcome = _call(fn, item, name)
        record(index, outcome)
        if outcome.ok:
            return index + 1
    return len(items)


def _run_processes(fn, items, names, workers: int, record) -> None:
    import concurrent.futures as cf

    with cf.ProcessPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = {pool.submit(_call, fn, item, name): index for index, (item, name) in enumerate(zip(items, names))}
        for future in cf.as_completed(futures):
            index = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker process died (killed, out of memory): only this item fails
                outcome = Outcome(names[index], error=f"worker process failed: {describe_error(exc)}")
            record(index, outcome)


def ray_init(ray_address: str | None = None, num_cpus: int | None = None):
    """Connect to the Ray cluster at ``ray_address``, or start one here with ``num_cpus`` CPUs
    (reused when this process already has one); returns the ``ray`` module."""
    try:
        import ray
    except ImportError as exc:
        raise MusicEditError(
            "--backend ray needs Ray: pip install -e '.[cluster]' -c constraints.txt (or pip install 'ray==2.60.0')."
        ) from exc
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
        if ray_address is not None:
            kwargs["address"] = ray_address
        else:
            kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise MusicEditError(
                f"--ray-address {ray_address}: no Ray cluster answers there ({exc}); start one with "
                "`ray start --head` and pass its address, or leave --ray-address out to start Ray on this machine."
            ) from exc
    return ray


def _run_ray(fn, items, names, workers: int | None, ray_address: str | None, record) -> None:
    ray = ray_init(ray_address, num_cpus=workers)
    task = ray.remote(num_cpus=1)(_call)
    fn_ref = ray.put(fn)  # shipped once, not with every task
    limit = workers or len(items)
    pending: dict[Any, int] = {}
    next_index = 0
    while next_index < len(items) or pending:
        while next_index < len(items) and len(pending) < limit:
            pending[task.remote(fn_ref, items[next_index], names[next_index])] = next_index
            next_index += 1
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            index = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except Exception as exc:  # the task's worker died (node lost, out of memory) after Ray's retries
                outcome = Outcome(names[index], error=f"Ray task failed: {describe_error(exc)}")
            record(index, outcome)


# ----------------------------------------------------------------------------------------------
# The command-line flags, shared by every data-pipeline command


def add_executor_args(parser: argparse.ArgumentParser, *, workers_default: int | None = None) -> None:
    """Add ``--backend``, ``--workers`` and ``--ray-address`` to ``parser`` (read back with
    :func:`executor_from_args`)."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="where per-sample work runs: local processes (default) or a Ray cluster (pip install '.[cluster]')",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=workers_default,
        help="local: processes (default 1); ray: tasks in flight (default: the cluster's CPUs; "
        "a Ray started here gets this many CPUs)",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="with --backend ray: a running cluster (HOST:6379, or auto); default: start Ray on this machine",
    )


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The :class:`Executor` of the flags added by :func:`add_executor_args` (checked)."""
    return Executor(args.backend, args.workers, args.ray_address)
