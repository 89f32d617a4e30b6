"""The Abelian-integral law of the deep scalar-output linear network [1, 2, 2, 1] (abelian.py):
exact verification, exact independence, a numerical trajectory, and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conservation_laws.engine import abelian, darboux, lie
from conservation_laws.simulation import simulate
from conservation_laws.interfaces import cli
from conservation_laws.simulation.data import regression_problem
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
    """RK4 (simulate.simulate_flow) on a random scalar regression: h stays put (to the integration
    error) while the weights move; the run passes a turning point of ξ1 (ρ1 changes sign)."""
    model = family.model
    data = regression_problem(model, n_samples=20, seed=0)
    run = simulate.simulate_flow(model, "gradient", data, model.random_parameters(1, scale=1.0),
                                 t1=3.0, steps=2000, save_every=20)
    states = run.theta()
    h = np.array(abelian.values(law, family, states))
    # near a turning point h ~ √(ξ_i − r_i), so an integration error ε shows as about √ε there
    assert np.all(np.isfinite(h)) and np.max(np.abs(h - h[0])) < 1e-6
    coords = abelian.coordinates(law, family, states)
    assert (np.sign(coords[0, 2:]) != np.sign(coords[-1, 2:])).any()  # a turning point was crossed
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
