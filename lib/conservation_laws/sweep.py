"""Architecture sweeps: many counts on a Dask cluster, resumable, one JSON line per case.

A *spec* (a dict, or a YAML/JSON file) declares a grid; ``expand_spec`` turns it into cases, and
``run_sweep`` computes them with ``dask.distributed`` — a ``LocalCluster`` of worker processes by
default, or an existing cluster (``scheduler='tcp://host:8786'``). Each case is one call of
``lie.count_laws`` (the function behind ``conservation-laws count``), so a sweep's numbers are the
batch numbers by construction.

Spec keys (every value may be a single item or a list; integer ranges may be written
``"1..12"`` (inclusive), ``{"from": 1, "to": 12, "step": 1}`` or an explicit list)::

    name: two-layer-linear     # a label (optional)
    model: linear              # linear | relu | nmf | icnn | product
    dims: [1..4, 1..12, 1..4]  # one range per width: output, hidden..., input   (either this)
    depth: 2                   # number of weight layers q (dims has q + 1 entries) (or this,
    widths: {output: 1..4, hidden: 1..12, input: 1..4}      #  with widths)
    hidden: uniform            # with depth/widths: one width for every hidden layer (default) or 'all'
    bias: [false, true]        # applies to relu and icnn; other models only have bias = false
    flow: [gradient, momentum, nesterov]
    tau: [0, 1]                # friction, heavy-ball momentum only (others get tau = 0)
    geometry: null             # null = the model's own metric; euclidean | mirror | mixed
    seed: 0                    # random point / prime of the modular rank
    repeats: 1
    grids: [{...}, {...}]      # optional: several grids, each overriding the keys above

The results store is a JSON-lines file. A case's *key* is the sha256 of its canonical JSON
parameters together with the library version; each finished case is appended as one line (with
its key) and flushed at once. A rerun reads the store, skips every key already there and computes
only the rest, so a killed sweep loses at most the cases in flight; a truncated last line (a crash
in the middle of a write) is dropped. A case that raises is recorded with status ``failed`` and its
message; the sweep goes on.

Per-case limits.
* ``case_timeout`` (seconds): the worker runs the count in a helper thread and waits for it at most
  that long. Past the budget it raises an exception *inside* the counting thread (an asynchronous
  exception, delivered at the next Python bytecode: the engine's loops are Python, so it stops
  within milliseconds unless it is inside one long C call), records status ``timed out`` and frees
  the worker for the next case. Should the thread not stop (a C call that never returns), the
  worker keeps it running in the background, the result says so, and the client stops waiting
  after a second, wider deadline, cancels the case and, on a cluster it started itself, restarts
  that worker. A rerun retries a timed-out case only with a larger (or no) budget.
* ``case_memory`` (e.g. ``'2GB'``): the ``memory_limit`` of each worker of the LocalCluster, which
  runs one case at a time (one thread). A worker that exceeds 95 % of it is killed by its nanny and
  restarted; the case is retried once and then recorded as ``failed`` (``KilledWorker``). On an
  existing cluster set it when starting the workers (``dask worker ... --memory-limit 2GB``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as _dt
import hashlib
import itertools
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from .errors import ConservationLawsError, invalid

STATUSES = ("ok", "failed", "timed out")
SWEEP_MODELS = ("linear", "relu", "nmf", "icnn", "product")
BIAS_MODELS = ("relu", "icnn")
SPEC_KEYS = ("name", "model", "dims", "depth", "widths", "hidden", "bias", "flow", "flows", "tau", "taus",
             "geometry", "geometries", "seed", "repeats", "grids", "description")
WORKER_GRACE_S = 2.0  # how long the worker waits for an interrupted computation to unwind


# --------------------------------------------------------------------------------------------
# Spec → cases
# --------------------------------------------------------------------------------------------

def _version() -> str:
    from . import __version__

    return __version__


def _int_values(value, name: str) -> list[int]:
    """An int, 'a..b' (inclusive), {'from','to','step'} or a list of these → list of ints."""
    if isinstance(value, bool):
        raise invalid(name, value, "an integer, a range 'a..b', {from, to, step} or a list of them")
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        parts = value.split("..")
        try:
            if len(parts) == 2:
                a, b = int(parts[0]), int(parts[1])
                return list(range(a, b + 1))
            return [int(value)]
        except ValueError:
            raise invalid(name, value, "an integer or an inclusive range such as '1..12'") from None
    if isinstance(value, dict):
        extra = set(value) - {"from", "to", "step"}
        if extra or "from" not in value or "to" not in value:
            raise invalid(name, value, "a range {from: a, to: b, step: s} (step optional)")
        a, b, s = value["from"], value["to"], value.get("step", 1)
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b, s)) or s < 1:
            raise invalid(name, value, "integer from/to and a step ≥ 1")
        return list(range(a, b + 1, s))
    if isinstance(value, (list, tuple)):
        out: list[int] = []
        for v in value:
            out.extend(_int_values(v, name))
        return out
    raise invalid(name, value, "an integer, a range 'a..b', {from, to, step} or a list of them")


def _listify(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _dims_choices(grid: dict) -> list[list[int]]:
    """Every width list of a grid, from ``dims`` or from ``depth`` + ``widths``."""
    if "dims" in grid and ("widths" in grid or "depth" in grid):
        raise invalid("dims", grid["dims"], "give either dims or depth + widths, not both")
    if "dims" in grid:
        positions = grid["dims"]
        if not isinstance(positions, (list, tuple)) or not positions:
            raise invalid("dims", positions, "a list with one width (or range of widths) per layer, e.g. [1..4, 1..12, 1..4]")
        values = [_int_values(p, "dims") for p in positions]
        choices = [list(c) for c in itertools.product(*values)]
    elif "widths" in grid:
        widths = grid["widths"]
        if not isinstance(widths, dict) or set(widths) - {"output", "hidden", "input"} or not {"output", "input"} <= set(widths):
            raise invalid("widths", widths, "a mapping {output: ..., hidden: ..., input: ...}")
        depths = _int_values(grid.get("depth", 2), "depth")
        hidden_mode = grid.get("hidden", "uniform")
        if hidden_mode not in ("uniform", "all"):
            raise invalid("hidden", hidden_mode, "'uniform' (one width for every hidden layer) or 'all' (every combination)")
        out_w = _int_values(widths["output"], "widths.output")
        in_w = _int_values(widths["input"], "widths.input")
        hid_w = _int_values(widths.get("hidden", []), "widths.hidden")
        choices = []
        for q in depths:
            if q < 1:
                raise invalid("depth", q, "a number of weight layers ≥ 1")
            if q > 1 and not hid_w:
                raise invalid("widths.hidden", widths.get("hidden"), "hidden widths are needed for depth ≥ 2")
            if q == 1:
                hidden_choices = [[]]
            elif hidden_mode == "uniform":
                hidden_choices = [[h] * (q - 1) for h in hid_w]
            else:
                hidden_choices = [list(c) for c in itertools.product(hid_w, repeat=q - 1)]
            for o, hid, i in itertools.product(out_w, hidden_choices, in_w):
                choices.append([o, *hid, i])
    else:
        raise invalid("dims", None, "a spec needs dims (one range per layer) or depth + widths")
    for c in choices:
        if any(d < 1 for d in c):
            raise invalid("dims", c, "every width must be a positive integer")
    return choices


def canonical_case(model: str, dims, flow: str = "gradient", tau=0, geometry: str | None = None,
                   bias: bool = False, seed: int = 0, repeats: int = 1) -> dict:
    """The canonical parameters of one case (what its key is computed from).

    τ is written exactly as a string (``'0'``, ``'1/2'``); it is set to ``'0'`` for the gradient
    and Nesterov flows, and ``bias`` to false for models without biases, so that equivalent cases
    share one key.
    """
    from .flows import Flow

    if model not in SWEEP_MODELS:
        raise invalid("model", model, f"one of {', '.join(SWEEP_MODELS)} (models with widths)")
    if not isinstance(bias, bool):
        raise invalid("bias", bias, "true or false")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise invalid("seed", seed, "an integer")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise invalid("repeats", repeats, "a positive integer")
    f = Flow(flow, tau, geometry)  # validates flow, τ ≥ 0 and the geometry name
    tau_s = str(f.tau) if flow == "momentum" else "0"
    dims = [int(d) for d in dims]
    return {"model": model, "dims": dims, "bias": bool(bias and model in BIAS_MODELS), "flow": flow,
            "tau": tau_s, "geometry": geometry, "seed": seed, "repeats": repeats}


def case_key(case: dict, version: str | None = None) -> str:
    """sha256 of the canonical JSON of the case and the library version."""
    payload = json.dumps({"case": case, "version": version or _version()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def expand_spec(spec: dict) -> list[dict]:
    """The cases of a spec (see the module doc), in grid order, without duplicates.

    Each case is a canonical dict: model, dims, bias, flow, tau (exact string), geometry, seed,
    repeats. ``case_key(case)`` is its content key.
    """
    if not isinstance(spec, dict):
        raise invalid("spec", type(spec).__name__, "a mapping of grid keys (model, dims, flow, ...)")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise invalid("spec", unknown[0], f"a spec key, one of {', '.join(SPEC_KEYS)}")
    base = {k: v for k, v in spec.items() if k != "grids"}
    grids = spec.get("grids") or [{}]
    if not isinstance(grids, list):
        raise invalid("grids", grids, "a list of grids (mappings overriding the top-level keys)")
    seen: set[str] = set()
    cases: list[dict] = []
    for g in grids:
        if not isinstance(g, dict):
            raise invalid("grids", g, "each grid is a mapping")
        unknown = sorted(set(g) - set(SPEC_KEYS) - {"grids"})
        if unknown or "grids" in g:
            raise invalid("grids", (unknown or ["grids"])[0], f"a grid key, one of {', '.join(k for k in SPEC_KEYS if k != 'grids')}")
        grid = dict(base)
        if any(k in g for k in ("dims", "widths", "depth")):  # a grid's own shape replaces the top-level one
            for k in ("dims", "widths", "depth", "hidden"):
                grid.pop(k, None)
        grid.update(g)
        if "model" not in grid:
            raise invalid("model", None, f"a spec needs a model: one of {', '.join(SWEEP_MODELS)}")
        models = _listify(grid["model"])
        flows = _listify(grid.get("flows", grid.get("flow", "gradient")))
        taus = _listify(grid.get("taus", grid.get("tau", 0)))
        geometries = _listify(grid.get("geometries", grid.get("geometry", None)))
        biases = _listify(grid.get("bias", False))
        seeds = _int_values(grid.get("seed", 0), "seed")
        repeats = grid.get("repeats", 1)
        dims_list = _dims_choices(grid)
        for model, dims, bias, flow, tau, geometry, seed in itertools.product(
                models, dims_list, biases, flows, taus, geometries, seeds):
            case = canonical_case(model, dims, flow, tau, geometry, bias, seed, repeats)
            key = case_key(case)
            if key not in seen:
                seen.add(key)
                cases.append(case)
    return cases


def load_spec(path: str | Path) -> dict:
    """Read a spec from a .json, .yaml or .yml file."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise invalid("spec", str(path), "an existing YAML or JSON file")
    text = path.read_text()
    try:
        spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise invalid("spec", str(path), f"valid {'JSON' if path.suffix == '.json' else 'YAML'} ({e})") from None
    if not isinstance(spec, dict):
        raise invalid("spec", str(path), "a mapping of grid keys (model, dims, flow, ...)")
    return spec


# --------------------------------------------------------------------------------------------
# One case (runs on a worker)
# --------------------------------------------------------------------------------------------

class CaseTimeout(Exception):
    """Raised inside a counting thread that ran past its budget."""


def _count(case: dict) -> dict:
    from .lie import count_laws

    res = count_laws(case["model"], case["flow"], tau=case["tau"], geometry=case["geometry"], dims=case["dims"],
                     bias=case["bias"], seed=case["seed"], repeats=case["repeats"])
    return {"laws": res.laws, "rank": res.rank, "dimension": res.dimension, "depth": res.depth,
            "failure_bound": res.failure_bound, "prime": res.prime, "seconds": res.seconds}


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
                           "rank": None, "dimension": None, "seconds": None, "error": None, "version": key_version,
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
            rec.update(status="failed", error=f"{type(e).__name__}: {e}", seconds=time.perf_counter() - t0)
        return _finish(rec)

    box: dict[str, Any] = {}

    def target():
        try:
            box["result"] = _count(case)
        except CaseTimeout:
            box["interrupted"] = True
        except BaseException as e:  # noqa: BLE001
            box["error"] = f"{type(e).__name__}: {e}"

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


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------

class ResultStore:
    """An append-only JSON-lines file of case results, one flushed line per finished case.

    ``load`` returns {key: last record}; a last line cut by a crash is ignored (and cut off before
    the next append), and so is any other line that does not parse (counted in ``skipped_lines``).
    While a sweep runs the file is locked (``flock``), so two sweeps cannot interleave their lines.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.skipped_lines = 0
        self.truncated_tail = 0
        self._fh = None
        self._last_sync = 0.0

    def load(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        self.skipped_lines = 0
        if not self.path.exists():
            return out
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline, else a partial line
        self.truncated_tail = len(tail)
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out[rec["key"]] = rec
            except (json.JSONDecodeError, KeyError, TypeError):
                self.skipped_lines += 1
        return out

    def open(self) -> "ResultStore":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "ab+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ConservationLawsError(f"store={str(self.path)!r} is invalid: another sweep is writing to it") from None
        # drop a partial last line (a crash in the middle of a write) so that appends start clean
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size:
            fh.seek(max(0, size - 65536))
            chunk = fh.read()
            if not chunk.endswith(b"\n"):
                cut = chunk.rfind(b"\n")
                keep = size - len(chunk) + cut + 1 if cut >= 0 else (0 if size <= 65536 else None)
                if keep is None:  # a partial line longer than 64 KiB: end it instead
                    fh.write(b"\n")
                else:
                    fh.truncate(keep)
        fh.seek(0, os.SEEK_END)
        self._fh = fh
        return self

    def append(self, rec: dict) -> None:
        line = json.dumps(rec, sort_keys=True, default=str) + "\n"
        self._fh.write(line.encode())
        self._fh.flush()
        now = time.monotonic()
        if now - self._last_sync > 1.0:
            os.fsync(self._fh.fileno())
            self._last_sync = now

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()  # releases the lock
            self._fh = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


def _needs_run(rec: dict | None, case_timeout: float | None, retry_failed: bool) -> bool:
    if rec is None:
        return True
    status = rec.get("status")
    if status == "ok":
        return False
    if status == "failed":
        return retry_failed
    if status == "timed out":  # retried only with a larger (or no) budget
        old = rec.get("case_timeout")
        return case_timeout is None or old is None or case_timeout > old
    return True


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------

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
    import dask
    from distributed import Client, LocalCluster

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise invalid("workers", workers, "a positive number of worker processes")
    memory = case_memory if case_memory is not None else "auto"
    if isinstance(case_memory, str):
        from dask.utils import parse_bytes

        try:
            parse_bytes(case_memory)
        except ValueError:
            raise invalid("case_memory", case_memory, "a size such as '2GB' or '500MiB'") from None
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory,
                               dashboard_address=None, silence_logs=logging.CRITICAL, host="127.0.0.1")
        client = Client(cluster, set_as_default=False)
    return cluster, client


def _failure_record(case: dict, version: str, case_timeout, status: str, error: str, worker=None) -> dict:
    return _finish({"key": case_key(case, version), "case": case, "status": status, "laws": None, "rank": None,
                    "dimension": None, "seconds": None, "error": error, "version": version,
                    "case_timeout": case_timeout, "worker": worker})


def run_sweep(spec: dict, store: str | Path, client=None, workers: int = 2, case_timeout: float | None = None,
              progress: bool = True, *, scheduler: str | None = None, case_memory: str | int | None = None,
              retry_failed: bool = False) -> list[dict]:
    """Run every case of ``spec`` not yet in ``store`` on Dask; return all results in spec order.

    Cluster: ``client`` (a ``distributed.Client``) if given; else ``scheduler`` (address of an
    existing cluster); else a LocalCluster of ``workers`` processes, one thread each, memory limit
    ``case_memory``, closed at the end. Nothing is started when every case is already stored.

    Each result holds key, case, status (ok | failed | timed out), laws = N − K, rank = K,
    dimension = N, seconds, error, version, worker, and ``reused`` (True when read from the
    store rather than computed by this call). ``progress`` draws a bar (cases done / total, ETA)
    on stderr.
    """
    if case_timeout is not None and (isinstance(case_timeout, bool) or not isinstance(case_timeout, (int, float))
                                     or case_timeout <= 0):
        raise invalid("case_timeout", case_timeout, "a positive number of seconds, or None")
    version = _version()
    cases = expand_spec(spec)
    keys = [case_key(c, version) for c in cases]
    rs = ResultStore(store)
    with rs:
        done = rs.load()
        todo = [(k, c) for k, c in zip(keys, cases) if _needs_run(done.get(k), case_timeout, retry_failed)]
        reused = {k for k in keys if k in done} - {k for k, _ in todo}
        new: dict[str, dict] = {}
        if todo:
            own = None
            if client is None:
                if scheduler:
                    from distributed import Client

                    try:
                        client = Client(scheduler, set_as_default=False)
                    except (OSError, TimeoutError, ValueError) as e:
                        raise invalid("scheduler", scheduler, f"the address of a running Dask scheduler, e.g. "
                                      f"tcp://10.0.0.5:8786 ({type(e).__name__}: {' '.join(str(e).split())})") from None
                    own = (None, client)
                else:
                    own = start_local_cluster(workers, case_memory)
                    client = own[1]
            try:
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


def summarize(results: Iterable[dict]) -> dict:
    """Counts by status, and how many were computed now / reused from the store."""
    results = list(results)
    out = {s: sum(r["status"] == s for r in results) for s in STATUSES}
    out["total"] = len(results)
    out["computed"] = sum(not r.get("reused", False) for r in results)
    out["reused"] = out["total"] - out["computed"]
    return out


# --------------------------------------------------------------------------------------------
# Reading a landscape (two-layer linear nets) and the closed forms it is compared with
# --------------------------------------------------------------------------------------------

def linear_closed_form(flow: str, n: int, r: int, m: int, scalar_case: bool = True) -> int:
    """N of the two-layer linear net [n, r, m]: ``closed_forms.two_layer_linear`` (kept for chapters)."""
    from .closed_forms import two_layer_linear

    return two_layer_linear(flow, n, r, m, scalar_case=scalar_case)


def linear_crossover(k: int) -> int:
    """r*(k): ``closed_forms.linear_crossover`` (kept for chapters)."""
    from .closed_forms import linear_crossover as crossover

    return crossover(k)


def linear_landscape(results: Iterable[dict], flow: str, exclude_scalar: bool = True) -> dict:
    """Counts of two-layer linear nets on the (k = n + m, r) grid, with a split-independence check.

    Returns ``ks``, ``rs`` (sorted), ``counts`` (len(ks) × len(rs) list of lists, None where no case),
    ``splits`` ({k: the (n, m) seen}) and ``split_conflicts``: the (k, r) cells where two splits
    n + m = k gave different counts. The scalar case n = m = 1 (the only split of k = 2) is left
    out when ``exclude_scalar``.
    """
    cells: dict[tuple[int, int], set[int]] = {}
    splits: dict[int, set[tuple[int, int]]] = {}
    for rec in results:
        c = rec["case"]
        if c["model"] != "linear" or c["flow"] != flow or len(c["dims"]) != 3 or rec["status"] != "ok":
            continue
        n, r, m = c["dims"]
        if exclude_scalar and n == m == 1:
            continue
        cells.setdefault((n + m, r), set()).add(rec["laws"])
        splits.setdefault(n + m, set()).add((n, m))
    ks = sorted({k for k, _ in cells})
    rs = sorted({r for _, r in cells})
    counts = [[(min(cells[(k, r)]) if (k, r) in cells else None) for r in rs] for k in ks]
    conflicts = sorted(kr for kr, v in cells.items() if len(v) > 1)
    return {"ks": ks, "rs": rs, "counts": counts, "splits": {k: sorted(v) for k, v in sorted(splits.items())},
            "split_conflicts": conflicts}


def check_linear_sweep(results: Iterable[dict], flows: tuple[str, str] = ("gradient", "momentum")) -> dict:
    """Compare a sweep of two-layer linear nets with the closed forms (``linear_closed_form``).

    Returns ``generic_cases`` and ``mismatches`` (the (n, m) ≠ (1, 1) results whose count is not the
    closed form, failed cases included), ``scalar_cases`` and ``scalar_mismatches`` (n = m = 1 against
    2r − 1 and 4r − 6), ``scalar_deviations`` ({flow: how many scalar counts differ from the generic
    formulas at k = 2}), ``split_cells`` / ``split_conflicts`` (the (flow, k, r) cells reached by
    several splits n + m = k, and those where the splits disagree), and ``crossover``
    ({k: (first r of the sweep with N_{flows[1]} > N_{flows[0]} or None, linear_crossover(k))})
    with ``crossover_mismatches`` (the k whose sweep crossover is not the first width of the grid at
    or past the predicted one).
    """
    results = [r for r in results if r["case"]["model"] == "linear" and len(r["case"]["dims"]) == 3]
    generic = [r for r in results if not (r["case"]["dims"][0] == r["case"]["dims"][2] == 1)]
    scalar = [r for r in results if r["case"]["dims"][0] == r["case"]["dims"][2] == 1]

    def closed(r, scalar_case=True):
        return linear_closed_form(r["case"]["flow"], *r["case"]["dims"], scalar_case=scalar_case)

    cells: dict[tuple[str, int, int], dict[tuple[int, int], int]] = {}
    for r in generic:
        n, w, m = r["case"]["dims"]
        cells.setdefault((r["case"]["flow"], n + m, w), {})[(n, m)] = r["laws"]
    several = {c: v for c, v in cells.items() if len(v) > 1}
    lands = [linear_landscape(generic, f) for f in flows]
    crossover: dict[int, tuple[int | None, int]] = {}
    crossover_mismatches = 0
    if lands[0]["ks"] == lands[1]["ks"] and lands[0]["rs"] == lands[1]["rs"]:
        rs = lands[0]["rs"]
        for i, k in enumerate(lands[0]["ks"]):
            first = next((w for j, w in enumerate(rs) if None not in (lands[0]["counts"][i][j], lands[1]["counts"][i][j])
                          and lands[1]["counts"][i][j] > lands[0]["counts"][i][j]), None)
            crossover[k] = (first, linear_crossover(k))
            # the first width of the grid at or past the predicted crossover (None: the grid stops before it)
            crossover_mismatches += first != next((w for w in rs if w >= linear_crossover(k)), None)
    return {
        "generic_cases": len(generic),
        "mismatches": [r for r in generic if r["status"] != "ok" or r["laws"] != closed(r)],
        "scalar_cases": len(scalar),
        "scalar_mismatches": [r for r in scalar if r["status"] != "ok" or r["laws"] != closed(r)],
        "scalar_deviations": {f: sum(r["laws"] != closed(r, False) for r in scalar if r["case"]["flow"] == f) for f in flows},
        "split_cells": len(several),
        "split_conflicts": sum(len(set(v.values())) > 1 for v in several.values()),
        "max_splits": max((len(v) for v in cells.values()), default=0),
        "crossover": crossover,
        "crossover_mismatches": crossover_mismatches,
    }


def plot_linear_landscape(results: Iterable[dict], flows: tuple[str, str] = ("gradient", "momentum")):
    """Three stacked heatmaps over (r, k = n + m): N for each flow and their difference.

    The scalar row k = 2 (n = m = 1, where the generic formulas do not hold) is hatched. Staircases
    mark the closed forms' branch points: r = k (GF), r = 2k + 1 (MF) and the crossover
    (``linear_crossover``) where the difference turns positive. Returns the figure.
    """
    import numpy as np

    from . import plotting

    results = list(results)
    lands = [linear_landscape(results, f, exclude_scalar=False) for f in flows]
    ks, rs = lands[0]["ks"], lands[0]["rs"]
    if lands[1]["ks"] != ks or lands[1]["rs"] != rs:
        raise invalid("results", "landscape", f"the same (k, r) grid for both flows {flows}")
    grids = [np.array([[np.nan if v is None else v for v in row] for row in land["counts"]], float) for land in lands]
    short = {"gradient": "GF", "momentum": "MF", "nesterov": "Nesterov"}
    names = [short.get(f, f) for f in flows]
    panels = [(grids[0], rf"$N_{{\mathrm{{{names[0]}}}}}$", "viridis", None, lambda k: k),
              (grids[1], rf"$N_{{\mathrm{{{names[1]}}}}}$", "viridis", None, lambda k: 2 * k + 1),
              (grids[1] - grids[0], rf"$N_{{\mathrm{{{names[1]}}}}} - N_{{\mathrm{{{names[0]}}}}}$", "PuOr", 0.0,
               lambda k: linear_crossover(k) - 1)]
    fig, axes = plotting.figure(3, 1, width=plotting.FIGSIZE[0], height=2.3 * 3)
    ylabels = [f"{k} (n=m=1)" if k == 2 else str(k) for k in ks]
    for ax, (vals, label, cmap, center, last_r) in zip(axes, panels):
        plotting.annotated_heatmap(ax, vals, rs, ylabels, xlabel="hidden width $r$", ylabel="$k = n + m$",
                                   cmap=cmap, center=center, fmt="{:.0f}", colorbar=label)
        if 2 in ks:  # the scalar case: hatched, outside the closed forms
            i = ks.index(2)
            ax.fill_between([-0.5, len(rs) - 0.5], i - 0.5, i + 0.5, facecolor="none", edgecolor="0.55",
                            hatch="//", linewidth=0)
        # staircase at the branch point: the boundary after r = last_r(k), one step per row
        pts = []
        for i, k in enumerate(ks):
            if k == 2:
                continue
            x = rs.index(last_r(k)) + 0.5 if last_r(k) in rs else (len(rs) - 0.5 if last_r(k) > rs[-1] else -0.5)
            pts += [(x, i - 0.5), (x, i + 0.5)]
        if pts:
            ax.plot(*zip(*pts), color="black" if cmap != "viridis" else "white", linewidth=1.6)
        ax.set_xlim(-0.5, len(rs) - 0.5)
        ax.set_ylim(-0.5, len(ks) - 0.5)
    return fig


# --------------------------------------------------------------------------------------------
# Command line: `conservation-laws sweep SPEC`
# --------------------------------------------------------------------------------------------

def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sweep`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "sweep", help="run a grid of counts on Dask (resumable)",
        description="Expand SPEC (YAML or JSON: model, dims or depth + widths, bias, flow, tau, geometry,\n"
                    "seed) into cases and count the laws of each (lie.count_laws) with dask.distributed.\n"
                    "Results are appended to a JSON-lines store as they finish; a rerun skips the cases\n"
                    "already there. Exit codes: 0 every case ok, 1 some case failed or timed out, 2 bad input.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  conservation-laws sweep grid.yaml                      # LocalCluster, one worker per core\n"
               "  conservation-laws sweep grid.yaml --workers 2 --case-timeout 60 --case-memory 2GB\n"
               "  conservation-laws sweep grid.yaml --scheduler tcp://10.0.0.5:8786\n"
               "  conservation-laws sweep grid.yaml --dry-run            # list the cases, compute nothing")
    p.add_argument("spec", help="grid spec file (.yaml, .yml or .json)")
    p.add_argument("--store", help="results file (JSON lines); default: SPEC with suffix .results.jsonl")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler (e.g. tcp://10.0.0.5:8786) instead of a LocalCluster")
    p.add_argument("--workers", type=int, default=None,
                   help="LocalCluster worker processes (default: the machine's cores)")
    p.add_argument("--case-timeout", type=float, default=None, metavar="SECONDS",
                   help="time budget per case; past it the case is recorded as 'timed out'")
    p.add_argument("--case-memory", default=None, metavar="SIZE",
                   help="memory limit per LocalCluster worker (one case at a time), e.g. 2GB")
    p.add_argument("--retry-failed", action="store_true", help="recompute cases stored as failed")
    p.add_argument("--dry-run", action="store_true", help="print the cases and how many are stored; compute nothing")
    p.add_argument("--json", action="store_true", help="print every result as one JSON line on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run_sweep_command, handler=run_sweep_command)
    return p


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run the ``sweep`` subcommand. Exit status: 0 all ok, 1 some case failed or timed out, 2 bad input."""
    try:
        spec = load_spec(args.spec)
        store = Path(args.store) if args.store else Path(args.spec).with_suffix(".results.jsonl")
        if args.dry_run:
            cases = expand_spec(spec)
            stored = ResultStore(store).load()
            version = _version()
            n_stored = 0
            for c in cases:
                key = case_key(c, version)
                hit = key in stored
                n_stored += hit
                print(json.dumps({"key": key, "stored": stored[key]["status"] if hit else None, "case": c}))
            print(f"{len(cases)} cases, {n_stored} in {store}", file=sys.stderr)
            return 0
        if args.workers is not None and args.workers < 1:
            raise invalid("--workers", args.workers, "a positive number of worker processes")
        if args.scheduler and args.case_memory:
            print("note: --case-memory applies to a LocalCluster only; start the workers with "
                  "`dask worker ... --memory-limit SIZE`", file=sys.stderr)
        results = run_sweep(spec, store, workers=args.workers or machine_workers(), case_timeout=args.case_timeout,
                            progress=not args.no_progress, scheduler=args.scheduler, case_memory=args.case_memory,
                            retry_failed=args.retry_failed)
    except ConservationLawsError as e:
        print(f"conservation-laws: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    s = summarize(results)
    if args.json:
        for r in results:
            print(json.dumps(r, sort_keys=True, default=str))
    name = spec.get("name", Path(args.spec).stem)
    line = (f"sweep {name}: {s['total']} cases, {s['ok']} ok, {s['failed']} failed, {s['timed out']} timed out "
            f"({s['computed']} computed now, {s['reused']} reused); store: {store}")
    print(line, file=sys.stderr if args.json else sys.stdout)
    for r in results:
        if r["status"] != "ok":
            print(f"  {r['status']}: {json.dumps(r['case'])}: {r['error']}", file=sys.stderr)
    return 0 if s["ok"] == s["total"] else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m conservation_laws.sweep SPEC ...`` (the same as ``conservation-laws sweep``)."""
    parser = argparse.ArgumentParser(prog="python -m conservation_laws.sweep")
    sub = parser.add_subparsers(dest="command", required=True)
    add_sweep_parser(sub)
    args = parser.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run_sweep_command(args)
    except KeyboardInterrupt:
        print("conservation-laws: interrupted (finished cases are in the store; rerun to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
