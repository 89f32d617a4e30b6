"""Issue 23, each reproduction first: no input gives a traceback, every error is one line, and a
sweep never answers from a stale result.

In process through ``cli.main`` (argparse's and every other error path included) where the
behaviour is the library's; in a subprocess where it is the interpreter's (full, closed or broken
output streams, a scheduler that does not answer).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conservation_laws.interfaces import cli
from conservation_laws.interfaces.sweep import ResultStore, case_key, expand_spec
from conservation_laws.interfaces.sweep.spec import load_spec

COMMAND = [sys.executable, "-m", "conservation_laws.interfaces.cli"]
LINEAR = ["--model", "linear", "--dims", "2,2,2"]


def run_cli(argv):
    """(exit code, stdout, stderr) of ``cli.main(argv)`` in process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # pragma: no cover - main never lets it out
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def one_line_error(err: str, command: str | None = None) -> str:
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert err.count("\n") == 1, err
    prefix = f"conservation-laws {command}: error: " if command else "conservation-laws"
    assert err.startswith(prefix), err
    return err


def bad(argv, command="count", *needles):
    code, out, err = run_cli(argv)
    assert code == 2, (argv, code, out, err)
    one_line_error(err, command)
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def run_process(args, **kwargs):
    return subprocess.run(COMMAND + [str(a) for a in args], capture_output=True, text=True, timeout=120, **kwargs)


# --- 1. a sum of 600 products (--phi, a model file, a batch line) --------------------------------
PRODUCTS = "+".join(f"a{i}*b{i}" for i in range(600))


def _a_count_or_one_line(code, out, err, command="count"):
    assert "Traceback" not in err and "RecursionError: maximum" not in err + out
    if code == 0:
        assert json.loads(out)["laws"] >= 0
    else:
        assert code == 2, (code, err)
        one_line_error(err, command)


def test_600_products_through_phi():
    _a_count_or_one_line(*run_cli(["count", "--phi", PRODUCTS, "--json"]))


def test_600_products_through_a_model_file(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("blocks:\n  A: [600]\n  B: [600]\nphi:\n  - entry: 'A[i]*B[i]'\n    sum: {i: 600}\n")
    _a_count_or_one_line(*run_cli(["count", "--spec", f, "--json"]))


def test_600_products_in_a_batch_line_is_a_line_error_or_a_count(tmp_path):
    f = tmp_path / "cases.jsonl"
    f.write_text(json.dumps({"phi": [PRODUCTS], "id": "big"}) + "\n")
    code, out, err = run_cli(["count", "--batch", f, "--json", "--no-progress"])
    assert code in (0, 1) and "Traceback" not in err
    [rec] = [json.loads(x) for x in out.splitlines()]
    assert rec["id"] == "big"
    if "error" in rec:
        assert "RecursionError: maximum" not in rec["error"]


def test_recursion_and_memory_errors_are_one_line(monkeypatch):
    for exc in (RecursionError("maximum recursion depth exceeded"), MemoryError()):
        def boom(*a, **k):
            raise exc
        monkeypatch.setattr(cli, "count_case", boom)
        err = bad(["count", *LINEAR], "count")
        assert "maximum recursion" not in err


def test_an_unexpected_exception_is_one_line_not_a_traceback(monkeypatch):
    monkeypatch.setattr(cli, "count_case", lambda *a, **k: {}["missing"])
    code, out, err = run_cli(["count", *LINEAR, "--json"])
    assert code == 1 and "internal error" in err and json.loads(out)["exit_code"] == 1
    one_line_error(err, "count")


# --- 2. a sweep over a model file that changed --------------------------------------------------
G2 = "blocks:\n  U: [{n}, 2]\n  V: [2, 2]\nphi:\n  - entry: 'U[i,k]*V[k,j]'\n    for: {{i: {n}, j: 2}}\n    sum: {{k: 2}}\n"


def test_sweep_key_follows_the_model_file_content(tmp_path):
    model = tmp_path / "g2.yaml"
    model.write_text(G2.format(n=2))
    spec = tmp_path / "grid.yaml"
    spec.write_text("model_file: g2.yaml\n")
    before = expand_spec(load_spec(spec))
    model.write_text(G2.format(n=1))
    after = expand_spec(load_spec(spec))
    assert case_key(before[0]) != case_key(after[0])
    assert before[0]["model_file_sha256"] != after[0]["model_file_sha256"]
    # and the key changes with the version and the certificate policy
    assert case_key(after[0], "0.0.0-other") != case_key(after[0])


def test_sweep_recounts_after_the_model_file_changes(tmp_path, inline):
    """The issue's reproduction end to end: a stored result is not reused for an edited model file."""
    from conservation_laws.engine import lie
    from conservation_laws.models.model_file import load_model_file as load_model
    from conservation_laws.interfaces.sweep import run_sweep

    model = tmp_path / "g2.yaml"
    spec = tmp_path / "grid.yaml"
    spec.write_text("model_file: g2.yaml\n")
    store = tmp_path / "grid.results.jsonl"
    counts = []
    for text in (G2.format(n=2), "blocks:\n  U: [2, 2]\n  V: [2, 2]\nphi:\n  - 'U[0,0]*V[0,0]'\n"):
        model.write_text(text)
        expected = lie.count_laws(load_model(model), "gradient").laws  # independent of the sweep
        [rec] = run_sweep(load_spec(spec), store, client=inline, progress=False)
        assert rec["status"] == "ok" and rec["laws"] == expected and not rec["reused"]
        counts.append(rec["laws"])
    assert counts[0] != counts[1]
    [again] = run_sweep(load_spec(spec), store, client=inline, progress=False)
    assert again["reused"] and again["laws"] == counts[1]


class _Future:
    def __init__(self, value):
        self.value, self.status, self.key = value, "finished", id(self)

    def result(self):
        return self.value

    def cancel(self):
        pass


@pytest.fixture
def inline(monkeypatch):
    """A client computing in this process (the cluster itself is tested in test_sweep.py)."""
    from conservation_laws.interfaces.sweep import runner

    monkeypatch.setattr(runner, "_wait_first", lambda client, futures, timeout: list(futures))
    return _InlineClient()


class _InlineClient:
    """The part of a distributed.Client that run_sweep uses, computing in this process."""

    def nthreads(self):
        return {"inline": 1}

    def submit(self, fn, *args, pure=False):
        return _Future(fn(*args))

    @contextlib.contextmanager
    def as_current(self):
        yield self


# --- 9. a relative model_file is read from the spec's folder; errors name model_file -------------
def test_relative_model_file_is_read_from_the_spec_folder(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "models" / "gated.yaml").write_text(G2.format(n=2))
    spec = tmp_path / "specs" / "grid.yaml"
    spec.write_text("model_file: ../models/gated.yaml\n")
    monkeypatch.chdir(tmp_path / "models")  # elsewhere: the working directory must not matter
    [case] = expand_spec(load_spec(spec))
    assert Path(case["spec"]) == (tmp_path / "models" / "gated.yaml").resolve()
    spec.write_text("model_file: ../models/missing.yaml\n")
    err = bad(["sweep", spec, "--dry-run"], "sweep", "model_file")
    assert "spec=" not in err


# --- 3, 4. stores that are not regular files ------------------------------------------------------
@pytest.fixture
def grid(tmp_path):
    spec = tmp_path / "grid.yaml"
    spec.write_text("model: linear\ndims: [1, 1, 1]\n")
    return spec


@pytest.mark.parametrize("store", ["/dev/full", "/dev/zero", "/proc/version", "DIR"])
@pytest.mark.parametrize("dry", [True, False])
def test_store_must_be_a_regular_file(grid, tmp_path, store, dry):
    if store == "DIR":
        store = tmp_path / "adir"
        store.mkdir()
    if not os.path.exists(store):
        pytest.skip(f"{store} does not exist here")
    err = bad(["sweep", grid, "--store", store, "--no-progress"] + (["--dry-run"] if dry else []), "sweep", "store")
    assert "regular file" in err or "readable" in err


def test_store_in_a_missing_or_file_parent_is_refused_and_nothing_is_created(grid, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    bad(["sweep", grid, "--store", blocker / "s.jsonl", "--no-progress"], "sweep", "store")
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_unwritable_store_is_refused(grid, tmp_path):
    store = tmp_path / "ro.jsonl"
    store.write_text("")
    store.chmod(0o444)
    bad(["sweep", grid, "--store", store, "--no-progress"], "sweep", "store")


def test_store_reads_line_by_line_and_skips_corrupt_and_overlong_lines(tmp_path):
    from conservation_laws.interfaces.sweep import store as store_module

    good = {"key": "k1", "status": "ok", "case": {"model": "linear"}, "laws": 1}
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"not json\n" + b"x" * (store_module.MAX_LINE * 3) + b"\n" + json.dumps(good).encode()
                     + b"\n" + b'{"key": 3}\n[1]\n' + b'{"key": "cut')
    rs = ResultStore(path)
    assert rs.load() == {"k1": good}
    assert rs.skipped_lines == 4 and rs.truncated_tail == len(b'{"key": "cut')


def test_skipped_store_lines_are_reported(grid, tmp_path):
    store = tmp_path / "s.jsonl"
    store.write_text("garbage\nmore garbage\n")
    code, _, err = run_cli(["sweep", grid, "--store", store, "--dry-run"])
    assert code == 0 and "2 corrupt line(s) skipped" in err


# --- 5. a scheduler that does not exist or does not answer ---------------------------------------
def test_scheduler_nonsense_fails_fast_and_creates_nothing(grid, tmp_path):
    store = tmp_path / "s.jsonl"
    bad(["sweep", grid, "--store", store, "--scheduler", "nonsense", "--no-progress"], "sweep", "scheduler")
    assert not store.exists()


def test_a_silent_port_is_refused_within_the_scheduler_timeout(grid, tmp_path):
    import socket

    with socket.socket() as srv:  # accepts connections, never answers (no Dask there)
        srv.bind(("127.0.0.1", 0))
        srv.listen(5)
        port = srv.getsockname()[1]
        out = run_process(["sweep", grid, "--store", tmp_path / "s.jsonl", "--no-progress",
                           "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "1"])
    assert out.returncode == 2, out.stderr
    one_line_error(out.stderr, "sweep")
    assert "scheduler" in out.stderr
    assert not (tmp_path / "s.jsonl").exists()  # nothing created for a scheduler that is not there


# --- 6. numbers: NaN, infinities, huge, negative, for every numeric option ----------------------
NUMERIC = {
    "count": {"--tau": ["nan", "inf", "-inf", "1e308", "1e999999999", "-1", "1e-300"],
              "--weight-decay": ["nan", "inf", "1e400", "-0.5", "1/0"],
              "--seed": ["nan", "-1", "1e3", str(2**64), "1.5"],
              "--repeats": ["0", "-1", "nan", "101", str(10**30)],
              "--max-depth": ["0", "65", "nan", "-3"],
              "--prime": ["1", "nan", str(2**40), "-7"]},
    "laws": {"--degree": ["0", "-1", "nan", "13", str(10**30)],
             "--time-degree": ["-1", "nan", "13", "inf"]},
    "sweep": {"--case-timeout": ["nan", "inf", "-inf", "0", "-1", "1e308"],
              "--scheduler-timeout": ["nan", "inf", "0", "-2"],
              "--workers": ["0", "-1", "nan", "1e9", "100000"],
              "--case-memory": ["lots", "nan", "-1GB", "0", "1e30GB"]},
}
NUMERIC_CASES = [(c, o, v) for c, opts in NUMERIC.items() for o, vs in opts.items() for v in vs]


@pytest.mark.parametrize("command,option,value", NUMERIC_CASES, ids=[" ".join(x) for x in NUMERIC_CASES])
def test_bad_numbers_are_refused_in_one_line(command, option, value, grid, tmp_path):
    store = tmp_path / "s.jsonl"
    if command == "sweep":
        argv = ["sweep", grid, "--store", store, "--no-progress", f"{option}={value}"]
    else:
        flow = ["--flow", "momentum"] if option in ("--tau", "--time-degree") else []
        argv = [command, *LINEAR, *flow, f"{option}={value}"]
    err = bad(argv, command, option.lstrip("-").replace("-", "_").split("_")[0])
    assert len(err) < 400
    assert not store.exists()  # refusing an option creates nothing


def test_huge_tau_is_not_printed_as_a_309_digit_integer():
    err = bad(["count", *LINEAR, "--flow", "momentum", "--tau", "1e308"], "count", "tau")
    assert "0" * 50 not in err


# --- 7. case flags beside --batch are refused ----------------------------------------------------
@pytest.mark.parametrize("flags", [["--flow", "momentum"], ["--tau", "1"], ["--weight-decay", "1"], ["--seed", "3"],
                                   ["--repeats", "2"], ["--bias"], ["--geometry", "euclidean"],
                                   ["--option", "heads=2"]])
def test_batch_refuses_case_flags(flags, tmp_path):
    f = tmp_path / "cases.jsonl"
    f.write_text(json.dumps({"model": "linear", "dims": [1, 1, 1]}) + "\n")
    bad(["count", "--batch", f, *flags], "count", flags[0])


def test_empty_batch_is_an_error(tmp_path):
    f = tmp_path / "cases.jsonl"
    f.write_text("\n# only a comment\n\n")
    bad(["count", "--batch", f], "count", "no case")


def test_batch_labels_in_text_mode_and_in_error_objects(tmp_path):
    f = tmp_path / "cases.jsonl"
    f.write_text(json.dumps({"model": "linear", "dims": [1, 1, 1], "id": "good"}) + "\n"
                 + json.dumps({"model": "linear", "dims": [1, 0, 1], "id": "broken"}) + "\n")
    code, out, err = run_cli(["count", "--batch", f, "--no-progress"])
    assert code == 1 and 'line 1 (id "good"):' in out and 'line 2 (id "broken"): error:' in out
    assert 'line 2 (id "broken")' in err
    code, out, _ = run_cli(["count", "--batch", f, "--no-progress", "--json"])
    assert json.loads(out.splitlines()[1]) == {"line": 2, "id": "broken", "error": json.loads(
        out.splitlines()[1])["error"]} and "dims" in json.loads(out.splitlines()[1])["error"]


def test_batch_model_error_lists_real_models_only(tmp_path):
    f = tmp_path / "cases.jsonl"
    f.write_text(json.dumps({"model": "nope", "dims": [1, 1]}) + "\n")
    _, out, _ = run_cli(["count", "--batch", f, "--no-progress", "--json"])
    error = json.loads(out)["error"]
    assert "linear" in error and "polynomial," not in error and "spec," not in error


# --- 8. output streams: full, closed, broken pipe ------------------------------------------------
def test_full_output_is_one_line():
    with open("/dev/full", "w") as full:
        out = subprocess.run(COMMAND + ["count", *LINEAR], stdout=full, stderr=subprocess.PIPE, text=True,
                             timeout=120)
    assert out.returncode == 2
    one_line_error(out.stderr, "count")
    assert "No space left" in out.stderr


@pytest.mark.parametrize("args", [["count", *LINEAR], ["laws", *LINEAR, "--all"], ["count", "--model", "nope"]])
def test_broken_pipe_and_closed_stdout_are_quiet(args):
    r, w = os.pipe()
    os.close(r)  # the reader is gone before anything is written
    try:
        out = subprocess.run(COMMAND + args, stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr
    assert out.returncode in (0, 2)
    closed = subprocess.run(COMMAND + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            timeout=120, preexec_fn=lambda: os.close(1))
    assert "Traceback" not in closed.stderr and "Exception ignored" not in closed.stderr, closed.stderr
    assert closed.returncode in (0, 2)


def test_head_c_1_is_quiet():
    out = subprocess.run(" ".join(COMMAND + ["laws", *LINEAR, "--all"]) + " | head -c 1", shell=True,
                         capture_output=True, text=True, timeout=120)
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr


# --- 10. an unknown metric is named as a metric ----------------------------------------------------
def test_unknown_metric_is_named_as_a_metric(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("blocks:\n  A: [2]\nphi:\n  - 'A[0]*A[1]'\nmetric:\n  A: hyperbolic\n")
    err = bad(["count", "--spec", f], "count", "metric.A", "unknown metric 'hyperbolic'")
    assert "unknown block" not in err


# --- the smaller ones ------------------------------------------------------------------------------
def test_time_degree_under_gradient_flow_is_refused():
    bad(["laws", *LINEAR, "--time-degree", "3"], "laws", "--time-degree", "gradient")


@pytest.mark.parametrize("dims", ["2,2,2,", ",2,2", "2,,2", ""])
def test_dims_with_empty_entries_are_refused(dims):
    err = bad(["count", "--model", "linear", "--dims", dims], "count", "dims")
    assert "at least 1 widths" not in err


def test_one_law_is_singular():
    code, out, _ = run_cli(["laws", "--model", "linear", "--dims", "2,2,2", "--flow", "momentum", "--tau", "1"])
    assert code == 0 and "1 independent law " in out and "1 independent laws" not in out


def test_weight_decay_geometry_error_speaks_the_command_line():
    err = bad(["count", "--model", "nmf", "--dims", "2,2,2", "--flow", "momentum", "--tau", "1",
               "--weight-decay", "1"], "count", "--geometry euclidean")
    assert "pass geometry=" not in err


def test_phi_index_error_points_at_the_index():
    bad(["count", "--phi", "U[0,a]"], "count", "index 'a' at position 4")


def test_sweep_store_writes_tau_as_batch_json_does(tmp_path, inline):
    from conservation_laws.interfaces.sweep import run_sweep

    spec = {"model": "linear", "dims": [1, 2, 1], "flow": "momentum", "tau": ["1/2", "1/3"]}
    recs = run_sweep(spec, tmp_path / "s.jsonl", client=inline, progress=False)
    f = tmp_path / "cases.jsonl"
    f.write_text("".join(json.dumps({"model": "linear", "dims": [1, 2, 1], "flow": "momentum", "tau": t}) + "\n"
                         for t in ("1/2", "1/3")))
    _, out, _ = run_cli(["count", "--batch", f, "--json", "--no-progress"])
    assert [r["case"]["tau"] for r in recs] == [json.loads(x)["tau"] for x in out.splitlines()] == [0.5, "1/3"]


def test_error_prefix_is_the_command_and_json_errors_go_to_stdout(grid):
    for argv, command in ((["count", "--model", "linear", "--dims", "0", "--json"], "count"),
                          (["laws", "--model", "linear", "--dims", "2,2,2", "--degree", "0", "--json"], "laws"),
                          (["sweep", str(grid) + ".missing", "--json"], "sweep"),
                          (["count", "--bogus", "--json"], "count")):
        code, out, err = run_cli(argv)
        assert code == 2
        one_line_error(err, command)
        rec = json.loads(out)
        assert rec["command"] == command and rec["exit_code"] == 2 and rec["error"] in err


def test_sweep_spec_yaml_error_is_one_line(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("model: linear\ndims: [1, 2\nflow: [gradient\n")
    bad(["sweep", spec, "--dry-run"], "sweep", "spec", "not valid YAML at line")


def test_python_m_sweep_uses_the_same_error_path(tmp_path):
    out = subprocess.run([sys.executable, "-m", "conservation_laws.interfaces.sweep", str(tmp_path / "none.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    one_line_error(out.stderr, "sweep")


def test_max_depth_reaches_upper_bound_only():
    code, out, _ = run_cli(["count", *LINEAR, "--max-depth", "1", "--json"])
    rec = json.loads(out)
    assert code == 0 and rec["certificate"] == "upper bound only" and rec["failure_bound"] == 1.0
    code, out, _ = run_cli(["count", *LINEAR, "--json"])
    assert rec["laws"] >= json.loads(out)["laws"]  # an upper bound of the full count


def test_laws_json_says_whose_certificate_it_is():
    code, out, _ = run_cli(["laws", *LINEAR, "--degree", "1", "--json"])
    rec = json.loads(out)
    assert code == 0 and "count" in rec["certificate_of"] and "complete" in rec


def test_help_texts():
    helps = {}
    for command in ("count", "laws", "sweep"):
        code, out, _ = run_cli([command, "--help"])
        assert code == 0
        helps[command] = " ".join(out.split())
    assert "--spec" in helps["count"].split("the model (")[1][:80]
    assert "Model options:" in helps["laws"] and "Model options:" in helps["count"]
    assert "heads" in helps["laws"]
    assert "one block per case" in helps["count"] and "--max-depth" in helps["count"] and "--prime" in helps["count"]
    for key in ("options", "weight_decay", "model_file", "grids"):
        assert key in helps["sweep"], key
    assert "--scheduler-timeout" in helps["sweep"]


def test_softmax_is_not_listed_as_taking_options():
    from conservation_laws.models import MODEL_OPTIONS

    takes = cli._models_with_options()
    assert takes == [m for m, o in MODEL_OPTIONS.items() if o]
    if not MODEL_OPTIONS.get("softmax"):
        assert "softmax" not in takes


@pytest.mark.parametrize("dims", ["1", "1,2"])
def test_icnn_with_too_few_widths_is_one_line(dims):
    """Found by the fuzz tests: the size estimate indexed a third width that was not there."""
    bad(["count", "--model", "icnn", "--dims", dims], "count", "3 widths")


def test_huge_model_options_are_refused_before_the_model_is_built():
    """heads=10^14 used to build the model first (memory grows without end)."""
    bad(["count", "--model", "attention", "--dims", "2", "--option", "heads=99999999999999"], "count",
        "options.heads")


def test_huge_sweep_ranges_are_refused_before_expansion(tmp_path):
    spec = tmp_path / "grid.yaml"
    spec.write_text("model: linear\ndims: [1..100000000, 1, 1]\n")
    bad(["sweep", spec, "--dry-run"], "sweep", "dims", "at most 100000")
    spec.write_text("model: linear\ndims: [1..400, 1..400, 1]\n")
    bad(["sweep", spec, "--dry-run"], "sweep", "100000 cases")


def test_interrupt_is_one_line_and_exit_130(monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "count_case", interrupted)
    code, out, err = run_cli(["count", *LINEAR])
    assert code == 130 and err == "conservation-laws count: interrupted\n" and out == ""


def test_batch_from_a_closed_stdin_is_one_line():
    out = subprocess.run(COMMAND + ["count", "--batch", "-"], stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=120, preexec_fn=lambda: os.close(0))
    assert out.returncode == 2
    one_line_error(out.stderr, "count")


def test_sweep_dry_run_to_a_full_stdout(grid, tmp_path):
    with open("/dev/full", "w") as full:
        out = subprocess.run(COMMAND + ["sweep", str(grid), "--dry-run", "--store", str(tmp_path / "s.jsonl")],
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr
    # the dry run's tally line (stderr), then the one error line
    assert out.stderr.splitlines()[-1].startswith("conservation-laws sweep: error: cannot write the output")


@pytest.mark.parametrize("text,needle", [
    ("compose:\n  - {model: attention, dims: [2], options: {heads: 99999999}}\n", "compose[0].options"),
    ("blocks: {A: [100, 100, 100, 100]}\nphi: ['A[0,0,0,0]']\n", "blocks"),
    ("blocks: {A: [2]}\nphi:\n  - entry: 'A[0]*A[1]'\n    sum: {i: 1000000000}\n", "phi[0].sum"),
])
def test_model_file_sizes_are_bounded_before_anything_is_enumerated(text, needle, tmp_path):
    """Each of these used to build (or enumerate) without end."""
    f = tmp_path / "m.yaml"
    f.write_text(text)
    bad(["count", "--spec", f], "count", "model file", needle)
