"""Flows: the exact vector fields agree with the ODE right-hand sides used for simulation.

With a linear loss E = Σ a_i φ_i, ∇E = Σ a_i ∇φ_i, so the flow is an explicit combination of the
fields: GF θ' = −Σ a_i X_i; momentum ξ' = χ_0 − Σ a_i χ_i on ξ = (time, θ, v), where the time
coordinate is t (τ = 0, d/dt = 1), s = e^{τt} (τ > 0, ds/dt = τ s) or, for Nesterov, t with every
field multiplied by t (so the lifted field equals t·(1, rhs)).
"""

import functools
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from conservation_laws.errors import ConservationLawsError  # noqa: E402
from conservation_laws.flows import Flow, metric_diagonal, ode_rhs, vector_fields  # noqa: E402
from conservation_laws.models import make_model, phi_jax, velocity_names  # noqa: E402

CASES = [
    ("linear", [2, 3, 2], False, "euclidean"),
    ("linear", [2, 2, 2], False, "mirror"),
    ("relu", [2, 2, 2], True, "euclidean"),
    ("nmf", [2, 2, 3], False, None),  # default: mirror
    ("icnn", [2, 2, 2], True, None),  # default: mixed
    ("icnn", [2, 2, 2], False, "euclidean"),
]


@functools.lru_cache(maxsize=None)
def _model(name, dims, bias):
    m = make_model(name, list(dims), bias=bias)
    phi = phi_jax(m)
    return m, jax.jit(jax.grad(lambda th, a: jnp.dot(a, phi(th))))


def linear_loss_gradient(model, a):
    """∇E for E(θ) = Σ a_i φ_i(θ) (one compiled gradient per model, a passed as an argument)."""
    _, grad = _model(model.name, tuple(model.dims), model.bias)
    a = jnp.asarray(a)
    return lambda th: grad(th, a)


def evaluate_field(X, point):
    return np.array([float(p.evaluate(point)) if p else 0.0 for p in X.components])


def combination(fam, a, point, force_factor=1.0):
    out = evaluate_field(fam.drift, point) if fam.drift is not None else 0.0
    return out - force_factor * sum(ai * evaluate_field(X, point) for ai, X in zip(a, fam.forces))


def random_point(model, rng, positive):
    theta = rng.uniform(0.2, 1.5, size=model.D) if positive else rng.normal(size=model.D)
    return theta


@pytest.mark.parametrize("name, dims, bias, geometry", CASES)
def test_gradient_flow_rhs_matches_fields(name, dims, bias, geometry):
    rng = np.random.default_rng(0)
    m = _model(name, tuple(dims), bias)[0]
    flow = Flow("gradient", geometry=geometry)
    fam = vector_fields(m, flow)
    assert fam.drift is None and fam.N == m.D and fam.variable_names == m.variable_names
    assert len(fam.forces) == len(m.phi_polynomials())
    for _ in range(3):
        a = rng.normal(size=len(fam.forces))
        theta = random_point(m, rng, positive=False)
        rhs = ode_rhs(m, flow, linear_loss_gradient(m, a))
        np.testing.assert_allclose(np.asarray(rhs(0.3, jnp.asarray(theta))), combination(fam, a, list(theta)), rtol=1e-11, atol=1e-12)


MOMENTUM = [("momentum", 0), ("momentum", Fraction(7, 10)), ("nesterov", 0)]


@pytest.mark.parametrize("kind, tau", MOMENTUM)
@pytest.mark.parametrize("name, dims, bias, geometry", CASES)
def test_momentum_rhs_matches_lifted_fields(kind, tau, name, dims, bias, geometry):
    rng = np.random.default_rng(1)
    m = _model(name, tuple(dims), bias)[0]
    flow = Flow(kind, tau, geometry)
    fam = vector_fields(m, flow)
    D = m.D
    assert fam.N == 2 * D + 1
    assert fam.variable_names == [flow.time_variable] + m.variable_names + velocity_names(m)
    assert flow.time_variable == ("s" if kind == "momentum" and tau > 0 else "t")
    for _ in range(3):
        a = rng.normal(size=len(fam.forces))
        theta, v = random_point(m, rng, positive=True), rng.normal(size=D)
        t = rng.uniform(0.5, 2.0)
        rhs = ode_rhs(m, flow, linear_loss_gradient(m, a))
        f = np.asarray(rhs(t, jnp.asarray(np.concatenate([theta, v]))))
        factor = 1.0
        if kind == "nesterov":
            point, expected = [t, *theta, *v], t * np.concatenate([[1.0], f])
            # flows.py multiplies the forces by t only when a mirror coordinate forces it (the metric
            # 3θ/t + v times t is polynomial); purely Euclidean forces stay (0, 0, ∇φ_i). Rescaling a
            # generator by t ≠ 0 changes neither the laws nor their count.
            if not any(m.mirror_mask(fam.geometry)):
                factor = t
        elif tau > 0:
            s = np.exp(float(tau) * t)
            point, expected = [s, *theta, *v], np.concatenate([[float(tau) * s], f])
        else:
            point, expected = [t, *theta, *v], np.concatenate([[1.0], f])
        np.testing.assert_allclose(combination(fam, a, point, factor), expected, rtol=1e-11, atol=1e-11)


def test_metric_diagonal():
    m = make_model("icnn", [2, 2, 2], bias=True)
    theta = np.arange(1.0, m.D + 1)
    M = np.asarray(metric_diagonal(m)(jnp.asarray(theta)))
    mask = np.array(m.mirror_mask())
    np.testing.assert_array_equal(M[mask], theta[mask])
    np.testing.assert_array_equal(M[~mask], 1.0)
    np.testing.assert_array_equal(np.asarray(metric_diagonal(m, "euclidean")(jnp.asarray(theta))), 1.0)


def test_nesterov_friction_is_three_over_t():
    """With no force, the Nesterov rhs is (v, −3v/t)."""
    m = make_model("linear", [1, 2, 1])
    rhs = ode_rhs(m, Flow("nesterov"), lambda th: jnp.zeros_like(th))
    y = jnp.arange(1.0, 2 * m.D + 1)
    f = np.asarray(rhs(2.0, y))
    np.testing.assert_allclose(f, np.concatenate([y[m.D :], -1.5 * y[m.D :]]))


@pytest.mark.parametrize("tau", [-1, "-0.5", Fraction(-1, 3), "abc"])
def test_bad_tau(tau):
    with pytest.raises(ConservationLawsError, match="tau"):
        Flow("momentum", tau)
    with pytest.raises(ConservationLawsError, match="tau"):
        vector_fields(make_model("linear", [2, 2, 2]), "momentum", tau=tau)


@pytest.mark.parametrize("name", ["adam", "Gradient", "", "sgd"])
def test_bad_flow_name(name):
    with pytest.raises(ConservationLawsError, match="flow"):
        Flow(name)
    with pytest.raises(ConservationLawsError, match="flow"):
        vector_fields(make_model("linear", [2, 2, 2]), name)


def test_bad_geometry():
    with pytest.raises(ConservationLawsError, match="geometry"):
        Flow("gradient", geometry="riemann")
    with pytest.raises(ConservationLawsError, match="geometry"):
        vector_fields(make_model("linear", [2, 2, 2]), "gradient", geometry="mixed")
