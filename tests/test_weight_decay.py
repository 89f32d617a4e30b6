"""Weight decay: the flows' fields against their ODEs, the counts against the closed forms, the laws,
and the full lift (several time coordinates) against the one-coordinate count.

Expected counts come from the decay-free closed forms (``closed_forms``) through the book's decay
results (``closed_forms.weight_decay``); expected laws are checked symbolically (``laws.check_law``),
independently of the solver that found them.
"""

import json
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy

jax.config.update("jax_enable_x64", True)

from conservation_laws.interfaces import cli  # noqa: E402
from conservation_laws.closed_forms import weight_decay as wd  # noqa: E402
from conservation_laws.errors import ConservationLawsError  # noqa: E402
from conservation_laws.flows import (  # noqa: E402
    Flow, TimeCoordinate, free_time_coordinates, lifted_fields, ode_rhs, vector_fields)
from conservation_laws.engine.laws import check_law, polynomial_laws, same_span  # noqa: E402
from conservation_laws.engine.lie import count_laws, lifted_count  # noqa: E402
from conservation_laws.models import make_model, phi_jax  # noqa: E402

from conservation_laws.closed_forms import two_layer_linear  # noqa: E402

S = sympy.Symbol("s", real=True)
T = sympy.Symbol("t", real=True)
# (τ, λ) in the three regimes, with rational and irrational roots, and the undamped oscillator
REGIMES = {
    "over-damped": [(3, 2), (Fraction(5, 2), 1), (3, 1)],  # roots −1, −2; −1/2, −2; (−3 ± √5)/2
    "critical": [(2, 1), (1, Fraction(1, 4))],
    "under-damped": [(2, 2), (2, 5), (1, 1), (0, 1)],  # ω = 1, 2, √3/2 (irrational), 1 (no friction)
}
HEAVY_BALL = [(tau, lam) for cases in REGIMES.values() for tau, lam in cases]
LINEAR_SHAPES = [[1, 1, 1], [1, 2, 1], [1, 3, 1], [2, 1, 2], [2, 2, 2], [2, 3, 2], [1, 3, 2], [3, 2, 1],
                 [2, 4, 1], [1, 5, 1], [2, 5, 1]]


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("lam", [-1, "-0.5", Fraction(-1, 3), "abc", float("nan"), True])
def test_bad_weight_decay(lam):
    with pytest.raises(ConservationLawsError, match="weight_decay"):
        Flow("gradient", weight_decay=lam)
    with pytest.raises(ConservationLawsError, match="weight_decay"):
        vector_fields(make_model("linear", [2, 2, 2]), "momentum", tau=1, weight_decay=lam)


def test_momentum_decay_needs_euclidean_geometry():
    with pytest.raises(ConservationLawsError, match="geometry"):
        Flow("momentum", 1, "mirror", weight_decay=1)
    with pytest.raises(ConservationLawsError, match="geometry"):
        vector_fields(make_model("nmf", [2, 2, 2]), Flow("momentum", 1, weight_decay=1))
    with pytest.raises(ConservationLawsError, match="geometry"):
        ode_rhs(make_model("icnn", [2, 2, 2]), Flow("nesterov", weight_decay=1), lambda th: th)
    # GF with decay is defined for every geometry, and momentum with decay for euclidean NMF
    vector_fields(make_model("nmf", [2, 2, 2]), Flow("gradient", weight_decay=1))
    vector_fields(make_model("nmf", [2, 2, 2]), Flow("momentum", 1, "euclidean", weight_decay=1))


def test_regimes_and_time_coordinates():
    for regime, cases in REGIMES.items():
        for tau, lam in cases:
            assert Flow("momentum", tau, weight_decay=lam).regime == regime
    assert Flow("momentum", 3, weight_decay=2).time_rate == 1  # roots −1, −2: s = e^t
    assert Flow("momentum", Fraction(5, 2), weight_decay=1).time_rate == Fraction(1, 2)  # e^{t/2}, e^{2t}
    assert Flow("momentum", 3, weight_decay=1).time_rate == Fraction(3, 2)  # irrational roots: τ/2
    assert Flow("momentum", 0, weight_decay=1).time_variable == "t"
    assert Flow("gradient", weight_decay=Fraction(1, 2)).time_expression() == sympy.exp(T / 2)
    assert Flow("gradient").time_variable is None and Flow("momentum", 2).time_rate == 2


# --- the fields are the ODEs -------------------------------------------------------------------
def _linear_loss_gradient(model, a):
    phi = phi_jax(model)
    return jax.grad(lambda th: jnp.dot(jnp.asarray(a), phi(th)))


def _value(X, point):
    return np.array([float(p.evaluate(point)) if p else 0.0 for p in X.components])


@pytest.mark.parametrize("name, dims, geometry", [("linear", [2, 3, 2], None), ("nmf", [2, 2, 3], None),
                                                  ("icnn", [2, 2, 2], None), ("relu", [2, 2, 2], None)])
def test_decayed_gradient_field_is_the_ode(name, dims, geometry):
    rng = np.random.default_rng(0)
    m = make_model(name, dims)
    flow = Flow("gradient", geometry=geometry, weight_decay=Fraction(3, 4))
    fam = vector_fields(m, flow)
    assert fam.N == m.D + 1 and fam.variable_names[0] == "s"
    a = rng.normal(size=len(fam.forces))
    theta, t = rng.uniform(0.2, 1.5, size=m.D), 0.7
    s = np.exp(0.75 * t)
    f = np.asarray(ode_rhs(m, flow, _linear_loss_gradient(m, a))(t, jnp.asarray(theta)))
    point = [s, *theta]
    field = _value(fam.drift, point) - sum(ai * _value(X, point) for ai, X in zip(a, fam.forces))
    np.testing.assert_allclose(field, np.concatenate([[0.75 * s], f]), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kind, tau, lam", [("momentum", *c) for c in HEAVY_BALL] + [("nesterov", 0, 2)])
def test_decayed_momentum_field_is_the_ode(kind, tau, lam):
    rng = np.random.default_rng(1)
    m = make_model("linear", [2, 2, 3])
    flow = Flow(kind, tau, weight_decay=lam)
    fam = vector_fields(m, flow)
    a = rng.normal(size=len(fam.forces))
    theta, v, t = rng.normal(size=m.D), rng.normal(size=m.D), 1.3
    f = np.asarray(ode_rhs(m, flow, _linear_loss_gradient(m, a))(t, jnp.asarray(np.concatenate([theta, v]))))
    if kind == "nesterov":  # drift t·(1, v, −3v/t − λθ), forces unscaled
        point, expected, factor = [t, *theta, *v], t * np.concatenate([[1.0], f]), t
    elif flow.time_rate is None:
        point, expected, factor = [t, *theta, *v], np.concatenate([[1.0], f]), 1.0
    else:
        s = np.exp(float(flow.time_rate) * t)
        point, expected, factor = [s, *theta, *v], np.concatenate([[float(flow.time_rate) * s], f]), 1.0
    field = _value(fam.drift, point) - factor * sum(ai * _value(X, point) for ai, X in zip(a, fam.forces))
    np.testing.assert_allclose(field, expected, rtol=1e-11, atol=1e-11)


# --- counts against the closed forms -----------------------------------------------------------
@pytest.mark.parametrize("dims", LINEAR_SHAPES)
def test_linear_gf_decay_count(dims):
    n, r, m_ = dims
    expected = wd.gf_decay_count(two_layer_linear("gradient", n, r, m_))
    for lam in (1, Fraction(1, 3)):
        assert count_laws(make_model("linear", dims), Flow("gradient", weight_decay=lam)).laws == expected


@pytest.mark.parametrize("dims", LINEAR_SHAPES)
def test_linear_momentum_decay_count_every_regime(dims):
    n, r, m_ = dims
    model = make_model("linear", dims)
    expected = wd.momentum_decay_count(two_layer_linear("momentum", n, r, m_))
    for tau, lam in HEAVY_BALL:
        assert count_laws(model, Flow("momentum", tau, weight_decay=lam)).laws == expected, (tau, lam)
    assert count_laws(model, Flow("nesterov", weight_decay=2)).laws == expected


@pytest.mark.parametrize("name, dims, bias", [("relu", [2, 3, 2], False), ("relu", [2, 2, 3], True),
                                              ("nmf", [2, 3, 2], False), ("linear", [2, 2, 2, 2], False),
                                              ("linear", [2, 3, 2, 2], False)])
def test_gf_decay_keeps_the_count_of_homogeneous_models(name, dims, bias):
    model = make_model(name, dims, bias=bias)
    gf = count_laws(model, "gradient").laws
    assert count_laws(model, Flow("gradient", weight_decay=2)).laws == wd.gf_decay_count(gf, model.default_geometry)


@pytest.mark.parametrize("dims, bias", [([1, 1, 1], False), ([2, 2, 2], True), ([2, 3, 2], False), ([3, 2, 3], True)])
def test_icnn_mixed_metric_loses_every_law(dims, bias):
    model = make_model("icnn", dims, bias=bias)
    assert count_laws(model, "gradient").laws == dims[1]  # one law per hidden neuron without decay
    assert count_laws(model, Flow("gradient", weight_decay=1)).laws == wd.gf_decay_count(dims[1], "mixed") == 0
    euclid = Flow("gradient", geometry="euclidean", weight_decay=1)
    assert count_laws(model, euclid).laws == count_laws(model, "gradient", geometry="euclidean").laws


# --- the laws ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, dims", [("linear", [2, 3, 2]), ("linear", [2, 2, 2, 2]), ("relu", [2, 2, 2]),
                                        ("nmf", [2, 3, 2])])
def test_gf_decay_laws_are_the_rescaled_decay_free_laws(name, dims):
    model = make_model(name, dims)
    lam = Fraction(1, 2)
    fam = vector_fields(model, Flow("gradient", weight_decay=lam))
    H = model.paper_laws("gradient")
    assert H
    # H(sθ) with s = e^{λt}: the closed form, written in the phase-space coordinate s
    in_s = [sympy.expand(h.xreplace({p: S * p for p in model.symbols})) for h in H]
    assert all(check_law(h, fam) for h in in_s)
    assert not any(check_law(h, fam) for h in H)  # the decay-free laws drift
    closed = [wd.gf_decay_law(h, model.symbols, lam) for h in H]
    assert [sympy.simplify(fam.flow.in_time(a) - b) for a, b in zip(in_s, closed)] == [0] * len(H)


def test_gf_decay_time_factor_follows_the_degree_of_the_law():
    lam = Fraction(1, 3)
    nmf = make_model("nmf", [2, 2, 2])  # linear laws, degree 1
    deep = make_model("linear", [2, 2, 2, 2])  # φ of degree 3, quadratic laws
    for model, degree in ((nmf, 1), (deep, 2)):
        res = polynomial_laws(model, Flow("gradient", weight_decay=lam), degree=degree)
        assert res.complete
        factor = wd.gf_decay_time_factor(degree, lam)
        rescaled = [sympy.expand(sympy.powsimp(g / factor)) for g in res.in_time()]
        assert all(T not in r.free_symbols for r in rescaled)
        assert same_span(rescaled, model.paper_laws("gradient"), model.symbols)


@pytest.mark.parametrize("tau, lam", HEAVY_BALL)
def test_heavy_ball_decay_charges_every_regime(tau, lam):
    model = make_model("linear", [2, 3, 2])
    flow = Flow("momentum", tau, weight_decay=lam)
    fam = vector_fields(model, flow)
    J = model.paper_laws("momentum")
    time = fam.symbols[0]
    coordinate = flow.time_expression()
    # e^{τt} as a power of the time coordinate (s = e^{γt}: s^{τ/γ}; t: τ = 0, factor 1)
    factor = S ** int(Fraction(tau) / flow.time_rate) if flow.time_rate else 1
    assert all(check_law(factor * j, fam) for j in J)
    if tau:
        assert not any(check_law(j, fam) for j in J)
    closed = [wd.momentum_decay_charge(j, "momentum", tau) for j in J]
    assert all(sympy.simplify((factor * j).subs(time, coordinate) - c) == 0 for j, c in zip(J, closed))
    res = polynomial_laws(model, flow, degree=2)
    assert res.complete and res.independent == len(J)


def test_nesterov_decay_charges():
    model = make_model("linear", [2, 2, 2])
    fam = vector_fields(model, Flow("nesterov", weight_decay=3))
    J = model.paper_laws("momentum")
    assert all(check_law(wd.momentum_decay_charge(j, "nesterov"), fam) for j in J)


# --- the full lift: relations among time coordinates are not laws -----------------------------
@pytest.mark.parametrize("tau, lam", [c for c in HEAVY_BALL if c != (1, 1)])  # (1, 1): ω irrational
@pytest.mark.parametrize("dims", [[2, 2, 2], [1, 3, 1], [2, 3, 1]])
def test_full_lift_counts_one_more_per_extra_time_coordinate(tau, lam, dims):
    model = make_model("linear", dims)
    flow = Flow("momentum", tau, weight_decay=lam)
    one = count_laws(model, flow).laws
    full = lifted_count(model, flow)
    m = len(free_time_coordinates(flow))
    assert full.relations == wd.lift_relations(m)
    assert full.lifted == one + m - 1 and full.laws == one


def test_two_exponentials_against_one():
    """GF + decay counted with s = e^{λt} and with (e^{λt}, e^{2λt}): one more on the second, and the
    same once the relation s₂ = s₁² is subtracted; t itself as the coordinate gives the same count."""
    model = make_model("linear", [2, 3, 2])
    flow = Flow("gradient", weight_decay=1)
    pair = [TimeCoordinate("s1", "exp", Fraction(1)), TimeCoordinate("s2", "exp", Fraction(2))]
    one = count_laws(model, flow).laws
    two = lifted_count(model, flow, pair)
    as_t = lifted_count(model, flow, [TimeCoordinate("t", "t")])
    assert two.lifted == one + 1 and two.laws == one == as_t.laws == as_t.lifted
    fam = lifted_fields(model, flow, pair)
    s1, s2 = fam.symbols[:2]
    assert check_law(s1**2 / s2, fam, simplify=True)  # the relation: conserved, yet not a law in t


def test_undamped_relation_is_a_polynomial_invariant():
    """τ = 0, λ = 1: C = cos t, S = sin t; C² + S² is annihilated by every field of the full lift
    (it is the constant 1 in t) and is the one extra 'law' that the subtraction removes."""
    model = make_model("linear", [2, 2, 2])
    flow = Flow("momentum", 0, weight_decay=1)
    fam = lifted_fields(model, flow)
    c, k = fam.symbols[:2]
    assert check_law(c**2 + k**2, fam)
    assert lifted_count(model, flow).lifted == count_laws(model, flow).laws + 1


def test_full_lift_irrational_frequency_is_refused():
    with pytest.raises(ConservationLawsError, match="weight_decay"):
        free_time_coordinates(Flow("momentum", 1, weight_decay=1))


# --- command line ------------------------------------------------------------------------------
@pytest.mark.parametrize("tau, lam, regime", [(3, 2, "over-damped"), (2, 1, "critical"), (2, 2, "under-damped")])
def test_cli_count_every_regime(capsys, tau, lam, regime):
    code = cli.main(["count", "--model", "linear", "--dims", "2,2,2", "--flow", "momentum", "--tau", str(tau),
                     "--weight-decay", str(lam), "--json"])
    rec = json.loads(capsys.readouterr().out)
    assert code == 0 and rec["regime"] == regime and rec["weight_decay"] == lam
    assert rec["laws"] == wd.momentum_decay_count(two_layer_linear("momentum", 2, 2, 2))


def test_cli_laws_in_time(capsys):
    assert cli.main(["laws", "--model", "linear", "--dims", "2,2,2", "--flow", "momentum", "--tau", "3",
                     "--weight-decay", "2"]) == 0
    out = capsys.readouterr().out
    assert "exp(3*t)" in out and "complete" in out
    assert cli.main(["laws", "--model", "linear", "--dims", "2,2,2", "--weight-decay", "1/2", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["complete"] and all("exp(t)" in law for law in rec["laws"])


@pytest.mark.parametrize("argv", [["--weight-decay", "-1"], ["--flow", "momentum", "--weight-decay", "x"]])
def test_cli_bad_weight_decay(capsys, argv):
    assert cli.main(["count", "--model", "linear", "--dims", "2,2,2", *argv]) == 2
    err = capsys.readouterr().err
    assert "weight_decay" in err and len(err.strip().splitlines()) == 1


def test_cli_batch_weight_decay(tmp_path, capsys):
    path = tmp_path / "cases.jsonl"
    path.write_text('{"model": "linear", "dims": [2, 2, 2], "flow": "nesterov", "weight_decay": 2}\n'
                    '{"model": "nmf", "dims": [2, 2, 2], "flow": "momentum", "weight_decay": 1}\n')
    assert cli.main(["count", "--batch", str(path), "--json", "--no-progress"]) == 1
    first, second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first["laws"] == 1 and first["weight_decay"] == 2 and "geometry" in second["error"]


# --- discrete SGD with momentum and weight decay, the drift bound, the sign flow ---------------
def _tiny_problem(dims=(2, 3, 2), n=12):
    model = make_model("linear", list(dims))
    rng = np.random.default_rng(3)
    return model, rng.normal(size=(n, dims[-1])), rng.normal(size=(n, dims[0]))


def test_sgd_is_pytorch_sgd():
    """One seed against a hand-written loop of PyTorch's update, with the same minibatches."""
    from conservation_laws.simulation import simulate as sim

    model, x, y = _tiny_problem()
    theta0 = model.random_parameters(0)
    run = sim.sgd(model.loss, theta0, x, y, 0.05, 6, 4, momentum=0.8, weight_decay=0.1, seeds=[5])
    keys = jax.random.split(jax.random.PRNGKey(5), 6)
    grad = jax.grad(model.loss)
    theta, buf = jnp.asarray(theta0), jnp.zeros(model.D)
    for k in range(6):
        idx = jax.random.randint(keys[k], (4,), 0, len(x))
        buf = 0.8 * buf + grad(theta, jnp.asarray(x)[idx], jnp.asarray(y)[idx]) + 0.1 * theta
        theta = theta - 0.05 * buf
        np.testing.assert_allclose(run.theta[0, k + 1], theta, rtol=1e-12, atol=1e-14)


def test_sgd_momentum_charge_is_exact():
    """R_k = U_kᵀU_{k+1} − U_{k+1}ᵀU_k + (V likewise) obeys R_k = μ R_{k−1} exactly (any minibatches, any
    weight decay): μ^{−k}R_k is conserved to round-off, while R_k itself decays like μ^k."""
    from conservation_laws.simulation import simulate as sim

    model, x, y = _tiny_problem()
    theta0 = model.random_parameters(1)
    buf0 = np.random.default_rng(2).normal(size=model.D)
    mu, lr = 0.9, 0.02
    run = sim.sgd(model.loss, theta0, x, y, lr, 40, 5, momentum=mu, weight_decay=0.3, seeds=[0, 1], buffer0=buf0)
    prev = np.concatenate([theta0[None] + lr * buf0[None], run.theta[0, :-1]])
    charges = np.array([sim.linear_charge(model, a, b) for a, b in zip(prev, run.theta[0])])
    scaled = charges / mu ** np.arange(len(charges))[:, None, None]
    np.testing.assert_allclose(scaled, np.broadcast_to(scaled[0], scaled.shape), rtol=1e-8, atol=1e-12)
    assert np.abs(charges[-1]).max() < 0.1 * np.abs(charges[0]).max()


def test_sgd_drift_below_the_bound():
    from conservation_laws.simulation import simulate as sim

    model = make_model("relu", [2, 3, 2])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    run = sim.sgd(model.loss, model.random_parameters(0), x, y, 0.05, 50, 8, seeds=range(4))
    out = sim.sgd_law_drift(run, lambda th: model.neuron_laws(th).sum(axis=-1), hessian_bound=2.0)
    assert np.all(out["drift"] <= out["bound"] + 1e-12) and out["drift"][-1] > 0


def test_sign_span():
    from conservation_laws.simulation import simulate as sim

    assert sim.sign_span(make_model("linear", [1, 1, 1]), 30)["laws"] == 1  # |u| − |v|
    assert sim.sign_span(make_model("linear", [2, 2, 2]), 200)["laws"] == 0
    with pytest.raises(ConservationLawsError, match="n_datasets"):
        sim.sign_span(make_model("linear", [1, 1, 1]), 0)


def test_sweep_weight_decays():
    from conservation_laws.interfaces.sweep import expand_spec
    from conservation_laws.interfaces.sweep.runner import compute_case

    cases = expand_spec({"model": "linear", "dims": [2, 2, 2], "flows": ["gradient", "momentum"],
                         "tau": 3, "weight_decays": [0, 2]})
    assert [c.get("weight_decay") for c in cases] == [None, 2, None, 2]  # one number rule (cases.json_number)
    laws = [compute_case(c)["laws"] for c in cases]
    assert laws == [two_layer_linear("gradient", 2, 2, 2)] * 2 + [two_layer_linear("momentum", 2, 2, 2)] * 2
    with pytest.raises(ConservationLawsError, match="weight_decay"):
        expand_spec({"model": "linear", "dims": [2, 2, 2], "weight_decay": -1})


def test_natural_flow_has_no_time_and_no_decay():
    assert Flow("natural").time_variable is None
    with pytest.raises(ConservationLawsError, match="weight_decay"):
        Flow("natural", weight_decay=1)


def test_sgd_decay_rescaled_law_drifts_at_second_order():
    """SGD + decay: h(θ_{k+1}) = (1 − ηλ)² h(θ_k) + η² h(g_k) for a quadratic law with ⟨∇h, g⟩ = 0, so the
    rescaled (1 − ηλ)^{−2k} h drifts at order η² while h itself decays at order ηλ."""
    from conservation_laws.simulation import simulate as sim

    model = make_model("relu", [2, 3, 2])
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    lr, lam = 0.01, 0.5
    run = sim.sgd(model.loss, model.random_parameters(0), x, y, lr, 40, 8, weight_decay=lam, seeds=[0])
    h = model.neuron_laws(run.theta[0]).sum(axis=-1)
    rescaled = h * (1 - lr * lam) ** (-2.0 * run.iterations)
    raw_drift, rescaled_drift = abs(h[-1] - h[0]), abs(rescaled[-1] - rescaled[0])
    assert raw_drift > 0.1 * abs(h[0]) * (1 - (1 - lr * lam) ** 80) and rescaled_drift < 0.05 * raw_drift
