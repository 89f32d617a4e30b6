"""Natural gradient flows and the position-only mirror metrics (flows.py).

The polynomial fields must be the pseudo-inverse fields −c_ρ·M Jᵀ(J M Jᵀ)⁺e_i up to one common
scalar (checked numerically against numpy's pinv), count as many laws as gradient flow in the same
geometry, and the simulation right-hand side must equal −J⁺∇f computed directly.
"""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from conservation_laws.errors import ConservationLawsError  # noqa: E402
from conservation_laws.flows import Flow, natural_forces, ode_rhs, vector_fields  # noqa: E402
from conservation_laws.engine.lie import count_laws  # noqa: E402
from conservation_laws.models import make_model, phi_jax  # noqa: E402
from conservation_laws.algebra.polynomial import gradient  # noqa: E402


def _evaluate(fields, theta):
    return np.array([[float(p.evaluate(theta)) if p else 0.0 for p in X.components] for X in fields]).T


def _jacobian(model, theta):
    return np.array([[float(p.evaluate(theta)) if p else 0.0 for p in gradient(phi, model.D)]
                     for phi in model.phi_polynomials()])


@pytest.mark.parametrize("name,dims,geometry", [("linear", [2, 2, 2], "euclidean"),
                                                 ("linear", [2, 1, 2], "euclidean"),
                                                 ("relu", [2, 2, 2], "euclidean"),
                                                 ("nmf", [2, 1, 2], "mirror")])
def test_fields_are_the_pseudo_inverse_up_to_a_scalar(name, dims, geometry):
    model = make_model(name, dims)
    theta = np.random.default_rng(0).uniform(0.3, 1.5, size=model.D)
    mirror = model.mirror_mask(geometry)
    forces, rank = natural_forces(model.phi_polynomials(), mirror, model.D)
    X = _evaluate(forces, theta)
    J = _jacobian(model, theta)
    M = np.where(mirror, theta, 1.0)
    P = M[:, None] * J.T @ np.linalg.pinv(J @ (M[:, None] * J.T))
    scale = np.sum(X * P) / np.sum(P * P)
    assert abs(scale) > 1e-8
    np.testing.assert_allclose(X, scale * P, rtol=1e-7, atol=1e-9 * np.abs(X).max())
    assert rank == np.linalg.matrix_rank(J)


@pytest.mark.parametrize("name,dims,bias", [("linear", [2, 1, 2], False), ("linear", [1, 3, 2], False),
                                            ("linear", [1, 2, 1], False), ("relu", [2, 2, 1], False),
                                            ("relu", [1, 2, 2], True), ("nmf", [1, 2, 2], False),
                                            ("icnn", [2, 1, 2], False)])
def test_natural_counts_equal_gradient_flow(name, dims, bias):
    model = make_model(name, dims, bias=bias)
    assert count_laws(model, "natural").laws == count_laws(model, "gradient").laws


def test_natural_flow_errors():
    with pytest.raises(ConservationLawsError, match="friction"):
        Flow("natural", 1)
    with pytest.raises(ConservationLawsError, match="at most"):
        natural_forces(make_model("linear", [3, 3, 3]).phi_polynomials(), [False] * 18, 18)
    with pytest.raises(ConservationLawsError, match="geometry"):
        Flow("natural", 0, "hyperbolic")


def test_natural_rhs_is_minus_pinv_times_output_gradient():
    model = make_model("linear", [2, 1, 2])
    a = np.array([0.3, -1.0, 0.7, 0.2])
    phi = phi_jax(model)
    grad = jax.grad(lambda th: jnp.dot(a, phi(th)))
    rhs = ode_rhs(model, Flow("natural"), grad)
    theta = np.random.default_rng(1).normal(size=model.D)
    J = _jacobian(model, theta)
    np.testing.assert_allclose(np.asarray(rhs(0.0, jnp.asarray(theta))), -np.linalg.pinv(J) @ a, rtol=1e-8)


def test_position_metric_is_the_authors_icnn_momentum():
    """diag(U, 1, 1) at θ: the U components of each force hold no velocity and no friction."""
    model = make_model("icnn", [2, 2, 2], bias=True)
    family = vector_fields(model, Flow("momentum", 1, "mixed-position"))
    D = model.D
    velocity = set(range(D + 1, 2 * D + 1))
    for force in family.forces:
        for p in force.components:
            assert not any(set(m) & velocity for m in p)
    text = vector_fields(model, Flow("momentum", 1, "mixed"))
    assert any(set(m) & velocity for f in text.forces for p in f.components for m in p)
    assert count_laws(family).laws == 0 == count_laws(text).laws


def test_cli_natural_flow():
    run = [sys.executable, "-m", "conservation_laws.interfaces.cli", "count", "--model", "linear", "--dims", "1,3,2",
           "--flow", "natural", "--json"]
    out = subprocess.run(run, capture_output=True, text=True)
    assert out.returncode == 0 and '"laws": 6' in out.stdout
    bad = subprocess.run(run[:-1] + ["--tau", "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "friction" in bad.stderr


@pytest.mark.parametrize("flow,tau", [("momentum", 2), ("momentum", 0), ("nesterov", 0)])
def test_drift_invariants_are_invariant_and_rewrite_the_laws(flow, tau):
    import sympy

    from conservation_laws.flows import drift_invariants
    from conservation_laws.algebra.polynomial import from_sympy

    model = make_model("linear", [2, 2, 2])
    family = vector_fields(model, flow, tau=tau)
    sub, zs, ws = drift_invariants(family)
    time = family.symbols[0]
    # the invariants themselves, back in (time, θ, v): z_j and w_j are killed by the drift
    D = model.D
    theta, vel = family.symbols[1:D + 1], family.symbols[D + 1:]
    tau_s = sympy.Integer(tau)
    if flow == "nesterov":
        z, w = theta[0] + time * vel[0] / 2, time**3 * vel[0]
    elif tau == 0:
        z, w = theta[0] - time * vel[0], vel[0]
    else:
        z, w = theta[0] + vel[0] / tau_s, time * vel[0]
    for h in (z, w):
        derivative = sum(sympy.diff(h, s) * c.to_sympy(family.symbols)
                         for s, c in zip(family.symbols, family.drift.components))
        assert sympy.simplify(derivative) == 0
    law = {"momentum": time if tau else 1, "nesterov": time**3}[flow] * model.paper_laws("momentum")[0]
    assert time not in sympy.cancel(sympy.expand(law.subs(sub))).free_symbols
    assert time in sympy.cancel(sympy.expand(model.paper_laws("gradient")[0].subs(sub))).free_symbols


@pytest.mark.parametrize("name,dims,bias", [("relu", [2, 3, 2], False), ("linear", [3, 3, 3], False),
                                            ("nmf", [3, 3, 3], False), ("icnn", [3, 2, 3], True)])
def test_many_outputs_count_through_the_gradient_flow_identity(name, dims, bias):
    """d > 8 outputs: no natural fields are built; the family is the gradient-flow fields of the same
    geometry (the same module), and the certificate names that route."""
    model = make_model(name, dims, bias=bias)
    family = vector_fields(model, "natural")
    assert len(model.phi_polynomials()) > 8
    assert family.natural_route == "gradient-flow identity" and family.natural_rank is None
    gf = vector_fields(model, Flow("gradient", 0, family.geometry))
    assert [f.components for f in family.forces] == [f.components for f in gf.forces]
    res = count_laws(model, "natural")
    assert res.laws == count_laws(model, "gradient").laws
    assert "identity with gradient flow" in res.certificate_how and res.certificate in ("proved", "probabilistic")


def test_small_natural_counts_are_cross_checked_by_the_direct_fields():
    family = vector_fields(make_model("linear", [2, 2, 2]), "natural")
    assert family.natural_route == "direct"
    res = count_laws(family)
    assert res.laws == 3 and "cross-checked by the direct construction" in res.certificate_how
    from conservation_laws.engine.lie import family_fingerprint

    assert res.fingerprint == family_fingerprint(family)  # a count of this family, whichever route


def test_cli_natural_flow_with_many_outputs():
    run = [sys.executable, "-m", "conservation_laws.interfaces.cli", "count", "--model", "relu", "--dims", "2,3,2",
           "--flow", "natural", "--json"]
    out = subprocess.run(run, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["laws"] == count_laws(make_model("relu", [2, 3, 2]), "gradient").laws
    assert "identity with gradient flow" in rec["certificate_how"]
