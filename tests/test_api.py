"""The public API (``cl.count``, ``cl.laws``, ``cl.simulate``, ``cl.load_model``): the command line's
numbers and words, contradictions refused, inputs never changed, results that display themselves."""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy

import conservation_laws as cl
from conservation_laws import closed_forms
from conservation_laws.interfaces import api, cli
from conservation_laws.errors import ConservationLawsError
from conservation_laws.flows import Flow, oscillator_rate, vector_fields
from conservation_laws.models import make_model

#: Long options of `count` / `laws` that are about the command's output or input file, not the case.
NOT_KEYWORDS = {"json", "batch", "no-progress", "help"}

GATED = """
name: gated
blocks:
  A: [1, 2]
  B: [1, 2]
  w: [1]
phi:
  - entry: "w[k] * (A[k,i]*B[k,j] + A[k,j]*B[k,i])"
    for: {k: 1, i: 2, j: 2}
"""


def cli_json(argv: list[str], capsys) -> dict:
    assert cli.main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def without_times(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("seconds", "rank_seconds")}


@pytest.fixture
def gated_file(tmp_path: Path) -> Path:
    path = tmp_path / "gated.yaml"
    path.write_text(GATED)
    return path


# --- the same numbers as the command line -------------------------------------------------------
CASES = [
    (["--model", "linear", "--dims", "2,3,2", "--flow", "momentum", "--tau", "1", "--weight-decay", "0.25"],
     dict(model="linear", dims=[2, 3, 2], flow="momentum", tau=1, weight_decay=0.25)),
    (["--model", "relu", "--dims", "2,2,1", "--bias", "--prove", "--seed", "3"],
     dict(model="relu", dims=[2, 2, 1], bias=True, prove=True, seed=3)),
    (["--model", "nmf", "--dims", "2,2,2", "--geometry", "euclidean", "--repeats", "2"],
     dict(model="nmf", dims=[2, 2, 2], geometry="euclidean", repeats=2)),
    (["--phi", "u1*v1 + u2*v2", "--phi", "u1*v2", "--flow", "momentum", "--tau", "1/2"],
     dict(phi=["u1*v1 + u2*v2", "u1*v2"], flow="momentum", tau="1/2")),
    (["--model", "attention", "--dims", "2", "--option", "heads=2", "--option", "head_width=1"],
     dict(model="attention", dims=[2], option={"heads": 2, "head_width": 1})),
    (["--model", "linear", "--dims", "2,2,2", "--flow", "nesterov", "--weight-decay", "1/3"],
     dict(model="linear", dims=[2, 2, 2], flow="nesterov", weight_decay=Fraction(1, 3))),
]


@pytest.mark.parametrize("argv, kwargs", CASES, ids=[" ".join(a[:4]) for a, _ in CASES])
def test_count_is_the_cli_record(argv, kwargs, capsys):
    record = cli_json(["count"] + argv, capsys)
    counted = cl.count(**kwargs)
    assert without_times(counted.as_dict()) == without_times(record)
    assert counted.laws == record["laws"] == counted.N - counted.K
    assert isinstance(counted.laws, int) and isinstance(counted.certificate, str)


def test_count_issue_example_matches_formula_and_cli(capsys):
    """The acceptance example: heavy ball τ = 1, λ = 1/4 keeps the decay-free momentum count, the
    r(r − 1)/2 charges e^{τt}(UᵀU' − U'ᵀU + …) (closed_forms.two_layer_linear_mf_generic)."""
    c = cl.count("linear", dims=[2, 3, 2], flow="momentum", tau=1, weight_decay=0.25)
    assert c.laws == closed_forms.two_layer_linear_mf_generic(2, 3, 2) == 3
    assert (c.N, c.model, c.dims, c.flow) == (2 * 12 + 1, "linear", (2, 3, 2), "momentum")
    assert (c.tau, c.weight_decay, c.regime, c.time_variable) == (1, Fraction(1, 4), "critical", "s")
    assert c.certificate == "probabilistic" and 0 < c.failure_bound <= 1e-9
    record = cli_json(["count", "--model", "linear", "--dims", "2,3,2", "--flow", "momentum", "--tau", "1",
                       "--weight-decay", "0.25"], capsys)
    assert (c.laws, c.certificate, c.failure_bound) == (record["laws"], record["certificate"], record["failure_bound"])


def test_model_object_name_and_file_agree(gated_file, capsys):
    by_name = cl.count("linear", dims=[2, 3, 2], flow="momentum", tau=1)
    by_object = cl.count(make_model("linear", [2, 3, 2]), Flow("momentum", tau=1))
    assert (by_object.laws, by_object.N, by_object.K, by_object.certificate) == \
        (by_name.laws, by_name.N, by_name.K, by_name.certificate)
    assert by_object.laws == closed_forms.two_layer_linear_mf_generic(2, 3, 2)
    record = cli_json(["count", "--spec", str(gated_file), "--prove"], capsys)
    from_path = cl.count(gated_file, prove=True)
    assert without_times(from_path.as_dict()) == without_times(cl.count(spec=str(gated_file), prove=True).as_dict())
    assert without_times(from_path.as_dict()) == without_times(record)
    loaded = cl.count(cl.load_model(gated_file), prove=True)
    assert (loaded.laws, loaded.certificate) == (record["laws"], "proved")
    assert loaded.laws == 2  # one gate: two rescalings (A, B, w) -> (aA, bB, w/(ab))


def test_laws_nmf_acceptance(capsys):
    found = cl.laws("nmf", dims=[2, 2, 2])
    assert len(found.basis) == 2 and found.complete and found.certificate == "proved"
    assert found.failure_bound == 0 and found.upper_bound == closed_forms.nmf_gf([2, 2, 2])
    model = make_model("nmf", [2, 2, 2])
    # the column sums h_k = Σ_i U_ik − Σ_j V_kj (the paper's NMF laws), as a space
    from conservation_laws.engine.laws import same_span

    assert same_span([h.expr for h in found.basis], model.paper_laws("gradient"), model.symbols)
    for h in found.basis:
        assert isinstance(h.expr, sympy.Expr) and h.kind == "polynomial" and h.polynomial is not None
        assert re.fullmatch(r"[UV0-9_{},+\- ]+", h.latex) and "U_{" in h.latex
        assert h._repr_latex_() == f"${h.latex}$"
    record = cli_json(["laws", "--model", "nmf", "--dims", "2,2,2"], capsys)
    assert [str(h) for h in found.basis] == record["basis"]
    assert [h.latex for h in found.basis] == record["basis_latex"]
    assert [str(h) for h in found.others] == record["others"]
    assert (found.complete, found.certificate, found.verdict) == (record["complete"], record["certificate"],
                                                                   record["verdict"])


def test_laws_keywords_like_the_cli(capsys):
    """--degree, --time-degree, --latex, --all, in time: the heavy ball's laws e^{τt}J, in t."""
    found = cl.laws("linear", dims=[1, 2, 1], flow="momentum", tau=1, degree=2, time_degree=1, latex=True, all=True)
    record = cli_json(["laws", "--model", "linear", "--dims", "1,2,1", "--flow", "momentum", "--tau", "1",
                       "--time-degree", "1"], capsys)
    assert [str(h) for h in found.basis] == record["basis"]
    assert found.count.time_variable is None and found.count.flow == "momentum"
    assert all("t" in {str(s) for s in h.expr.free_symbols} for h in found.basis)  # s written as e^{t}
    text = str(found)
    assert all(h.latex in text for h in found.basis + found.others)  # latex=True, all=True
    plain = str(cl.laws("linear", dims=[1, 2, 1], flow="momentum", tau=1))
    assert found.basis[0].latex not in plain and str(found.basis[0]) in plain


def test_incomplete_laws_say_the_certificate_is_the_counts():
    """Degree 1 misses the heavy ball's quadratic charge e^{τt}J (r(r − 1)/2 = 1 of them)."""
    found = cl.laws("linear", dims=[2, 2, 2], flow="momentum", tau=1, degree=1)
    assert found.upper_bound == closed_forms.two_layer_linear_mf_generic(2, 2, 2) == 1
    assert not found.complete and found.basis == () and "incomplete" in found.verdict
    assert found.certificate == found.count.certificate == "probabilistic" and found.failure_bound > 0
    assert "incomplete at degree ≤ 1" in found._repr_markdown_()


def test_laws_beyond_polynomials_join_the_basis():
    """Without a time coordinate the search goes on as the CLI's: NMF with a scalar output needs
    a logarithmic law (2 n2 − 1 laws), the deep scalar linear net an Abelian integral (D − 1)."""
    nmf = cl.laws("nmf", dims=[1, 2, 1])
    assert [h.kind for h in nmf.basis] == ["polynomial", "polynomial", "logarithmic"]
    assert nmf.complete and len(nmf.basis) == closed_forms.nmf_gf([1, 2, 1]) == 3
    assert "log" in str(nmf.basis[-1]) and "\\log" in nmf.basis[-1].latex and nmf.basis[-1].polynomial is None
    deep = cl.laws("linear", dims=[1, 2, 2, 1])
    assert deep.basis[-1].kind == "Abelian-integral" and deep.complete and deep.certificate == "proved"
    assert len(deep.basis) == closed_forms.scalar_output(make_model("linear", [1, 2, 2, 1]).D)


# --- every option of the command line is a keyword ----------------------------------------------
def long_options(command: str) -> set[str]:
    exe = Path(sys.executable).with_name("conservation-laws")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from conservation_laws.interfaces.cli import main; "
                                            "sys.exit(main())"]
    out = subprocess.run(argv + [command, "--help"], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "200"}).stdout
    return set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", out))


@pytest.mark.parametrize("command, function", [("count", cl.count), ("laws", cl.laws)])
def test_every_cli_option_is_a_keyword(command, function):
    options = long_options(command)
    assert {"model", "dims", "flow", "tau", "weight-decay", "seed"} <= options  # the parse saw the help
    keywords = set(inspect.signature(function).parameters)
    missing = sorted(o for o in options - NOT_KEYWORDS if o.replace("-", "_") not in keywords)
    assert not missing, f"options of `conservation-laws {command}` that cl.{command} does not take: {missing}"


# --- contradictions raise -------------------------------------------------------------------------
def test_contradictory_flow_arguments_raise():
    model = make_model("linear", [2, 2, 2])
    with pytest.raises(ConservationLawsError, match=r"tau=5 .*τ = 1"):
        cl.count(model, Flow("momentum", tau=1), tau=5)
    with pytest.raises(ConservationLawsError, match=r"weight_decay=0.5 .*λ = 0.25"):
        cl.count(model, flow=Flow("gradient", weight_decay=Fraction(1, 4)), weight_decay=0.5)
    with pytest.raises(ConservationLawsError, match=r"geometry='mirror' .*'euclidean'"):
        cl.count("nmf", [2, 2, 2], flow=Flow("gradient", geometry="euclidean"), geometry="mirror")
    with pytest.raises(ConservationLawsError, match=r"tau=1 .*gradient"):
        cl.count("linear", dims=[2, 2, 2], tau=1)  # a friction without momentum, as the CLI refuses
    with pytest.raises(ConservationLawsError, match=r"flow='momentum' .*one flow"):
        cl.count(model, Flow("momentum", tau=1), flow="momentum")
    same = cl.count(model, Flow("momentum", tau=1), tau=1)  # repeating the Flow's value is not a contradiction
    assert same.laws == cl.count("linear", [2, 2, 2], flow="momentum", tau=1).laws


def test_model_object_with_case_fields_raises(gated_file):
    model = make_model("linear", [2, 2, 2])
    for kwargs in ({"dims": [2, 2, 2]}, {"bias": True}, {"phi": ["u*v"]}, {"option": {"heads": 2}},
                   {"spec": str(gated_file)}):
        name = next(iter(kwargs))
        with pytest.raises(ConservationLawsError, match=rf"^{name}=.*model object"):
            cl.count(model, **kwargs)
    with pytest.raises(ConservationLawsError, match=r"spec=.*one model file"):
        cl.count(gated_file, spec=str(gated_file))
    with pytest.raises(ConservationLawsError, match=r"^dims="):
        cl.laws(model, dims=[2, 2, 2])
    with pytest.raises(ConservationLawsError, match=r"^model="):
        cl.count(3.5)


def test_cli_errors_are_the_apis(capsys):
    """A bad case gives the same one-line message from the CLI and from the API."""
    argv = ["count", "--model", "linear", "--dims", "2,0,2"]
    assert cli.main(argv) == 2
    message = capsys.readouterr().err.strip().removeprefix("conservation-laws count: error: ")
    with pytest.raises(ConservationLawsError) as err:
        cl.count("linear", dims="2,0,2")
    assert str(err.value) == message


# --- no function changes its inputs ---------------------------------------------------------------
def test_polynomial_laws_leave_the_callers_count_alone():
    from conservation_laws.engine.darboux import prove_count, search_laws
    from conservation_laws.engine.laws import polynomial_laws
    from conservation_laws.engine.lie import count_laws

    family = vector_fields(make_model("linear", [2, 2, 2]), "gradient")
    r = count_laws(family)
    before = copy.deepcopy(r.as_dict())
    assert r.certificate == "probabilistic"
    found = polynomial_laws(family, lie=r)
    assert r.as_dict() == before  # the caller's count is as it was
    assert found.complete and found.lie.certificate == "proved" and found.lie is not r
    assert "laws exhibited" in found.lie.certificate_how and found.lie.failure_bound == 0
    proved = prove_count(family, lie=r)
    assert r.as_dict() == before and proved.certificate == "proved"
    nmf = vector_fields(make_model("nmf", [1, 2, 1]), "gradient")  # needs a logarithmic law
    r = count_laws(nmf)
    before = copy.deepcopy(r.as_dict())
    result = search_laws(nmf, lie=r)
    assert r.as_dict() == before and result.lie.certificate == ("proved" if result.complete else r.certificate)


def test_api_leaves_its_arguments_alone(gated_file):
    dims, option, phi = [2], {"heads": 2, "head_width": 1}, ["u1*v1 + u2*v2"]
    flow = Flow("momentum", tau=1)
    model = make_model("linear", [2, 2, 2])
    cl.count("attention", dims, option=option)
    cl.count(phi=phi)
    cl.laws(model, flow)
    assert dims == [2] and option == {"heads": 2, "head_width": 1} and phi == ["u1*v1 + u2*v2"]
    assert flow == Flow("momentum", tau=1) and model.dims == (2, 2, 2)


# --- evaluate_laws: the rate of s comes from the flow ----------------------------------------------
def test_evaluate_laws_reads_the_rate_from_the_flow():
    from conservation_laws.simulation import simulate as sim

    model = make_model("linear", [1, 1, 1])
    flow = Flow("momentum", tau=1, weight_decay=Fraction(1, 4))  # critical: s = e^{γt}, γ ≠ τ
    gamma = oscillator_rate(flow.tau, flow.weight_decay)
    assert flow.time_rate == gamma != flow.tau
    x, y = np.ones((4, 1)), np.ones((4, 1))
    run = sim.simulate_flow(model, flow, (x, y), [0.5, 0.3], v0=[0.1, -0.2], t1=2.0, steps=40)
    assert run.flow == flow
    s = sympy.Symbol("s", real=True)
    np.testing.assert_allclose(sim.evaluate_laws(s, model.variable_names, run)[:, 0], np.exp(float(gamma) * run.t))
    with pytest.raises(ConservationLawsError, match=r"tau=1.0 is invalid: the rate γ = 1/2"):
        sim.evaluate_laws(s, model.variable_names, run, time_variable="s", tau=float(flow.tau))
    same = sim.evaluate_laws(s, model.variable_names, run, time_variable="s", tau=float(gamma))
    np.testing.assert_allclose(same[:, 0], np.exp(float(gamma) * run.t))
    bare = sim.Trajectory(run.t, run.y)  # no flow recorded: the flow is given, or τ
    np.testing.assert_allclose(sim.evaluate_laws(s, model.variable_names, bare, flow=flow)[:, 0],
                               np.exp(float(gamma) * run.t))
    with pytest.raises(ConservationLawsError, match=r"^tau=None"):
        sim.evaluate_laws(s, model.variable_names, bare, time_variable="s")


def test_simulate_front(gated_file):
    x, y = np.eye(2), np.ones((2, 2))
    run = cl.simulate("linear", (x, y), dims=[2, 2, 2], flow="momentum", tau=1, steps=20, t1=0.5)
    assert run.flow == Flow("momentum", tau=1) and run.y.shape == (21, 16) and run.D == 8
    with pytest.raises(ConservationLawsError, match=r"tau=2 .*τ = 1"):
        cl.simulate("linear", (x, y), dims=[2, 2, 2], flow=Flow("momentum", tau=1), tau=2)
    with pytest.raises(ConservationLawsError, match=r"^dims="):
        cl.simulate(make_model("linear", [2, 2, 2]), (x, y), dims=[2, 2, 2])
    assert "states" in repr(run) and len(repr(run)) < 200


# --- displays -------------------------------------------------------------------------------------
def test_count_displays_itself_in_one_line():
    c = cl.count("linear", dims=[2, 3, 2], flow="momentum", tau=1, weight_decay=0.25)
    md = c._repr_markdown_()
    assert md.startswith("linear [2, 3, 2], heavy ball τ = 1, λ = 0.25: **3 laws** (N = 25, K = 22; probabilistic")
    assert "\n" not in md and f"{c.failure_bound:.2g}" in md
    assert "<strong>3 laws</strong>" in c._repr_html_() and "\n" not in c._repr_html_()
    proved = cl.count("nmf", dims=[2, 2, 2], prove=True)
    assert "**2 laws** (N = 8, K = 6; proved: laws exhibited" in proved._repr_markdown_()
    assert len(repr(c)) < 200 and str(c.prime) not in repr(c)


def test_laws_display_basis_then_others():
    found = cl.laws("nmf", dims=[2, 2, 2])
    md, tex = found._repr_markdown_(), found._repr_latex_()
    first, last = found.basis[0].latex, found.others[-1].latex
    for text in (md, tex):
        assert first in text and last in text and text.index(first) < text.index(last)
    assert md.startswith("**nmf [2, 2, 2], gradient flow: 2 independent laws, complete")
    assert "h_{1} &=" in tex and f"h_{{{len(found.basis) + len(found.others)}}} &=" in tex
    html = found._repr_html_()  # what the book shows: the formulas in the blocks MathJax typesets
    assert html.count('<div class="math notranslate nohighlight">\\[\\begin{aligned}') == 2
    assert first in html and html.index(first) < html.index(last) and " \\\\\n" in html
    assert len(repr(found)) < 200 and "U[" not in repr(found)


def test_engine_results_have_short_reprs():
    from conservation_laws.engine.darboux import search_laws
    from conservation_laws.engine.laws import polynomial_laws
    from conservation_laws.engine.lie import count_laws

    family = vector_fields(make_model("linear", [3, 4, 3]), "momentum", tau=1)
    r = count_laws(family)
    text = repr(r)
    assert "laws=6" in text and len(text) < 250
    assert not any(str(v) in text for v in r.point if v > 10**6)  # never the random point
    found = polynomial_laws(make_model("nmf", [2, 2, 2]), degree=2)
    assert len(repr(found)) < 250 and "U[" not in repr(found)
    assert len(repr(found.family)) < 250 and "Polynomial" not in repr(found.family)
    res = search_laws(make_model("nmf", [1, 2, 1]))
    assert len(repr(res)) < 250 and "U[" not in repr(res)


def test_top_level_names():
    for name in ("count", "laws", "simulate", "make_model", "load_model", "Flow", "Count", "Laws", "Law"):
        assert name in cl.__all__ and callable(getattr(cl, name))
    assert cl.Flow is Flow and cl.count is api.count
    from conservation_laws.engine import laws as laws_module  # the module, beside the function cl.laws

    assert hasattr(laws_module, "polynomial_laws") and callable(cl.laws)


def test_engine_takes_weight_decay_and_refuses_a_second_flow():
    """The issue's engine examples: count_laws(weight_decay=...) works, a τ beside a Flow raises."""
    from conservation_laws.engine.laws import polynomial_laws
    from conservation_laws.engine.lie import count_laws

    model = make_model("linear", [2, 3, 2])
    r = count_laws(model, "momentum", tau=1, weight_decay=0.25)
    assert r.laws == cl.count(model, flow="momentum", tau=1, weight_decay=0.25).laws == 3
    with pytest.raises(ConservationLawsError, match=r"^tau=5 .*τ = 1"):
        count_laws(model, Flow("momentum", tau=1), tau=5)
    with pytest.raises(ConservationLawsError, match=r"^weight_decay=0.5 .*λ = 1/4"):
        count_laws(model, Flow("momentum", tau=1, weight_decay=Fraction(1, 4)), weight_decay=0.5)
    with pytest.raises(ConservationLawsError, match=r"^geometry='mirror'"):
        vector_fields(make_model("nmf", [2, 2, 2]), Flow("gradient", geometry="euclidean"), geometry="mirror")
    decayed = polynomial_laws(make_model("nmf", [2, 2, 2]), "gradient", weight_decay=Fraction(1, 2), degree=1)
    assert decayed.family.flow.weight_decay == Fraction(1, 2) and decayed.complete
    assert decayed.independent == closed_forms.nmf_gf([2, 2, 2])  # e^{λt}(Σ_i U_ik − Σ_j V_kj), k = 1, 2
