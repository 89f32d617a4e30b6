"""Property-based fuzzing of the command line (hypothesis), in-process through ``cli.main``.

Whatever the input (random text or near-valid polynomials for --phi, random widths, τ, flows and
batch lines; model files, random YAML or a valid one with a few keys changed; sweep specs; batch
files beside stray case flags; store paths that are directories, devices, /proc files or under a
file; NaN, infinities, huge and negative numbers for every numeric option) the command ends with
exit code 0, 1 (a batch with failed lines) or 2 (bad input), bad input gives one line on stderr,
and nothing ever prints a traceback. The examples are few and small (no deadline, bounded
``max_examples``, derandomized; sweeps only expanded) so that the file runs in about half a minute.
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


# --- issue 23: model files, sweep specs, batch lines with stray flags, store paths, numbers ---------
# Each test holds few, small examples (a count of a model file is a few milliseconds; a sweep is only
# expanded, with --dry-run or before a store is refused), so that the whole file stays near a minute.
FUZZ_SMALL = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                             HealthCheck.function_scoped_fixture])


def check_one_line(argv: list[str], codes=(0, 2)) -> tuple[int, str, str]:
    """No traceback; an allowed exit code; a failure is one line naming the command."""
    code, out, err = run_cli(argv)
    assert "Traceback" not in err + out and "Exception ignored" not in err, (argv, err)
    assert code in codes, (argv, code, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("conservation-laws"), (argv, err)
        assert ": error: " in err, (argv, err)
    return code, out, err


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.sampled_from([10**9, -(10**9), 2**70]),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["euclidean", "mirror", "hyperbolic", "A[0]", "A[i]", "1 + B[i,j]^2", "i",
                                     "A[k,i]*B[k,j]", "U[0,a]", "2", "[]", "{}", "..", "1..3"]))
YAML_VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 3)), children,
                                                    max_size=4)), max_leaves=12)
VALID_MODEL = {"name": "gated", "blocks": {"A": [2, 2], "B": [2, 2], "w": [2]},
               "phi": [{"entry": "w[k] * (A[k,i]*B[k,j] + A[k,j]*B[k,i])", "for": {"k": 2, "i": 2, "j": 2}},
                       "A[0,0] - B[1,1]"],
               "metric": {"w": "mirror", "B": "1 + B[i,j]^2"}, "shared": {}}
MODEL_KEYS = st.sampled_from(["name", "blocks", "phi", "metric", "shared", "compose", "oops"])


def _near_valid_model(edits) -> dict:
    """The valid model with a few keys replaced, dropped or added, at the top or one level down."""
    import copy

    model = copy.deepcopy(VALID_MODEL)
    for key, sub, value, drop in edits:
        target = model
        if sub is not None and isinstance(model.get(key), dict):
            target, key = model[key], sub
        if drop:
            target.pop(key, None)
        else:
            target[key] = value
    return model


EDITS = st.lists(st.tuples(MODEL_KEYS, st.one_of(st.none(), st.sampled_from(["A", "B", "w", "k", "C", "entry"])),
                           YAML_VALUES, st.booleans()), min_size=1, max_size=3)
SMALL_EDITS = st.lists(st.one_of(
    st.tuples(st.just("metric"), st.sampled_from(["A", "B", "w"]),
              st.sampled_from(["euclidean", "mirror", "1 + A[i,j]^2", "w[0]", None, ["1", "2"], "2"]), st.booleans()),
    st.tuples(st.just("blocks"), st.sampled_from(["A", "B", "w", "C"]),
              st.sampled_from([[2, 2], [1], [], [3, 2], 2]), st.booleans()),
    st.tuples(st.just("shared"), st.sampled_from(["A", "B", "C"]), st.sampled_from(["A", "B", "w"]), st.booleans()),
    st.tuples(st.just("phi"), st.none(), st.lists(st.sampled_from(["A[0,0]*B[1,1]", "w[0]*w[1]", "A[0,1]^2 - B[0,0]",
                                                                   "A[k,i]"]), min_size=1, max_size=3),
              st.just(False))), min_size=1, max_size=2)
MODEL_TEXTS = st.one_of(
    SMALL_EDITS.map(lambda e: __import__("yaml").safe_dump(_near_valid_model(e))),
    YAML_VALUES.map(lambda v: __import__("yaml").safe_dump(v)),
    EDITS.map(lambda e: __import__("yaml").safe_dump(_near_valid_model(e))),
    st.text(alphabet=st.sampled_from(list("ab:[]{}-, \n\t'\"&*!|>#%@0123")), max_size=60),
)


@settings(FUZZ_SMALL, max_examples=250)
@given(text=MODEL_TEXTS, flow=st.sampled_from(["gradient", "momentum"]))
def test_fuzz_model_files(text, flow, tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, _ = check_one_line(["count", "--spec", str(path), "--flow", flow, "--json"])
    if code == 0:
        assert json.loads(out)["laws"] >= 0


SPEC_VALUES = st.one_of(SCALARS, st.lists(st.one_of(st.integers(0, 3), st.sampled_from(["1..2", "2", "x..y",
                                                                                         "1..100000000"])),
                                          max_size=4),
                        st.fixed_dictionaries({"from": st.integers(-2, 3), "to": st.integers(0, 4)}),
                        st.fixed_dictionaries({"output": st.sampled_from([1, "1..2"]), "input": st.just(1)}),
                        st.lists(st.dictionaries(st.sampled_from(["dims", "flow", "model", "oops"]),
                                                 st.sampled_from([[1, 1, 1], "momentum", "linear", 3]),
                                                 max_size=3), max_size=2))
SPEC_KEY = st.sampled_from(["name", "model", "dims", "depth", "widths", "hidden", "bias", "flow", "flows", "tau",
                            "taus", "geometry", "seed", "repeats", "grids", "weight_decay", "options",
                            "model_file", "oops"])
SPECS = st.one_of(
    st.dictionaries(SPEC_KEY, SPEC_VALUES, max_size=5),
    st.tuples(st.dictionaries(SPEC_KEY, SPEC_VALUES, max_size=2), st.booleans()).map(
        lambda t: {"model": "linear", "dims": [1, "1..2", 1], **t[0]} if t[1] else {**t[0], "model": "linear"}),
)


@settings(FUZZ_SMALL, max_examples=300)
@given(spec=SPECS, as_json=st.booleans())
def test_fuzz_sweep_specs(spec, as_json, tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(__import__("yaml").safe_dump(spec), encoding="utf-8")
    check_one_line(["sweep", str(path), "--dry-run", "--store", str(tmp_path / "s.jsonl")]
                   + (["--json"] if as_json else []))


STRAY_FLAGS = st.lists(st.sampled_from([["--flow", "momentum"], ["--tau", "1"], ["--weight-decay", "1"],
                                        ["--seed", "3"], ["--repeats", "2"], ["--bias"], ["--model", "linear"],
                                        ["--dims", "2,2"], ["--phi", "x"], ["--option", "heads=2"],
                                        ["--geometry", "mirror"], ["--prove"], ["--max-depth", "2"],
                                        ["--json"], ["--no-progress"], ["--spec", "m.yaml"], ["--degree", "2"]]),
                       max_size=3)


@settings(FUZZ_SMALL, max_examples=150)
@given(lines=st.lists(BATCH_LINES, min_size=0, max_size=3), flags=STRAY_FLAGS)
def test_fuzz_batch_with_stray_flags(lines, flags, tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["count", "--batch", str(path), "--no-progress"] + [x for f in flags for x in f]
    code, _, err = check_one_line(argv, codes=(0, 1, 2))
    case_flags = {"--flow", "--tau", "--weight-decay", "--seed", "--repeats", "--bias", "--model", "--dims",
                  "--phi", "--option", "--geometry", "--spec"}
    if case_flags & set(argv):
        assert code == 2  # a case flag beside --batch is refused, never ignored
    for line in err.splitlines():
        assert line.startswith("conservation-laws"), err


STORES = st.sampled_from(["DIR", "/dev/full", "/dev/null", "/dev/zero", "/proc/version", "/proc/self/status",
                          "FILE/s.jsonl", "MISSING/deeper/s.jsonl", "JUNK", "", "/"])


@FUZZ_SMALL
@given(store=STORES, dry=st.booleans(), extra=st.sampled_from([[], ["--workers", "0"], ["--case-memory", "lots"],
                                                               ["--scheduler", "nonsense"], ["--json"]]))
def test_fuzz_store_paths(store, dry, extra, tmp_path):
    spec = tmp_path / "grid.yaml"
    spec.write_text("model: linear\ndims: [1, 1, 1]\n")
    (tmp_path / "DIR").mkdir(exist_ok=True)
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "JUNK").write_bytes(b"\x00\xff garbage\nnot json\n")
    path = store if store.startswith("/") or not store else str(tmp_path / store)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, _ = check_one_line(["sweep", str(spec), "--store", path, "--no-progress"]
                                + (["--dry-run"] if dry else ["--scheduler", "nonsense"]) + extra)
    if not dry:  # every run here has a bad option or path: refused, nothing created
        assert code == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == before


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.integers(-(2**70), 2**70).map(str),
                    st.sampled_from(["nan", "inf", "-inf", "1e308", "1e999999999", "-0", "1/0", "1/3", "0x10",
                                     "", " ", "1_000", "١", "+5", "2**10"]))
NUMERIC_OPTIONS = st.sampled_from([("count", "--tau"), ("count", "--weight-decay"), ("count", "--seed"),
                                   ("count", "--repeats"), ("count", "--max-depth"), ("count", "--prime"),
                                   ("laws", "--degree"), ("laws", "--time-degree"), ("sweep", "--case-timeout"),
                                   ("sweep", "--scheduler-timeout"), ("sweep", "--workers"),
                                   ("sweep", "--case-memory")])


@settings(FUZZ_SMALL, max_examples=300)
@given(where=NUMERIC_OPTIONS, value=NUMBERS)
def test_fuzz_numbers_for_every_numeric_option(where, value, tmp_path):
    command, option = where
    if command == "sweep":  # a dry run: the options are checked, nothing is computed
        spec = tmp_path / "grid.yaml"
        spec.write_text("model: linear\ndims: [1, 1, 1]\n")
        argv = ["sweep", str(spec), "--dry-run", "--store", str(tmp_path / "s.jsonl"), f"{option}={value}"]
    else:
        flow = (["--flow", "momentum"] if option == "--tau" else
                ["--flow", "momentum", "--tau", "1"] if option == "--time-degree" else [])
        argv = [command, "--model", "linear", "--dims", "1,1,1", *flow, f"{option}={value}", "--json"]
        if command == "laws":
            argv += ["--degree", "1"] if option != "--degree" else []
    code, out, err = check_one_line(argv)
    if code == 0 and command == "count":
        rec = json.loads(out)
        assert len(json.dumps(rec)) < 2000  # no 309-digit τ
