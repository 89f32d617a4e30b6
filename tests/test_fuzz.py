"""Property-based fuzzing of the command line (hypothesis), in-process through ``cli.main``.

Whatever the input (random text or near-valid polynomials for --phi, random widths, τ, flows and
batch lines) the command ends with exit code 0, 1 (a batch with failed lines) or 2 (bad input),
bad input gives one line on stderr, and nothing ever prints a traceback. The examples are few and
small (no deadline, bounded ``max_examples``) so that the file runs in ``make test``.
"""

from __future__ import annotations

import contextlib
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conservation_laws.interfaces import cli

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

NAMES = st.sampled_from(["x", "y", "u1", "v2", "U[0,1]", "w_3"])
NUMBERS = st.sampled_from(["0", "1", "2", "0.5", "7", "12", "0.0"])
EXPONENTS = st.sampled_from([0, 1, 2, 3, 13])
JUNK = st.sampled_from(["", "(", ")", "^", "**", "*", "/", "+", "x", "sin(", "[", "]", ",", ".", "1e5", "@", "'",
                        "\\", "é", "\x00", " ", "--", "((", "))"])


def _extend(children):
    return st.one_of(
        st.tuples(children, st.sampled_from([" + ", " - ", "*", "/", " * "]), children).map("".join),
        children.map(lambda c: f"({c})"),
        st.tuples(children, EXPONENTS).map(lambda t: f"({t[0]})^{t[1]}"),
        children.map(lambda c: f"-{c}"),
    )


POLYNOMIALS = st.recursive(st.one_of(NAMES, NUMBERS), _extend, max_leaves=8)
NEAR_VALID = st.tuples(POLYNOMIALS, st.integers(0, 80), JUNK).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1]:])
RANDOM_TEXT = st.text(alphabet=st.sampled_from(list("xyuv12()[]^*+-/., e_\té")), max_size=40)
WIDTH = st.one_of(st.integers(-1, 3), st.sampled_from([10**6, 2**40]))
DIMS_TEXT = st.one_of(st.lists(WIDTH, max_size=5).map(lambda ws: ",".join(map(str, ws))),
                      st.text(alphabet="0123,-x. ", max_size=8))
TAUS = st.one_of(st.sampled_from(["0", "1", "0.5", "1/2", "1e400", "-1", "nan", "inf", "x", "", "3/0", "1e-300"]),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr))
FLOWS = st.sampled_from(["gradient", "momentum", "nesterov", "sideways", ""])
MODELS = st.sampled_from(["linear", "relu", "nmf", "icnn", "product", "polynomial", "nope"])


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """cli.main in-process: (exit code, stdout, stderr); argparse's SystemExit counts as an exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse: --help or a usage error
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def check_single(argv: list[str]) -> None:
    code, out, err = run_cli(argv)
    assert "Traceback" not in err and "Traceback" not in out, (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("conservation-laws"), (argv, err)
    else:
        check_count(json.loads(out))


CERTIFICATES = {"proved", "probabilistic", "upper bound only"}


def check_count(rec: dict) -> None:
    """What a successful count must satisfy, from the fields of its own record."""
    n, rank, laws = rec["dimension"], rec["rank"], rec["laws"]
    # the phase space: the parameters (gradient flow) or parameters, velocities and time (momentum)
    assert n == (rec["parameters"] if rec["flow"] == "gradient" else 2 * rec["parameters"] + 1), rec
    if rec.get("variables") is not None:
        assert rec["parameters"] == len(rec["variables"]) == len(set(rec["variables"])), rec
    assert 0 <= rank <= n and laws == n - rank, rec  # N − K laws, 0 ≤ laws ≤ N
    ranks = rec["rank_by_depth"]
    assert ranks == sorted(ranks) and ranks[-1] == rank and len(ranks) == rec["depth"], rec
    assert rec["certificate"] in CERTIFICATES, rec
    if rec["certificate"] == "probabilistic":
        assert 0 < rec["failure_bound"] <= 1e-9, rec


@FUZZ
@given(phi=st.one_of(RANDOM_TEXT, NEAR_VALID, POLYNOMIALS), flow=FLOWS, tau=TAUS)
def test_fuzz_phi(phi, flow, tau):
    check_single(["count", "--phi", phi, "--flow", flow, "--tau", tau, "--json"])


@FUZZ
@given(model=MODELS, dims=DIMS_TEXT, flow=FLOWS, tau=TAUS, bias=st.booleans())
def test_fuzz_dims_and_tau(model, dims, flow, tau, bias):
    check_single(["count", "--model", model, "--dims", dims, "--flow", flow, "--tau", tau, "--json"]
                 + (["--bias"] if bias else []))


BATCH_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 4), st.floats(allow_nan=False), TAUS, FLOWS,
                         MODELS, st.lists(WIDTH, max_size=4), POLYNOMIALS, st.lists(POLYNOMIALS, max_size=2))
BATCH_KEYS = st.sampled_from(list(cli.BATCH_KEYS + cli.BATCH_LABELS) + ["oops"])
BATCH_LINES = st.one_of(
    st.dictionaries(BATCH_KEYS, BATCH_VALUES, max_size=6).map(json.dumps),
    st.fixed_dictionaries({"model": st.sampled_from(["linear", "nmf", "product"]),
                           "dims": st.lists(st.integers(1, 2), min_size=1, max_size=3),
                           "flow": FLOWS, "tau": st.sampled_from([0, 1, 0.5, -1])}).map(json.dumps),
    RANDOM_TEXT,
)


@FUZZ
@given(lines=st.lists(BATCH_LINES, min_size=1, max_size=4))
def test_fuzz_batch_lines(lines):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        code, out, err = run_cli(["count", "--batch", str(path), "--json", "--no-progress"])
    assert "Traceback" not in err, err
    assert code in (0, 1, 2), (lines, code, err)
    for line in err.splitlines():
        assert line.startswith("conservation-laws"), (lines, err)
    if code in (0, 1):
        for rec in map(json.loads, out.splitlines()):
            assert ("laws" in rec) != ("error" in rec)


def test_huge_tau_without_friction_is_one_line():
    for flow in ("gradient", "nesterov"):
        code, _, err = run_cli(["count", "--model", "linear", "--dims", "2,2,2", "--flow", flow, "--tau", "1e400"])
        assert code == 2 and err.count("\n") == 1 and len(err) < 300, err
