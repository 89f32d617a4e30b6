"""The command line, run as a user runs it (subprocesses): exit codes, one-line errors, JSON, batches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conservation_laws.interfaces import cli

SCRIPT = Path(sys.executable).with_name("conservation-laws")
COMMAND = [sys.executable, "-m", "conservation_laws.interfaces.cli"]
REQUIRED_KEYS = {"model", "dims", "flow", "tau", "bias", "geometry", "dimension", "rank", "laws", "seconds", "depth",
                 "prime", "failure_bound", "certificate", "certificate_how"}


def run(*args, stdin=None, cwd=None):
    return subprocess.run(COMMAND + [str(a) for a in args], capture_output=True, text=True, input=stdin, cwd=cwd,
                          timeout=120)


def test_console_script_installed():
    if not SCRIPT.exists():
        pytest.skip("console script not installed (pip install -e .)")
    out = subprocess.run([str(SCRIPT), "count", "--model", "product", "--dims", "3", "--json"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["laws"] == 2


def test_count_json():
    out = run("count", "--model", "linear", "--dims", "2,2,2", "--flow", "momentum", "--tau", "1", "--json")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert REQUIRED_KEYS <= set(rec)
    assert rec["laws"] == 1 and rec["dimension"] == 17 and rec["rank"] == 16
    assert rec["model"] == "linear" and rec["dims"] == [2, 2, 2] and rec["flow"] == "momentum" and rec["tau"] == 1
    assert rec["geometry"] == "euclidean" and rec["bias"] is False
    assert 0 < rec["failure_bound"] <= 1e-9 and rec["certificate"] == "probabilistic"


def test_count_default_geometries(capsys):
    for model, geometry, laws in (("nmf", "mirror", 3), ("icnn", "mixed", 3), ("linear", "euclidean", 6)):
        assert cli.main(["count", "--model", model, "--dims", "3,3,3", "--json"]) == 0
        rec = json.loads(capsys.readouterr().out)
        assert rec["geometry"] == geometry and rec["laws"] == laws


def test_count_readable():
    out = run("count", "--model", "relu", "--dims", "2,3,3,1", "--bias")
    assert out.returncode == 0
    assert "6 independent conservation laws" in out.stdout
    assert "certificate: probabilistic" in out.stdout and "proved bound" in out.stdout


def test_count_user_model_and_repeats():
    out = run("count", "--phi", "u1*v1 + u2*v2", "--phi", "u1*v2", "--repeats", "2", "--json")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["model"] == "polynomial" and rec["variables"] == ["u1", "v1", "u2", "v2"]
    assert rec["laws"] == 1 and rec["repeats"] == 2


# the bad inputs the issue names: each one through a real process
BAD = [
    ("count", "--model", "linear", "--dims", "2,0,2"),
    ("count", "--model", "linear", "--dims", "2,a,2"),
    ("count", "--model", "transformer", "--dims", "2,2,2"),
    ("count", "--model", "linear", "--dims", "2,2,2", "--flow", "momentum", "--tau=-1"),
    ("count", "--phi", "sin(x)"),
    ("count", "--phi", '__import__("os")'),
    ("count", "--model", "linear", "--dims", "1,40000,1"),  # refused up front by the memory estimate
    ("count", "--model", "linear"),
]
# more, in process (same code path, one process for all)
MORE_BAD = [
    ("count", "--model", "linear", "--dims", "2.5,2"),
    ("count", "--model", "linear", "--dims", "2,2,2", "--tau", "fast"),
    ("count", "--model", "linear", "--dims", "2,2,2", "--tau", "nan"),
    ("count", "--phi", "x/y"),
    ("count", "--phi", "x**y"),
    ("count", "--phi", ""),
    ("count", "--model", "relu", "--dims", "10,10,10,10,10"),
    ("count",),
    ("count", "--model", "linear", "--dims", "2,2,2", "--bias"),
    ("count", "--model", "linear", "--dims", "2,2,2", "--geometry", "mixed"),
    ("count", "--model", "linear", "--dims", "2,2,2", "--geometry", "hyperbolic"),
    ("count", "--model", "linear", "--dims", "2,2,2", "--repeats", "0"),
    ("count", "--model", "linear", "--dims", "2,2,2", "--seed", "x"),
    ("count", "--model", "linear", "--dims", "2,2,2", "--phi", "x"),
    ("count", "--batch", "/nonexistent/cases.jsonl"),
    ("laws", "--model", "linear", "--dims", "10,10,10", "--degree", "6"),
    ("laws", "--model", "linear", "--dims", "2,2,2", "--degree", "0"),
    ("laws", "--model", "linear", "--dims", "2,2,2", "--flow", "momentum", "--time-degree", "-1"),
    ("frobnicate",),
    (),
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_input_exits_2_with_one_line(args):
    out = run(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "error" in lines[0] and "Traceback" not in out.stderr
    assert out.stdout == ""


@pytest.mark.parametrize("args", MORE_BAD, ids=[" ".join(a) or "(nothing)" for a in MORE_BAD])
def test_more_bad_input_in_process(args, capsys):
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out = capsys.readouterr()
    assert code == 2, (out.out, out.err)
    assert out.err.count("\n") == 1 and out.err.startswith("conservation-laws") and "error" in out.err
    assert out.out == ""


def test_batch_with_bad_lines_in_the_middle(tmp_path):
    lines = [
        {"model": "linear", "dims": [2, 2, 2], "flow": "gradient", "id": "first"},
        "this is not json",
        {"model": "linear", "dims": [2, 2, 2], "flow": "momentum", "tau": 1},
        {"model": "transformer", "dims": [2, 2, 2], "flow": "gradient"},
        "",
        {"model": "linear", "dims": [2, 0, 2], "flow": "gradient"},
        {"model": "linear", "dims": [2, 2, 2], "flow": "momentum", "tau": -1},
        {"model": "linear", "dims": [2, 2, 2], "flow": "gradient", "colour": "red"},
        [1, 2, 3],
        {"model": "icnn", "dims": [2, 3, 3], "flow": "gradient", "bias": True, "geometry": "mixed", "seed": 4},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    out = run("count", "--batch", path, "--json")
    assert out.returncode == 1
    recs = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["line"] for r in recs] == [1, 2, 3, 4, 6, 7, 8, 9, 10]  # the blank line 5 is skipped
    assert [r.get("laws") for r in recs] == [3, None, 1, None, None, None, None, None, 3]
    assert recs[0]["id"] == "first"
    for r in recs:
        assert ("error" in r) == ("laws" not in r)
    for n in (2, 4, 6, 7, 8, 9):
        assert f"line {n}:" in out.stderr
    assert "Traceback" not in out.stderr
    assert "6 of 9" in out.stderr


def test_batch_of_200_with_progress_bar(tmp_path):
    cases = []
    for i in range(200):
        model = ["linear", "relu", "nmf", "icnn", "product"][i % 5]
        dims = [i % 3 + 1] if model == "product" else [i % 2 + 1, i % 3 + 1, 2]
        flow = ["gradient", "momentum", "nesterov"][i % 3]
        tau = [0, 0.5, 1, 2][i % 4] if flow == "momentum" else 0  # τ belongs to heavy-ball momentum only
        cases.append({"id": i, "model": model, "dims": dims, "flow": flow, "tau": tau})
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    out = run("count", "--batch", path, "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    recs = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["id"] for r in recs] == list(range(200))
    assert all("laws" in r for r in recs)
    assert "200/200" in out.stderr  # tqdm's progress bar
    quiet = run("count", "--batch", path, "--json", "--no-progress")
    assert "200/200" not in quiet.stderr
    assert [json.loads(x)["laws"] for x in quiet.stdout.splitlines()] == [r["laws"] for r in recs]


def test_batch_from_stdin_matches_single_counts():
    case = {"model": "linear", "dims": [1, 7, 2], "flow": "momentum", "tau": 0.5}
    out = run("count", "--batch", "-", "--json", "--no-progress", stdin=json.dumps(case) + "\n")
    assert out.returncode == 0
    assert json.loads(out.stdout)["laws"] == 21


def test_laws_readable():
    out = run("laws", "--model", "linear", "--dims", "2,2,2", "--flow", "momentum", "--tau", "1", "--degree", "2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("complete: 1 independent")
    law_lines = [x for x in lines if x.strip().startswith("h")]
    assert len(law_lines) == 1 and "exp(t)" in law_lines[0] and "U'[0,0]" in law_lines[0]


def test_laws_latex_and_user_model():
    out = run("laws", "--phi", "u1*v1 + u2*v2", "--phi", "u1*v2", "--latex")
    assert out.returncode == 0
    assert "u_{1}^{2}" in out.stdout or "u_1^{2}" in out.stdout or "u_{1}" in out.stdout
    assert "complete" in out.stdout


def test_laws_json():
    out = run("laws", "--model", "nmf", "--dims", "2,2,2", "--degree", "1", "--json")
    rec = json.loads(out.stdout)
    assert rec["complete"] and rec["independent"] == 2 and len(rec["laws"]) == 2
    assert rec["geometry"] == "mirror"


# --- in process: the case validation and the size estimate ---------------------------------------------
def test_make_case_normalises():
    case = cli.make_case(model="linear", dims="2,3,2", flow="momentum", tau="1/2").as_dict()
    assert case["dims"] == [2, 3, 2] and case["tau"] == cli.Fraction(1, 2)


@pytest.mark.parametrize("kwargs", [dict(model="linear", dims=[2, 2, 2], bias="yes"),
                                    dict(model="linear", dims=[2, 2, 2], seed=-3),
                                    dict(model="linear", dims=[2, 2, 2], tau=True),
                                    dict(model="linear", dims=[2, 2, 2], geometry="hyperbolic"),
                                    dict(model="linear", dims=[2, 2, 2], phi=["x"]),
                                    dict(phi=[]), dict(phi="x", bias=True), dict(model="polynomial")])
def test_make_case_rejects(kwargs):
    with pytest.raises(cli.ConservationLawsError):
        cli.make_case(**kwargs)


def test_phi_size_matches_models():
    from conservation_laws.models import make_model

    for model, dims, bias in [("linear", [2, 3, 4], False), ("linear", [2, 3, 2, 3], False), ("relu", [2, 3, 2, 1], True),
                              ("relu", [2, 2, 2], False), ("icnn", [2, 3, 2], True), ("nmf", [2, 3, 4], False),
                              ("product", [4], False)]:
        polys = make_model(model, dims, bias=bias).phi_polynomials()
        assert cli.phi_size(model, dims, bias) == (len(polys), sum(len(p) for p in polys))


def test_main_in_process(capsys):
    assert cli.main(["count", "--model", "product", "--dims", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["laws"] == 3
    assert cli.main(["count", "--model", "linear", "--dims", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dims" in err


def test_count_certificate_field(capsys):
    assert cli.main(["count", "--model", "relu", "--dims", "2,3,3,1", "--bias", "--flow", "momentum", "--tau", "1",
                     "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["laws"] == 0 and rec["certificate"] == "proved" and rec["failure_bound"] == 0
    assert cli.main(["count", "--model", "relu", "--dims", "2,3,3,1", "--bias", "--flow", "momentum", "--tau", "1"]) == 0
    assert "certificate: proved (full rank" in capsys.readouterr().out


@pytest.mark.parametrize("flow", ["gradient", "nesterov"])
def test_tau_without_friction_is_an_error(flow, capsys):
    assert cli.main(["count", "--model", "linear", "--dims", "2,2,2", "--flow", flow, "--tau", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tau" in err and "friction" in err
    assert cli.main(["count", "--model", "linear", "--dims", "2,2,2", "--flow", flow, "--tau", "1e400"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_deep_nesting_is_one_line(capsys):
    deep = "(" * 5000 + "x" + ")" * 5000
    assert cli.main(["count", "--phi", deep]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nests deeper" in err and "Traceback" not in err


def test_count_prove_turns_a_probabilistic_count_into_a_proof(capsys):
    """--prove exhibits the six laws of the linear net (2, 3, 2) (entries of UᵀU − VᵀV)."""
    assert cli.main(["count", "--model", "linear", "--dims", "2,3,2", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["certificate"] == "probabilistic" and 0 < plain["failure_bound"] <= 1e-9
    assert cli.main(["count", "--model", "linear", "--dims", "2,3,2", "--json", "--prove"]) == 0
    proved = json.loads(capsys.readouterr().out)
    assert (proved["laws"], proved["certificate"], proved["failure_bound"]) == (6, "proved", 0.0)
    assert proved["certificate_how"].startswith("laws exhibited: 6 independent")


def test_batch_prove_applies_to_every_line(tmp_path, capsys):
    batch = tmp_path / "cases.jsonl"
    batch.write_text('{"model": "linear", "dims": [2, 3, 2], "flow": "gradient"}\n'
                     '{"model": "relu", "dims": [2, 2, 1], "flow": "gradient"}\n')
    assert cli.main(["count", "--batch", str(batch), "--json", "--prove", "--no-progress"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["certificate"] for r in records] == ["proved", "proved"]


def test_the_command_line_keeps_freed_memory_on_glibc():
    import platform

    from conservation_laws.interfaces import cli

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert cli.keep_freed_memory()
