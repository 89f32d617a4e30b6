"""Architecture sweeps: many counts on a Dask cluster, resumable, one JSON line per case.

A *spec* (a dict, or a YAML/JSON file) declares a grid; ``expand_spec`` turns it into cases, and
``run_sweep`` computes them with ``dask.distributed`` — a ``LocalCluster`` of worker processes by
default, or an existing cluster (``scheduler='tcp://host:8786'``). Each case is one call of
``lie.count_laws`` (the function behind ``conservation-laws count``), so a sweep's numbers are the
batch numbers by construction.

Spec keys (every value may be a single item or a list; integer ranges may be written
``"1..12"`` (inclusive), ``{"from": 1, "to": 12, "step": 1}`` or an explicit list)::

    name: two-layer-linear     # a label (optional)
    model: linear              # linear | relu | nmf | icnn | product | a block (with options)
    model_file: gated.yaml     # instead of model/dims: a model file (relative to the spec's folder)
    options: {heads: 2}        # a block's keyword options (or a list of such mappings)
    weight_decay: [0, 1/10]    # weight decay λ (also weight_decays)
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

The results store is a JSON-lines regular file (a directory, a device or a ``/proc`` file is
refused). A case's *key* is the sha256 of its canonical JSON parameters (with the sha256 of its
model file's content: an edited model file is counted afresh), the library version and the
certificate policy (``spec.certificate_policy``); each finished case is appended as one line (with
its key) and flushed at once. A rerun reads the store line by line (a line over 1 MiB is skipped
unread), skips every key already there and computes only the rest, so a killed sweep loses at most
the cases in flight; a truncated last line (a crash in the middle of a write) is dropped, and lines
that are not records are counted (``ResultStore.skipped_lines``, reported by the ``sweep`` command).
A case that raises is recorded with status ``failed`` and its message; the sweep goes on. Every
option and the store are checked, and a ``scheduler`` reached (within ``scheduler_timeout``
seconds), before the store is created.

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

Modules, one job each: ``spec`` (grid specification → canonical cases and keys), ``runner`` (one
case on a worker with its time budget, the Dask cluster, the submission loop), ``store`` (the
JSON-lines results store), ``landscape`` (reading a linear sweep against ``closed_forms``), ``cli``
(the ``sweep`` subcommand). The landscape figure is the book's (``companion.plotting.plot_linear_landscape``).
"""

from __future__ import annotations

from .cli import add_sweep_parser, run_sweep_command
from .landscape import check_linear_sweep, linear_landscape
from .runner import (WORKER_GRACE_S, CaseTimeout, compute_case, machine_workers, run_sweep,
                     start_local_cluster)
from .spec import SPEC_KEYS, SWEEP_MODELS, canonical_case, case_key, certificate_policy, expand_spec, load_spec
from .store import STATUSES, ResultStore, summarize

__all__ = ["CaseTimeout", "ResultStore", "SPEC_KEYS", "STATUSES", "SWEEP_MODELS", "WORKER_GRACE_S",
           "add_sweep_parser", "canonical_case", "case_key", "certificate_policy", "check_linear_sweep",
           "compute_case", "expand_spec", "linear_landscape", "load_spec", "machine_workers", "run_sweep", "run_sweep_command", "start_local_cluster", "summarize"]

