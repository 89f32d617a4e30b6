"""Unit tests of the helpers the model chapters call (random architectures, rescalings, kinks...).

Expectations are derived independently: by hand-sized examples, closed formulas written out in the
test, or a second computation by another route.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from conservation_laws import ConservationLawsError, flows, make_model, models
from conservation_laws.engine import laws
from conservation_laws.simulation import simulate


def test_random_architectures_distinct_bounded_and_reproducible():
    exclude = [([2, 2, 2], False)]
    archs = models.random_architectures("relu", 8, seed=3, max_parameters=30, exclude=exclude)
    assert archs == models.random_architectures("relu", 8, seed=3, max_parameters=30, exclude=exclude)
    assert len(archs) == 8 and len({(tuple(d), b) for d, b in archs}) == 8
    assert ([2, 2, 2], False) not in archs
    for dims, bias in archs:
        assert 3 <= len(dims) <= 5 and all(1 <= w <= 4 for w in dims)
        assert make_model("relu", dims, bias=bias).D <= 30


def test_random_architectures_follow_the_draw_order():
    rng = np.random.default_rng(0)  # depth, then widths, then the bias coin
    depth = int(rng.integers(2, 5))
    dims = [int(w) for w in rng.integers(1, 5, size=depth + 1)]
    bias = bool(rng.integers(0, 2))
    assert models.random_architectures("relu", 1, seed=0)[0] == (dims, bias)


def test_random_architectures_rejects_a_negative_count():
    with pytest.raises(ConservationLawsError, match="count"):
        models.random_architectures("relu", -1)


@pytest.mark.parametrize("bias", [False, True])
def test_neuron_rescalings_leave_phi_unchanged_and_scale_the_balance_gradient(bias):
    m = make_model("relu", [2, 3, 2, 2], bias=bias)
    lam = sympy.Symbol("lambda", positive=True)
    subs = models.neuron_rescalings(m, lam)
    assert len(subs) == 3 + 2  # one per hidden neuron
    assert all(models.phi_invariant(m, s) for s in subs)
    # a rescaling that is not one of them (every weight times lambda) changes phi
    assert not models.phi_invariant(m, {s: lam * s for s in m.symbols})


def test_rescaling_charge_is_half_the_time_derivative_of_the_balance():
    m = make_model("relu", [2, 2, 2], bias=True)
    M, V = m.symbolic_blocks(), models.velocity_blocks(m)
    h = m.paper_laws("gradient")[0]
    dh_dt = sum(sympy.diff(h, s) * v for b in M for s, v in zip(M[b], V[b]))
    assert sympy.expand(models.rescaling_charge(m, 1, 0) - dh_dt / 2) == 0
    with pytest.raises(ConservationLawsError):
        models.rescaling_charge(m, layer=2, neuron=0)


def test_nmf_scalar_log_laws_are_laws_and_complete_the_count():
    m = make_model("nmf", (1, 3, 1))
    extra = models.nmf_scalar_log_laws(m)
    assert len(extra) == 2
    family = flows.vector_fields(m, "gradient")
    assert all(laws.check_law(h, family, simplify=True) for h in extra)
    # with the 3 column sums: D - 1 = 5 independent gradients
    assert laws.numeric_gradient_rank(m.paper_laws("gradient") + extra, m.symbols) == 5
    with pytest.raises(ConservationLawsError):
        models.nmf_scalar_log_laws(make_model("nmf", (2, 3, 1)))


def test_exhibited_laws_counts_only_verified_independent_laws():
    m = make_model("relu", [2, 2, 2])
    balances = m.paper_laws("gradient")
    assert laws.exhibited_laws(m, balances) == 2
    assert laws.exhibited_laws(m, balances + [balances[0] + balances[1]]) == 2  # dependent
    not_a_law = sum(s**2 for s in m.symbols)
    assert laws.exhibited_laws(m, [not_a_law]) == 0


def test_numeric_gradient_rank_of_dependent_expressions():
    x, y = sympy.symbols("x y")
    assert laws.numeric_gradient_rank([x + y, 2 * x + 2 * y], [x, y]) == 1
    assert laws.numeric_gradient_rank([x * y, sympy.log(x / y)], [x, y]) == 2
    assert laws.numeric_gradient_rank([], [x, y]) == 0


def test_kinks_marks_sign_changes_and_near_steps():
    pre = np.array([[1.0, 2.0], [0.5, 2.0], [-0.1, 2.0], [-0.2, 1e-4], [-0.3, 1.0]])
    k = simulate.kinks(pre, margin=1e-3)
    assert k.switch.tolist() == [False, True, False, False]
    assert np.allclose(k.closest, [1.0, 0.5, 0.1, 1e-4, 0.3])
    assert k.near.tolist() == [False, True, True, True]  # steps touching the state with |p| = 1e-4
    with pytest.raises(ConservationLawsError):
        simulate.kinks(pre[:1])


def test_loglog_slope_recovers_a_power():
    x = np.array([0.1, 0.2, 0.4, 0.8])
    assert simulate.loglog_slope(x, 3 * x**2) == pytest.approx(2.0)
    with pytest.raises(ConservationLawsError):
        simulate.loglog_slope(x, -x)


@pytest.mark.parametrize("bias", [False, True])
def test_icnn_pre_activations_match_the_forward_map(bias):
    m = make_model("icnn", (2, 3, 4), bias=bias)
    theta = m.random_parameters(seed=1)
    x = np.random.default_rng(2).normal(size=(5, 4))
    pre = models.icnn_pre_activations(m, theta, x)
    U = np.asarray(m.unflatten(theta)["U"])
    # g(x) = U relu(p): an independent route through the model's own predict
    assert np.allclose(np.asarray(m.predict(theta, x)), (U @ np.maximum(pre, 0)).T)
    assert models.icnn_pre_activations(m, np.stack([theta, theta]), x).shape == (2, 3, 5)
