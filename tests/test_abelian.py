"""The Abelian-integral law of the deep scalar-output linear network [1, 2, 2, 1] (abelian.py):
exact verification, exact independence, a numerical trajectory, and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy

from conservation_laws import abelian, cli, darboux, lie
from conservation_laws.flows import vector_fields
from conservation_laws.models import make_model


@pytest.fixture(scope="module")
def family():
    return vector_fields(make_model("linear", [1, 2, 2, 1]), "gradient")


@pytest.fixture(scope="module")
def law(family):
    return abelian.abelian_law(family)


def test_the_law_is_exactly_verified(law, family):
    assert abelian.verify(law, family)


@pytest.mark.parametrize("change", ["R", "E", "epsilon"])
def test_a_wrong_formula_fails_verification(law, family, change):
    bad = abelian.abelian_law(family)
    if change == "R":
        bad.R = bad.R + bad.xi**3  # (iii) fails
    elif change == "E":
        bad.laws = dict(bad.laws, E=bad.laws["E"] + bad.phi)  # X E ≠ 0
    else:
        bad.epsilon = 2 * bad.epsilon  # X δ ≠ ε
    assert not abelian.verify(bad, family)


def test_independent_of_the_balancedness_laws(law, family):
    base, extended = abelian.independent_count(law, family, abelian.balancedness(family))
    assert (base, extended) == (6, 7)
    # and E, I alone add nothing: they are functions of Q1, Q2
    laws, count = abelian.search(family, abelian.balancedness(family))
    assert len(laws) == 1 and count == 7


@pytest.mark.parametrize("dims,flow", [([1, 2, 1], "gradient"), ([2, 2, 2, 1], "gradient"),
                                       ([1, 2, 2, 1], "momentum")])
def test_other_families_are_not_covered(dims, flow):
    family = vector_fields(make_model("linear", dims), flow)
    assert not abelian.applies(family)
    assert abelian.search(family, []) == ([], 0)


def test_conserved_along_a_gradient_flow_run(law, family):
    """RK4 on the square loss of one target: h stays put (to the integration error) while one of its
    two terms alone moves; the run passes a turning point of ξ2 (ρ2 changes sign)."""
    X = sympy.lambdify([family.symbols], list(family.forces[0].to_sympy(family.symbols)), "numpy")
    phi = sympy.lambdify([family.symbols], law.phi, "numpy")
    rho = sympy.lambdify([family.symbols], [law.t, law.delta, law.phi, law.epsilon], "numpy")

    def field(theta):
        return -(phi(theta) - 1.5) * np.asarray(X(theta), dtype=float)

    theta, dt, states = np.random.default_rng(3).normal(size=8) * 0.7, 1e-3, []
    for k in range(300):
        if k % 10 == 0:
            states.append(theta.copy())
        k1 = field(theta)
        k2 = field(theta + dt / 2 * k1)
        k3 = field(theta + dt / 2 * k2)
        k4 = field(theta + dt * k3)
        theta = theta + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    h = np.array(abelian.values(law, family, states))
    # near a turning point h ~ √(ξ_i − r_i), so an integration error ε shows as about √ε there
    assert np.all(np.isfinite(h)) and np.max(np.abs(h - h[0])) < 1e-6

    def signs(s):
        t, d, f, e = rho(s)
        disc = np.sqrt(t * t - 4 * d * d)
        return np.sign([d * e - f * (t + disc) / 2, d * e - f * (t - disc) / 2])

    assert (signs(states[0]) != signs(states[-1])).any()  # a turning point was crossed
    assert np.linalg.norm(states[-1] - states[0]) > 0.3  # and the weights moved


def test_search_laws_is_complete_and_proves_the_count(family):
    res = darboux.search_laws(family)
    assert res.complete and res.verified and len(res.abelian_laws) == 1
    assert res.independent == res.upper_bound == 7
    assert "Abelian-integral" in res.verdict() and res.lie.certificate == "proved"


def test_one_generator_is_a_deterministic_certificate():
    scalar = lie.count_laws(make_model("linear", [1, 2, 2, 1]), "gradient")
    assert (scalar.laws, scalar.certificate) == (7, "proved")
    assert scalar.certificate_how.startswith("one generator")
    two = lie.count_laws(make_model("linear", [2, 2, 1]), "gradient")  # two components of φ
    assert not two.certificate_how.startswith("one generator")


def test_cli_laws_deep_scalar_is_complete(capsys):
    assert cli.main(["laws", "--model", "linear", "--dims", "1,2,2,1"]) == 0
    out = capsys.readouterr().out
    assert "Abelian-integral law" in out and "R(ξ) = ξ⁵" in out
    assert out.strip().splitlines()[-1].startswith("complete: 7 independent laws")
    assert cli.main(["laws", "--model", "linear", "--dims", "1,2,2,1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["complete"] and record["certificate"] == "proved" and len(record["abelian_laws"]) == 1
