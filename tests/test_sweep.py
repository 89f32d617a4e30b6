"""Sweeps on Dask: spec expansion, the resumable store, per-case limits, and real clusters.

The cluster tests start real worker processes: a LocalCluster of 2 processes (through the library
and through the CLI in a subprocess that is killed half-way), and a scheduler plus a worker started
as separate `dask` processes on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conservation_laws.engine import lie
from conservation_laws.errors import ConservationLawsError
from conservation_laws.closed_forms import linear_crossover
from conservation_laws.closed_forms import two_layer_linear as linear_closed_form
from conservation_laws.interfaces.sweep import (ResultStore, canonical_case, case_key, check_linear_sweep, compute_case,
                                     expand_spec, linear_landscape, run_sweep,
                                     start_local_cluster, summarize)

DASK = Path(sys.executable).parent / "dask"

# 45 momentum cases of 0.05–0.3 s each: long enough to kill the sweep half-way
KILL_SPEC = {"name": "kill-test", "model": "linear", "dims": ["2..4", "8..12", "2..4"], "flow": "momentum"}


# a case well past a budget of a second (the engine got faster: [8, 24, 8] now takes under one)
SLOW_DIMS = [20, 20, 20]  # momentum, N = 1601: about 4 s here, in short steps (each C call well under
# the worker's grace period, so a timeout interrupts it), far past the tests' 0.5–1 s budgets


def direct(case: dict):
    """The single-process batch count of a case."""
    return lie.count_laws(case["model"], case["flow"], tau=case["tau"], geometry=case["geometry"], dims=case["dims"],
                          bias=case["bias"], seed=case["seed"], repeats=case["repeats"])


def store_lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_bytes().split(b"\n"):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


# ---------------------------------------------------------------------------------------------
# spec, keys, store (no cluster)
# ---------------------------------------------------------------------------------------------

def test_expand_spec_ranges_and_canonical_cases():
    cases = expand_spec({"model": "linear", "dims": ["1..2", [3, 5], {"from": 1, "to": 3, "step": 2}],
                         "flow": ["gradient", "momentum"], "tau": [0, "1/2"], "bias": [False, True]})
    # bias collapses (linear has none), tau collapses for gradient: 2*2*2 dims × (1 GF + 2 MF)
    assert len(cases) == 8 * 3
    assert {c["tau"] for c in cases if c["flow"] == "gradient"} == {0}
    assert {c["tau"] for c in cases if c["flow"] == "momentum"} == {0, 0.5}  # as batch JSON writes τ
    assert all(c["bias"] is False for c in cases)
    assert cases[0] == {"model": "linear", "dims": [1, 3, 1], "bias": False, "flow": "gradient", "tau": 0,
                        "geometry": None, "seed": 0, "repeats": 1}


def test_expand_spec_depth_widths_and_grids():
    spec = {"model": "relu", "bias": [False, True], "flow": "gradient",
            "grids": [{"depth": [2, 3], "widths": {"output": 1, "hidden": [2, 3], "input": 2}},
                      {"dims": [[2], [2], [2]], "hidden": "uniform"}]}
    cases = expand_spec(spec)
    dims = [c["dims"] for c in cases]
    assert [1, 2, 2] in dims and [1, 2, 2, 2] in dims and [1, 3, 3, 2] in dims and [2, 2, 2] in dims
    # the one case validator (cases.make_case) rejects a ReLU net without a hidden layer, as `count` does
    with pytest.raises(ConservationLawsError, match="dims=.1, 2. is invalid"):
        expand_spec(dict(spec, grids=[{"depth": 1, "widths": {"output": 1, "input": 2}}]))
    assert [1, 2, 3, 2] not in dims  # hidden widths are uniform by default
    every = expand_spec({"model": "relu", "depth": 3, "hidden": "all", "widths": {"output": 1, "hidden": [2, 3], "input": 2}})
    assert [1, 2, 3, 2] in [c["dims"] for c in every] and len(every) == 4
    assert {c["bias"] for c in cases} == {False, True}


def test_expand_spec_rejects_bad_input():
    with pytest.raises(ConservationLawsError, match="flwo"):
        expand_spec({"model": "linear", "dims": [1, 2, 1], "flwo": "gradient"})
    with pytest.raises(ConservationLawsError, match="model"):
        expand_spec({"model": "resnet", "dims": [1, 2, 1]})
    with pytest.raises(ConservationLawsError, match="flow"):
        expand_spec({"model": "linear", "dims": [1, 2, 1], "flow": "adam"})
    with pytest.raises(ConservationLawsError, match="tau"):
        expand_spec({"model": "linear", "dims": [1, 2, 1], "flow": "momentum", "tau": -1})
    with pytest.raises(ConservationLawsError, match="dims"):
        expand_spec({"model": "linear", "dims": ["1..x", 2, 1]})


def test_case_key_is_content_addressed():
    a = canonical_case("linear", [2, 3, 2], "momentum", tau=0.5)
    b = canonical_case("linear", (2, 3, 2), "momentum", tau="1/2")
    assert a == b and case_key(a) == case_key(b)
    assert case_key(a) != case_key(canonical_case("linear", [2, 3, 2], "momentum", tau=1))
    assert case_key(a, "0.1.0") != case_key(a, "9.9.9")  # the library version is part of the key
    assert len(case_key(a)) == 64


def test_store_tolerates_a_truncated_last_line(tmp_path):
    path = tmp_path / "store.jsonl"
    good = [{"key": f"k{i}", "status": "ok", "laws": i} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in good) + '{"key": "k3", "status": "o')
    rs = ResultStore(path)
    assert set(rs.load()) == {"k0", "k1", "k2"} and rs.truncated_tail > 0
    with rs:  # opening for append cuts the partial line off
        rs.append({"key": "k4", "status": "ok", "laws": 4})
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)
    assert set(ResultStore(path).load()) == {"k0", "k1", "k2", "k4"}


def test_store_is_locked_while_a_sweep_writes(tmp_path):
    path = tmp_path / "store.jsonl"
    with ResultStore(path):
        with pytest.raises(ConservationLawsError, match="another sweep"):
            ResultStore(path).open()


def test_cli_sweep_subcommand_dry_run_and_bad_input(tmp_path, capsys):
    from conservation_laws.interfaces import cli

    spec = tmp_path / "grid.yaml"
    spec.write_text("model: linear\ndims: [1..2, 2, 1]\nflow: [gradient, momentum]\n")
    assert cli.main(["sweep", str(spec), "--dry-run"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [c["case"]["dims"] for c in lines] == [[1, 2, 1], [1, 2, 1], [2, 2, 1], [2, 2, 1]]
    assert all(c["stored"] is None and len(c["key"]) == 64 for c in lines)
    spec.write_text("model: linear\ndims: [1, 2, 1]\nflows: [gradient, adam]\n")
    assert cli.main(["sweep", str(spec), "--no-progress"]) == 2
    assert "flow='adam' is invalid" in capsys.readouterr().err
    assert cli.main(["sweep", str(tmp_path / "missing.yaml")]) == 2


def test_compute_case_records_failures_and_timeouts(monkeypatch):
    from conservation_laws.interfaces.sweep import runner

    ok = compute_case(canonical_case("linear", [2, 3, 2], "gradient"))
    assert ok["status"] == "ok" and ok["laws"] == 6 and ok["rank"] == 6 and ok["dimension"] == 12
    bad = compute_case(canonical_case("linear", [2, 2, 2], geometry="mixed"))
    assert bad["status"] == "failed" and "mixed" in bad["error"]
    # both outcomes of a timeout, each made certain: whether a real count is interrupted within the
    # worker's grace period depends on how long its C calls take on a loaded machine
    case = canonical_case("linear", SLOW_DIMS, "momentum")

    def python_loop(case):  # Python bytecode: the timeout's exception is delivered at once
        while True:
            pass

    monkeypatch.setattr(runner, "_count", python_loop)
    t0 = time.perf_counter()
    slow = compute_case(case, case_timeout=0.5)
    assert slow["status"] == "timed out", slow
    assert slow["error"].endswith("; the computation was interrupted"), slow["error"]
    assert not [t for t in threading.enumerate() if t.name == "conservation-laws-case" and t.is_alive()]
    assert time.perf_counter() - t0 < 0.5 + runner.WORKER_GRACE_S + 5.0  # the budget was enforced

    def one_c_call(case):  # a C call longer than the grace period: the exception waits for it
        time.sleep(runner.WORKER_GRACE_S + 1.5)

    monkeypatch.setattr(runner, "_count", one_c_call)
    stuck = compute_case(case, case_timeout=0.2)
    assert stuck["status"] == "timed out"
    assert stuck["error"].endswith("could not be interrupted and goes on in a background thread of the worker")
    mismatch = compute_case(canonical_case("linear", [1, 2, 1]), version="0.0.0-other")
    assert mismatch["status"] == "failed" and "same version" in mismatch["error"]


def test_sweep_records_carry_the_certificate():
    """A sweep record says what the count is worth, as lie.count_laws does for the same case."""
    from conservation_laws import make_model
    from conservation_laws.interfaces.sweep.store import _needs_run

    # K = N (phase space of dimension 2D + 1 = 5 and no law at n2 = 1): proved outright
    full = compute_case(canonical_case("linear", [1, 1, 1], "momentum"))
    assert (full["laws"], full["certificate"]) == (0, "proved") and "full rank" in full["certificate_how"]
    # 0 < N − K < N: probabilistic, with the same certificate as a direct count
    rec = compute_case(canonical_case("linear", [2, 3, 2], "gradient"))
    direct = lie.count_laws(make_model("linear", [2, 3, 2]), "gradient", seed=0)
    assert rec["certificate"] == direct.certificate == "probabilistic"
    assert rec["certificate_how"] == direct.certificate_how
    assert 0 < rec["failure_bound"] <= 1e-9
    bad = compute_case(canonical_case("linear", [2, 2, 2], geometry="mixed"))
    assert bad["certificate"] is None and bad["certificate_how"] is None
    # a stored record from before certificates is counted again, one with it is reused
    old = {k: v for k, v in rec.items() if not k.startswith("certificate")}
    assert _needs_run(old, None, False) and not _needs_run(rec, None, False)


def test_linear_closed_forms_match_counts_and_landscape():
    results = []
    for n, m in [(1, 2), (2, 1), (1, 3), (2, 2), (1, 1)]:
        for r in (1, 3, 5, 8):
            for flow in ("gradient", "momentum"):
                case = canonical_case("linear", [n, r, m], flow)
                res = direct(case)
                assert res.laws == linear_closed_form(flow, n, r, m), (n, r, m, flow)
                results.append({"case": case, "status": "ok", "laws": res.laws})
    land = linear_landscape(results, "momentum")
    assert land["ks"] == [3, 4] and land["rs"] == [1, 3, 5, 8] and land["split_conflicts"] == []
    # with the scalar case (k = 2) the k = 2 row appears; (1, 1) is the only split of k = 2
    assert linear_landscape(results, "momentum", exclude_scalar=False)["ks"] == [2, 3, 4]
    check = check_linear_sweep(results)
    assert check["mismatches"] == [] and check["scalar_mismatches"] == [] and check["generic_cases"] == 32
    # the scalar net follows the generic k = 2 formula for GF, not for MF (r = 3, 5, 8 differ)
    assert check["scalar_deviations"] == {"gradient": 0, "momentum": 3}
    assert check["split_cells"] == 16 and check["split_conflicts"] == 0 and check["max_splits"] == 2
    assert check["crossover"] == {3: (8, 7), 4: (8, 8)} and check["crossover_mismatches"] == 0
    assert [linear_crossover(k) for k in (2, 3, 4, 6)] == [5, 7, 8, 11]  # first r > k + 1/2 + sqrt(8k+1)/2
    wrong = [dict(r, laws=r["laws"] + 1) if r["case"]["dims"] == [1, 5, 2] else r for r in results]
    assert len(check_linear_sweep(wrong)["mismatches"]) == 2 and check_linear_sweep(wrong)["split_conflicts"] == 2
    import matplotlib

    matplotlib.use("Agg")
    from companion.plotting import plot_linear_landscape

    fig = plot_linear_landscape(results)
    assert len(fig.axes) == 6  # three heatmaps and their colour bars
    fig.clf()


# ---------------------------------------------------------------------------------------------
# real clusters
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_client():
    cluster, client = start_local_cluster(workers=2, case_memory="1GB")
    yield client
    client.close()
    cluster.close()


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_killed_sweep_resumes_without_recomputing(tmp_path, local_client):
    spec_path = tmp_path / "grid.json"
    spec_path.write_text(json.dumps(KILL_SPEC))
    store = tmp_path / "grid.results.jsonl"
    cases = expand_spec(KILL_SPEC)
    assert len(cases) == 45
    # 1. the CLI in its own process group (its LocalCluster's workers included), killed half-way
    proc = subprocess.Popen([sys.executable, "-m", "conservation_laws.interfaces.sweep", str(spec_path), "--workers", "2",
                             "--no-progress"], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if store.exists() and store.read_bytes().count(b"\n") >= 6:
                break
            time.sleep(0.02)
    finally:
        _kill_group(proc)
    before = store_lines(store)
    assert 6 <= len(before) < len(cases), "the sweep should have been killed half-way"
    # 2. a crash in the middle of a write: a partial last line
    with open(store, "ab") as fh:
        fh.write(b'{"case": {"model": "linear", "dims": [4, 12')
    # 3. rerun on a real LocalCluster of 2 processes
    info = local_client.scheduler_info()["workers"]
    assert len(info) == 2 and all(w["memory_limit"] == 10**9 and w["nthreads"] == 1 for w in info.values())
    results = run_sweep(KILL_SPEC, store, client=local_client, progress=False)
    after = store_lines(store)
    keys_after = [r["key"] for r in after]
    # nothing finished was recomputed (each key written once), nothing is missing
    assert len(keys_after) == len(set(keys_after)) == len(cases)
    assert [r["key"] for r in after[: len(before)]] == [r["key"] for r in before]
    s = summarize(results)
    assert s == {"ok": 45, "failed": 0, "timed out": 0, "total": 45, "computed": 45 - len(before), "reused": len(before)}
    assert [r["case"] for r in results] == cases
    # equal to the single-process batch counts
    for r in results:
        res = direct(r["case"])
        assert (r["laws"], r["rank"], r["dimension"]) == (res.laws, res.rank, res.dimension)
        assert r["laws"] == linear_closed_form("momentum", *r["case"]["dims"])
    # 4. a third run computes nothing (and starts no cluster)
    again = run_sweep(KILL_SPEC, store, client=None, progress=False)
    assert all(r["reused"] for r in again) and len(store_lines(store)) == len(cases)


def test_sweep_records_failures_and_timeouts_on_the_cluster(tmp_path, local_client):
    spec = {"model": "linear", "grids": [{"dims": SLOW_DIMS, "flow": "momentum"},
                                         {"dims": [2, "1..3", 2], "flow": ["gradient", "momentum"]},
                                         {"dims": [2, 2, 2], "geometry": "mixed"}]}
    store = tmp_path / "s.jsonl"
    t0 = time.perf_counter()
    results = run_sweep(spec, store, client=local_client, case_timeout=1.0, progress=False)
    assert time.perf_counter() - t0 < 20
    by_status = {r["status"]: r for r in results}
    assert summarize(results) | {"computed": 0} == {"ok": 6, "failed": 1, "timed out": 1, "total": 8,
                                                      "computed": 0, "reused": 0}
    assert by_status["timed out"]["case"]["dims"] == SLOW_DIMS
    assert "mixed" in by_status["failed"]["error"]
    # a rerun with the same budget skips everything; failed cases are not retried unless asked
    again = run_sweep(spec, store, client=local_client, case_timeout=1.0, progress=False)
    assert all(r["reused"] for r in again)
    retry = run_sweep(spec, store, client=local_client, case_timeout=1.0, progress=False, retry_failed=True)
    assert [r["reused"] for r in retry].count(False) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_on_an_external_scheduler_and_worker(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "wb")
    sched = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             stdout=log, stderr=log, start_new_session=True)
    worker = subprocess.Popen([str(DASK), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                               "--host", "127.0.0.1", "--name", "external-1"],
                              stdout=log, stderr=log, start_new_session=True)
    try:
        spec = {"model": "linear", "dims": [[1, 2], "1..3", 2], "flow": ["gradient", "nesterov"]}
        (tmp_path / "grid.yaml").write_text(json.dumps(spec))  # JSON is YAML
        out = subprocess.run([sys.executable, "-m", "conservation_laws.interfaces.sweep", "grid.yaml", "--scheduler", address,
                              "--json", "--no-progress"], cwd=tmp_path, capture_output=True, text=True, timeout=90)
        assert out.returncode == 0, out.stderr
        results = [json.loads(line) for line in out.stdout.splitlines()]
        assert len(results) == 12 == len(expand_spec(spec))
        workers = {r["worker"] for r in results}
        assert len(workers) == 1 and workers.pop().startswith("tcp://127.0.0.1:")
        for r in results:
            res = direct(r["case"])
            assert r["status"] == "ok" and (r["laws"], r["rank"]) == (res.laws, res.rank)
        assert (tmp_path / "grid.results.jsonl").read_text().count("\n") == 12
    finally:
        for proc in (worker, sched):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (worker, sched):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


def test_annotated_heatmap_draws_a_landscape():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from companion import plotting

    fig, ax = plotting.figure()
    vals = np.array([[1.0, -2.0, np.nan], [0.0, 3.0, 4.0]])
    im = plotting.annotated_heatmap(ax, vals, x=[1, 2, 3], y=[3, 4], xlabel="r", ylabel="k", cmap="PuOr",
                                    center=0, fmt="{:.0f}", colorbar="difference")
    assert im.norm.vmin == -4 and im.norm.vmax == 4
    assert sorted(t.get_text() for t in ax.texts) == ["-2", "0", "1", "3", "4"]
    with pytest.raises(ValueError, match="shape"):
        plotting.annotated_heatmap(ax, vals, x=[1, 2], y=[3, 4])
    plt.close(fig)
