"""Running a sweep: one case on a worker (thread timeouts), the Dask cluster, the submission loop.

See the package doc (``conservation_laws.interfaces.sweep``) for the per-case limits.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import logging
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ...errors import ConservationLawsError, invalid, require
from .spec import _version, case_key, expand_spec
from .store import ResultStore, _needs_run

WORKER_GRACE_S = 2.0  # how long the worker waits for an interrupted computation to unwind


class CaseTimeout(Exception):
    """Raised inside a counting thread that ran past its budget."""


def _count(case: dict) -> dict:
    from ..cases import make_case

    case = dict(case)
    digest = case.pop("model_file_sha256", None)
    if digest is not None:  # the file must still be the one the key was computed from
        from .spec import file_sha256

        if file_sha256(case["spec"]) != digest:
            raise ConservationLawsError(f"model_file {case['spec']!r} changed during the sweep: rerun it")
    res = make_case(**case).count()
    return {"laws": res.laws, "rank": res.rank, "dimension": res.dimension, "depth": res.depth,
            "failure_bound": res.failure_bound, "prime": res.prime, "seconds": res.seconds,
            "certificate": res.certificate, "certificate_how": res.certificate_how}


def failure_text(exc: BaseException) -> str:
    """A failed case's message in one line (bad input as the library words it; anything else named)."""
    if isinstance(exc, ConservationLawsError):
        text = str(exc)
    elif isinstance(exc, RecursionError):
        text = "RecursionError: the model is too large or nests too deeply for this version"
    elif isinstance(exc, MemoryError):
        text = "MemoryError: out of memory"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 2000 else text[:2000] + "…"


def _worker_name() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def compute_case(case: dict, case_timeout: float | None = None, version: str | None = None) -> dict:
    """Count the laws of one case (``lie.count_laws``) and return its result record.

    Never raises for a bad case: status is ``ok``, ``failed`` (with the error message) or
    ``timed out`` (past ``case_timeout`` seconds; see the module doc for what the worker does).
    ``version``, when given, must be the library version of the worker (else ``failed``).
    """
    mine = _version()
    key_version = version or mine
    rec: dict[str, Any] = {"key": case_key(case, key_version), "case": case, "status": "ok", "laws": None,
                           "rank": None, "dimension": None, "certificate": None, "certificate_how": None,
                           "seconds": None, "error": None, "version": key_version,
                           "case_timeout": case_timeout, "worker": _worker_name()}
    t0 = time.perf_counter()
    if mine != key_version:
        rec.update(status="failed", seconds=0.0,
                   error=f"the worker runs conservation-laws {mine}, the client {key_version}: install the same version")
        return _finish(rec)
    if case_timeout is None:
        try:
            rec.update(_count(case))
        except Exception as e:  # noqa: BLE001 - recorded, the sweep goes on
            rec.update(status="failed", error=failure_text(e), seconds=time.perf_counter() - t0)
        return _finish(rec)

    box: dict[str, Any] = {}

    def target():
        try:
            box["result"] = _count(case)
        except CaseTimeout:
            box["interrupted"] = True
        except BaseException as e:  # noqa: BLE001
            box["error"] = failure_text(e)

    th = threading.Thread(target=target, name="conservation-laws-case", daemon=True)
    th.start()
    th.join(case_timeout)
    if th.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(th.ident), ctypes.py_object(CaseTimeout))
        th.join(WORKER_GRACE_S)
        stopped = not th.is_alive()
        rec.update(status="timed out", seconds=time.perf_counter() - t0,
                   error=f"exceeded the case budget of {case_timeout:g} s; "
                   + ("the computation was interrupted" if stopped else
                      "the computation could not be interrupted and goes on in a background thread of the worker"))
        return _finish(rec)
    if "result" in box:
        rec.update(box["result"])
    else:
        rec.update(status="failed", error=box.get("error", "interrupted"), seconds=time.perf_counter() - t0)
    return _finish(rec)


def _finish(rec: dict) -> dict:
    rec["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return rec


MAX_SECONDS = 10**7  # about four months: any larger budget is a typo


def check_seconds(name: str, value, none_ok: bool = False) -> None:
    """A time budget: a finite number of seconds in (0, ``MAX_SECONDS``] (None when ``none_ok``)."""
    if value is None and none_ok:
        return
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not 0 < value <= MAX_SECONDS):
        raise invalid(name, value, f"a number of seconds, more than 0 and at most {MAX_SECONDS:.0e}")


def check_workers(workers) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024:
        raise invalid("workers", workers, "a number of worker processes from 1 to 1024")


def check_memory(case_memory) -> None:
    """A worker memory limit: None, a positive number of bytes, or a size such as '2GB'."""
    if case_memory is None:
        return
    if isinstance(case_memory, str):
        from dask.utils import parse_bytes

        try:
            size = parse_bytes(case_memory)
        except (ValueError, TypeError, OverflowError):
            raise invalid("case_memory", case_memory, "a size such as '2GB' or '500MiB'") from None
    elif isinstance(case_memory, int) and not isinstance(case_memory, bool):
        size = case_memory
    else:
        raise invalid("case_memory", case_memory, "a size such as '2GB' or '500MiB'")
    if not 2**20 <= size <= 2**60:
        raise invalid("case_memory", case_memory, "a size from 1MiB to 1EiB, such as '2GB'")


def check_scheduler_address(address) -> None:
    """The form of a scheduler address (protocol://host:port), before anything connects."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        if not isinstance(address, str) or not address.strip():
            raise ValueError("empty")
        scheme, loc = parse_address(address)
        if scheme not in ("tcp", "tls"):
            raise ValueError(scheme)
        parse_host_port(loc)
    except (ValueError, TypeError) as e:
        raise invalid("scheduler", address, "the address of a running Dask scheduler, host:port or "
                      f"tcp://host:port, e.g. tcp://10.0.0.5:8786 ({' '.join(str(e).split())})") from None


async def _identity(address: str, timeout: float):
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def connect_scheduler(address: str, timeout: float = 10.0):
    """A ``distributed.Client`` of the scheduler at ``address``, or one-line error within ``timeout``.

    The scheduler is first asked who it is over a bare connection with a hard deadline (a port that
    accepts connections but never answers would otherwise hold ``Client`` past its own timeout), and
    a ``Client`` that fails half-built is never closed at garbage collection (that close blocks for
    twice the timeout and prints "Exception ignored").
    """
    import asyncio

    check_scheduler_address(address)
    check_seconds("scheduler_timeout", timeout)
    try:
        ident = asyncio.run(asyncio.wait_for(_identity(address, timeout), timeout))
    except (OSError, TimeoutError, asyncio.TimeoutError) as e:
        why = " ".join(str(e).split()) or f"no answer within {timeout:g} s"
        raise invalid("scheduler", address, f"a running Dask scheduler answering within {timeout:g} s "
                      f"(--scheduler-timeout); {type(e).__name__}: {why[:300]}") from None
    except (Exception, MemoryError) as e:  # noqa: BLE001 - garbage from a server that is not Dask
        raise invalid("scheduler", address, "the address of a Dask scheduler; what answered there does not speak "
                      f"Dask's protocol ({type(e).__name__})") from None
    if not isinstance(ident, dict) or ident.get("type") != "Scheduler":
        raise invalid("scheduler", address, "the address of a Dask scheduler (something else answered there)")
    try:
        return _Client(address, timeout=timeout, set_as_default=False)
    except Exception as e:  # noqa: BLE001
        raise invalid("scheduler", address, f"a running Dask scheduler ({type(e).__name__}: "
                      f"{' '.join(str(e).split())})") from None


def _client_class():
    from distributed import Client

    class QuietClient(Client):
        """A Client whose failed construction leaves nothing to close at garbage collection."""

        _ready = False

        def __init__(self, *args, **kwargs):
            try:
                super().__init__(*args, **kwargs)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._loop_runner.stop()
                raise
            self._ready = True

        def __del__(self):
            if self._ready:
                with contextlib.suppress(Exception):
                    super().__del__()

    return QuietClient


def _Client(*args, **kwargs):  # noqa: N802 - a constructor
    return _client_class()(*args, **kwargs)


def machine_workers() -> int:
    """The number of cores this process may use (the default size of a LocalCluster)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def start_local_cluster(workers: int = 2, case_memory: str | int | None = None):
    """A quiet LocalCluster of ``workers`` processes with one thread each, and its Client.

    ``case_memory`` becomes each worker's ``memory_limit`` (one case runs per worker at a time).
    A case whose worker dies is retried once, then fails with ``KilledWorker``.
    """
    require("distributed", "sweep")
    import dask
    from distributed import Client, LocalCluster

    check_workers(workers)
    check_memory(case_memory)
    memory = case_memory if case_memory is not None else "auto"
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory,
                               dashboard_address=None, silence_logs=logging.CRITICAL, host="127.0.0.1")
        client = Client(cluster, set_as_default=False)
    return cluster, client


def _failure_record(case: dict, version: str, case_timeout, status: str, error: str, worker=None) -> dict:
    return _finish({"key": case_key(case, version), "case": case, "status": status, "laws": None, "rank": None,
                    "dimension": None, "certificate": None, "certificate_how": None, "seconds": None,
                    "error": error, "version": version,
                    "case_timeout": case_timeout, "worker": worker})


def run_sweep(spec: dict, store: str | Path, client=None, workers: int = 2, case_timeout: float | None = None,
              progress: bool = True, *, scheduler: str | None = None, case_memory: str | int | None = None,
              retry_failed: bool = False, scheduler_timeout: float = 10.0) -> list[dict]:
    """Run every case of ``spec`` not yet in ``store`` on Dask; return all results in spec order.

    Cluster: ``client`` (a ``distributed.Client``) if given; else ``scheduler`` (address of an
    existing cluster); else a LocalCluster of ``workers`` processes, one thread each, memory limit
    ``case_memory``, closed at the end. Nothing is started when every case is already stored.

    Each result holds key, case, status (ok | failed | timed out), laws = N − K, rank = K,
    dimension = N, certificate and certificate_how (``LieResult.certificate``: proved, probabilistic
    or upper bound only, and why; None for a case that did not finish), seconds, error, version,
    worker, and ``reused`` (True when read from the store rather than computed by this call). ``progress`` draws a bar (cases done / total, ETA)
    on stderr.
    """
    check_seconds("case_timeout", case_timeout, none_ok=True)
    check_seconds("scheduler_timeout", scheduler_timeout)
    if client is None and not scheduler:
        check_workers(workers)
        check_memory(case_memory)
    elif scheduler is not None:
        check_scheduler_address(scheduler)
    version = _version()
    cases = expand_spec(spec)
    keys = [case_key(c, version) for c in cases]
    rs = store if isinstance(store, ResultStore) else ResultStore(store)
    rs.check()  # every option and the store are checked before the store is created

    def pending(done):
        return [(k, c) for k, c in zip(keys, cases) if _needs_run(done.get(k), case_timeout, retry_failed)]

    # a first read, without the lock: is there anything to compute? A scheduler is reached before the
    # store is created, so that an unreachable one leaves nothing behind.
    own = None
    new: dict[str, dict] = {}
    try:
        if pending(rs.load()) and client is None and scheduler:
            client = connect_scheduler(scheduler, scheduler_timeout)
            own = (None, client)
        with rs:
            done = rs.load()  # again, under the lock
            todo = pending(done)
            reused = {k for k in keys if k in done} - {k for k, _ in todo}
            if todo:
                if client is None:
                    own = start_local_cluster(workers, case_memory)
                    client = own[1]
                new = _run_cases(client, todo, rs, version, case_timeout, progress, len(keys),
                                 restart_stuck=own is not None and own[0] is not None)
    finally:
        if own is not None:
            with contextlib.suppress(Exception):
                own[1].close()
            if own[0] is not None:
                with contextlib.suppress(Exception):
                    own[0].close()
    out = []
    for k in keys:
        rec = dict(new[k]) if k in new else dict(done[k])
        rec["reused"] = k in reused
        out.append(rec)
    return out


def _run_cases(client, todo, rs: ResultStore, version: str, case_timeout, progress: bool, total: int,
               restart_stuck: bool) -> dict[str, dict]:
    """Submit the cases (at most two per worker thread in flight), append each result as it comes."""
    from tqdm import tqdm

    threads = sum(client.nthreads().values()) or 1
    window = 2 * threads  # in flight at once: a killed sweep loses at most these
    queue = list(todo)
    queue.reverse()
    pending: dict = {}  # future -> (key, case, submitted at)
    results: dict[str, dict] = {}
    # past this, the client gives up on a case whose worker did not answer (see the module doc)
    client_deadline = None if case_timeout is None else 2 * (case_timeout + WORKER_GRACE_S) + 30.0
    bar = tqdm(total=total, initial=total - len(todo), desc="sweep", unit="case", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    try:
        while queue or pending:
            while queue and len(pending) < window:
                key, case = queue.pop()
                fut = client.submit(compute_case, case, case_timeout, version, pure=False)
                pending[fut] = (key, case, time.monotonic())
            finished = _wait_first(client, list(pending), None if client_deadline is None else 1.0)
            for fut in finished:
                key, case, _ = pending.pop(fut)
                try:
                    rec = fut.result()
                except Exception as e:  # noqa: BLE001 - KilledWorker, CancelledError, ...
                    hint = " (the worker died: over its memory limit?)" if type(e).__name__ == "KilledWorker" else ""
                    rec = _failure_record(case, version, case_timeout, "failed", f"{type(e).__name__}: {e}{hint}")
                results[key] = rec
                rs.append(rec)
                bar.update(1)
            if client_deadline is not None:
                now = time.monotonic()
                for fut, (key, case, t0) in list(pending.items()):
                    if now - t0 > client_deadline:
                        pending.pop(fut)
                        worker = _processing_worker(client, fut.key)
                        fut.cancel()
                        if restart_stuck and worker:
                            with contextlib.suppress(Exception):
                                client.restart_workers([worker])
                        rec = _failure_record(
                            case, version, case_timeout, "timed out",
                            f"no answer from the worker {client_deadline:g} s after submission; the case was "
                            f"cancelled{' and its worker restarted' if restart_stuck and worker else ''}",
                            worker)
                        results[key] = rec
                        rs.append(rec)
                        bar.update(1)
    finally:
        bar.close()
        for fut in pending:
            with contextlib.suppress(Exception):
                fut.cancel()
    return results


def _wait_first(client, futures: list, timeout: float | None) -> list:
    """The futures that are no longer pending, waiting until one is (or ``timeout`` seconds)."""
    from concurrent.futures import CancelledError

    from distributed import wait

    try:
        with client.as_current():
            wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
    except TimeoutError:
        pass
    except CancelledError:  # a cancelled future counts as finished; its result() says why
        pass
    return [f for f in futures if f.status != "pending"]


def _processing_worker(client, task_key) -> str | None:
    with contextlib.suppress(Exception):
        for worker, keys in client.processing().items():
            if task_key in keys:
                return worker
    return None
