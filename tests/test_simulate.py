"""Simulation: RK4 accuracy, closed forms, conserved laws along flows, discrete optimisers, data."""

import jax.numpy as jnp
import numpy as np
import pytest
import sympy

from conservation_laws.simulation import simulate as sim
from conservation_laws.simulation.data import digit_images, digits, regression_problem
from conservation_laws.errors import ConservationLawsError
from conservation_laws.flows import Flow
from conservation_laws.models import make_model


def test_float64_inside_without_changing_the_global_setting():
    import jax

    before = jax.config.jax_enable_x64
    traj = sim.integrate(lambda t, y: -y, np.ones(1), 0.0, 1.0, 100)
    # float64 RK4 with h = 0.01: error ~ h^4 e^-1 / 120 ≈ 3e-11 (float32 alone rounds at ~6e-8)
    assert traj.y.dtype == np.float64 and abs(traj.y[-1, 0] - np.exp(-1.0)) < 1e-9
    assert jax.config.jax_enable_x64 == before


# --- the integrator ------------------------------------------------------------------------------
def rk4_error(rhs, exact, y0, t1, steps):
    traj = sim.integrate(rhs, y0, 0.0, t1, steps)
    return np.max(np.abs(traj.y[-1] - exact(t1)))


def test_rk4_fourth_order_decay():
    errs = [rk4_error(lambda t, y: -y, lambda t: np.exp(-t) * np.array([1.0, 2.0]), [1.0, 2.0], 2.0, n) for n in (20, 40, 80)]
    ratios = [errs[0] / errs[1], errs[1] / errs[2]]
    assert all(15 < r < 17 for r in ratios), ratios


def test_rk4_fourth_order_harmonic_and_time_dependent():
    # harmonic oscillator y = (q, p), q'' = −q
    osc = [rk4_error(lambda t, y: jnp.array([y[1], -y[0]]), lambda t: np.array([np.cos(t), -np.sin(t)]), [1.0, 0.0], 3.0, n) for n in (10, 20, 40)]
    assert 14 < osc[1] / osc[2] < 17.5, osc
    # non-autonomous y' = cos(t) y, y = exp(sin t): checks the stage times t + h/2, t + h
    na = [rk4_error(lambda t, y: jnp.cos(t) * y, lambda t: np.exp(np.sin(t)), [1.0], 2.0, n) for n in (10, 20, 40)]
    assert 13 < na[1] / na[2] < 18, na


def test_integrate_saving():
    traj = sim.integrate(lambda t, y: jnp.ones_like(y), [0.0], 1.0, 3.0, 10, save_every=5)
    np.testing.assert_allclose(traj.t, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(traj.y[:, 0], [0.0, 1.0, 2.0])
    assert len(traj) == 3


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        (dict(steps=0), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(save_every=3), "save_every"),
        (dict(t1=0.0), "t1"),
        (dict(t0=float("nan")), "t0"),
        (dict(y0=[[1.0, 2.0]]), "y0"),
        (dict(rhs=lambda t, y: y[:1], y0=[1.0, 2.0]), "rhs"),
        (dict(rhs="f"), "rhs"),
    ],
)
def test_integrate_bad_input(kwargs, parameter):
    args = dict(rhs=lambda t, y: -y, y0=[1.0], t0=0.0, t1=1.0, steps=10, save_every=1)
    args.update(kwargs)
    with pytest.raises(ConservationLawsError, match=parameter):
        sim.integrate(**args)


# --- closed forms --------------------------------------------------------------------------------
def zero_grad(theta):
    return jnp.zeros_like(theta)


def test_free_momentum_closed_form():
    """θ'' + τθ' = 0: θ(t) = θ0 + v0(1 − e^{−τt})/τ, v(t) = v0 e^{−τt}."""
    m = make_model("product", [3])
    tau, theta0, v0 = 0.8, np.array([1.0, -2.0, 0.5]), np.array([0.3, 1.0, -2.0])
    traj = sim.simulate_flow(m, "momentum", zero_grad, theta0, v0, t1=3.0, steps=3000, save_every=300, tau=tau)
    t = traj.t[:, None]
    np.testing.assert_allclose(traj.theta(), theta0 + v0 * (1 - np.exp(-tau * t)) / tau, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(traj.velocity(), v0 * np.exp(-tau * t), rtol=1e-12, atol=1e-13)


def test_nesterov_free_closed_form():
    """θ'' + (3/t)θ' = 0 from t0 = 1: v = v0 t^{-3}, θ = θ0 + v0 (1 − t^{-2})/2."""
    m = make_model("product", [2])
    theta0, v0 = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    traj = sim.simulate_flow(m, "nesterov", zero_grad, theta0, v0, t1=4.0, steps=600, save_every=60)
    assert traj.t[0] == 1.0
    t = traj.t[:, None]
    np.testing.assert_allclose(traj.velocity(), v0 * t**-3, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(traj.theta(), theta0 + v0 * (1 - t**-2) / 2, rtol=1e-9, atol=1e-12)


def test_heavy_ball_on_quadratic_closed_form():
    """θ'' + τθ' + kθ = 0 (E = kθ²/2), underdamped: θ = e^{−τt/2}(θ0 cos ωt + (v0 + τθ0/2) sin(ωt)/ω)."""
    m = make_model("product", [1])
    k, tau, th0, v0 = 4.0, 0.6, 1.5, -0.4
    w = np.sqrt(k - tau**2 / 4)
    traj = sim.simulate_flow(m, Flow("momentum", tau), lambda th: k * th, [th0], [v0], t1=5.0, steps=2000, save_every=100)
    t = traj.t
    exact = np.exp(-tau * t / 2) * (th0 * np.cos(w * t) + (v0 + tau * th0 / 2) * np.sin(w * t) / w)
    np.testing.assert_allclose(traj.theta()[:, 0], exact, atol=1e-11)


# --- laws along flows ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def linear_net():
    m = make_model("linear", [2, 3, 2])
    data = regression_problem(m, n_samples=10, seed=0)
    theta0 = m.random_parameters(seed=1)
    v0 = np.random.default_rng(2).normal(size=m.D)
    return m, data, theta0, v0


def test_gf_linear_keeps_Q(linear_net):
    m, data, theta0, _ = linear_net
    traj = sim.simulate_flow(m, "gradient", data, theta0, t1=2.0, steps=2000, save_every=100)
    Q = sim.evaluate_laws(m.paper_laws("gradient"), m.variable_names, traj)
    assert Q.shape == (21, 6)
    assert np.max(sim.relative_drift(Q)) < 1e-9
    # the loss went down: the flow really moved
    loss = [float(m.loss(th, *data)) for th in traj.theta()[[0, -1]]]
    assert loss[1] < 0.9 * loss[0]
    assert np.max(np.abs(traj.theta()[-1] - theta0)) > 0.1


def test_heavy_ball_keeps_scaled_J(linear_net):
    m, data, theta0, v0 = linear_net
    tau = 0.5
    traj = sim.simulate_flow(m, "momentum", data, theta0, v0, t1=2.0, steps=2000, save_every=100, tau=tau)
    J = m.paper_laws("momentum")
    s = sympy.Symbol("s", real=True)
    sJ = sim.evaluate_laws([s * j for j in J], m.variable_names, traj, time_variable="s", tau=tau)
    assert np.max(sim.relative_drift(sJ)) < 1e-10
    # J alone decays, the GF law Q drifts by O(1) relative amounts
    Jt = sim.evaluate_laws(J, m.variable_names, traj)
    np.testing.assert_allclose(Jt[-1], Jt[0] * np.exp(-tau * 2.0), rtol=1e-9)
    Q = sim.evaluate_laws(m.paper_laws("gradient"), m.variable_names, traj)
    assert np.max(sim.relative_drift(Q)) > 1e-2


def test_nesterov_keeps_t3_J(linear_net):
    m, data, theta0, v0 = linear_net
    traj = sim.simulate_flow(m, "nesterov", data, theta0, v0, t1=3.0, steps=2000, save_every=100)
    t = sympy.Symbol("t", real=True)
    h = sim.evaluate_laws([t**3 * j for j in m.paper_laws("momentum")], m.variable_names, traj, time_variable="t")
    assert np.max(sim.relative_drift(h)) < 1e-10


@pytest.mark.parametrize("name, dims, bias", [("relu", [2, 3, 2], True), ("icnn", [2, 3, 2], True), ("nmf", [3, 2, 3], False)])
def test_gf_keeps_paper_laws(name, dims, bias):
    m = make_model(name, dims, bias=bias)
    data = regression_problem(m, n_samples=8, seed=3)
    theta0 = m.random_parameters(seed=4, scale=0.7)
    traj = sim.simulate_flow(m, "gradient", data, theta0, t1=1.0, steps=1000, save_every=100)
    h = sim.evaluate_laws(m.paper_laws(), m.variable_names, traj)
    # NMF is smooth: RK4 keeps its laws to ~1e-12. With ReLUs, a step where a sample crosses a kink
    # of the activation loses RK4's order (its local error is O(h²) there), hence the looser bound.
    assert np.max(sim.relative_drift(h)) < (1e-9 if name == "nmf" else 1e-7)
    if name == "nmf":
        assert np.all(traj.theta() > 0)


def test_mirror_momentum_breaks_nmf_law():
    m = make_model("nmf", [3, 2, 3])
    X, _ = regression_problem(m, seed=3)
    theta0 = m.random_parameters(seed=4)
    traj = sim.simulate_flow(m, "momentum", X, theta0, t1=1.0, steps=500, save_every=50, tau=1.0)
    h = sim.evaluate_laws(m.paper_laws(), m.variable_names, traj)
    assert np.max(sim.relative_drift(h)) > 1e-3


def test_evaluate_laws_conventions():
    traj = sim.Trajectory(np.array([0.0, 1.0]), np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]), D=2)
    names = ["U[0,0]", "V[0,0]"]
    # symbols match by name, whatever their assumptions
    U, V, dU = sympy.Symbol("U[0,0]"), sympy.Symbol("V[0,0]", real=True), sympy.Symbol("U'[0,0]", real=True)
    s, t = sympy.Symbol("s"), sympy.Symbol("t")
    out = sim.evaluate_laws([U * V, dU, s, sympy.Integer(2)], names, traj, time_variable="s", tau=2.0)
    np.testing.assert_allclose(out, [[2.0, 3.0, 1.0, 2.0], [30.0, 7.0, np.exp(2.0), 2.0]])
    np.testing.assert_allclose(sim.evaluate_laws(t * U, names, traj, time_variable="t"), [[0.0], [5.0]])
    with pytest.raises(ConservationLawsError, match="expressions"):
        sim.evaluate_laws(U * sympy.Symbol("W"), names, traj)
    with pytest.raises(ConservationLawsError, match="expressions"):
        sim.evaluate_laws(t * U, names, traj)  # no time variable declared
    with pytest.raises(ConservationLawsError, match="tau"):
        sim.evaluate_laws(s * U, names, traj, time_variable="s")
    with pytest.raises(ConservationLawsError, match="time_variable"):
        sim.evaluate_laws(U, names, traj, time_variable="x")
    gf = sim.Trajectory(traj.t, traj.y[:, :2], D=2)
    with pytest.raises(ConservationLawsError, match="velocity"):
        sim.evaluate_laws(dU, names, gf)
    with pytest.raises(ConservationLawsError, match="D"):
        gf.velocity()


def test_relative_drift_normalisation():
    v = np.array([[2.0, 0.0], [2.2, 1e-3], [1.9, -2e-3]])
    # denominators max(|h(0)|, max_k |h_k(0)| = 2)
    np.testing.assert_allclose(sim.relative_drift(v), [0.1, 1e-3])
    np.testing.assert_allclose(sim.relative_drift(v, scale=1e-3), [0.1, 2.0])
    assert sim.relative_drift(np.array([0.0, 1e-3])) == pytest.approx(1e-3)  # all start at 0: scale 1
    assert sim.drift_history(v).shape == v.shape
    with pytest.raises(ConservationLawsError, match="values"):
        sim.relative_drift(np.zeros((2, 2, 2)))


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        (dict(theta0=np.zeros(5)), "theta0"),
        (dict(v0=np.zeros(12)), "v0"),
        (dict(flow="nesterov", t0=0.0), "t0"),
        (dict(flow="adam"), "flow"),
        (dict(flow="momentum", tau=-1), "tau"),
        (dict(model="linear"), "model"),
        (dict(steps=-3), "steps"),
    ],
)
def test_simulate_flow_bad_input(linear_net, kwargs, parameter):
    m, data, theta0, _ = linear_net
    args = dict(model=m, flow="gradient", loss_grad_or_data=data, theta0=theta0, t1=1.0, steps=10)
    args.update(kwargs)
    with pytest.raises(ConservationLawsError, match=parameter):
        sim.simulate_flow(**args)


# --- discrete optimisers -------------------------------------------------------------------------
A = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
B = np.array([1.0, -2.0, 0.5])
X_STAR = np.linalg.solve(A, B)


def quadratic(theta):
    return 0.5 * theta @ jnp.asarray(A) @ theta - jnp.asarray(B) @ theta


def test_momentum_coefficients():
    alpha, beta = sim.momentum_coefficients(0.5, 1.0, 0.1)
    assert alpha == pytest.approx(0.1 / (1.0 + 0.5 / 0.1)) and alpha == pytest.approx(1 / 60)
    assert beta == pytest.approx(0.5 / (0.1 * 1.0 + 0.5)) and beta == pytest.approx(5 / 6)
    assert sim.momentum_coefficients(0.0, 2.0, 0.1) == pytest.approx((0.05, 0.0))  # μ = 0: GD with step δ/ν
    assert sim.momentum_coefficients(1.0, 0.0, 0.1) == pytest.approx((0.01, 1.0))  # ν = 0: no friction
    for kwargs, parameter in [((-1, 1, 0.1), "mu"), ((1, -1, 0.1), "nu"), ((1, 1, 0), "delta"), ((1, 1, -0.1), "delta"), ((0, 0, 0.1), "nu"), (("a", 1, 1), "mu")]:
        with pytest.raises(ConservationLawsError, match=parameter):
            sim.momentum_coefficients(*kwargs)


@pytest.mark.parametrize("method", ["gd", "heavy_ball", "nesterov"])
def test_optimisers_reduce_a_quadratic(method):
    theta0 = np.array([2.0, 2.0, -3.0])
    if method == "gd":
        run = sim.gradient_descent(quadratic, theta0, 0.2, 200, save_every=20)
    else:
        alpha, beta = sim.momentum_coefficients(1.0, 2.0, 0.3)
        run = getattr(sim, method)(quadratic, theta0, alpha, beta, 200, save_every=20)
    theta, loss = run
    assert theta.shape == (11, 3) and loss.shape == (201,)
    np.testing.assert_array_equal(run.iterations, np.arange(0, 201, 20))
    np.testing.assert_allclose(theta[0], theta0)
    assert loss[0] == pytest.approx(float(quadratic(jnp.asarray(theta0))))
    assert loss[-1] < loss[0]
    np.testing.assert_allclose(theta[-1], X_STAR, atol=1e-6)
    assert loss[-1] == pytest.approx(float(quadratic(jnp.asarray(theta[-1]))))


def test_heavy_ball_with_no_momentum_is_gd_and_nesterov_differs():
    theta0 = np.array([1.0, 0.0, 2.0])
    gd = sim.gradient_descent(quadratic, theta0, 0.1, 30)
    hb = sim.heavy_ball(quadratic, theta0, 0.1, 0.0, 30)
    np.testing.assert_allclose(hb.theta, gd.theta, rtol=1e-14)
    hb2 = sim.heavy_ball(quadratic, theta0, 0.1, 0.5, 30)
    nv = sim.nesterov(quadratic, theta0, 0.1, 0.5, 30)
    np.testing.assert_allclose(hb2.theta[:2], nv.theta[:2])  # x_1 agrees (zero initial velocity)
    assert np.max(np.abs(hb2.theta[2:] - nv.theta[2:])) > 1e-3
    # one hand-computed heavy-ball step from (x_0, x_1)
    g = A @ hb2.theta[1] - B
    np.testing.assert_allclose(hb2.theta[2], hb2.theta[1] - 0.1 * g + 0.5 * (hb2.theta[1] - hb2.theta[0]))


def test_heavy_ball_discretises_the_momentum_ode():
    """x_k with (α, β) = momentum_coefficients(μ=1, ν=τ, δ) tracks θ(kδ) of θ'' + τθ' = −∇f, error O(δ)."""
    tau, T = 0.7, 2.0
    theta0 = np.array([1.0, -1.0, 0.5])
    ode = sim.integrate(lambda t, y: jnp.concatenate([y[3:], -tau * y[3:] - (jnp.asarray(A) @ y[:3] - jnp.asarray(B))]), np.concatenate([theta0, np.zeros(3)]), 0.0, T, 400)
    errors = []
    for n in (200, 400):
        delta = T / n
        run = sim.heavy_ball(quadratic, theta0, *sim.momentum_coefficients(1.0, tau, delta), n)
        errors.append(np.max(np.abs(run.theta[-1] - ode.y[-1, :3])))
    assert errors[1] < 0.2 and 1.6 < errors[0] / errors[1] < 2.5, errors


def test_mirror_gd_keeps_positivity_and_exponentiated_step():
    c = np.array([1.0, -1.0, 0.5, -2.0])  # the minimiser over θ > 0 sits on the boundary for c < 0

    def f(theta):
        return 0.5 * jnp.sum((theta - jnp.asarray(c)) ** 2)

    theta0 = np.full(4, 0.5)
    run = sim.gradient_descent(f, theta0, 0.5, 200, geometry_mask=[True] * 4, save_every=10)
    assert np.all(run.theta > 0)
    assert run.loss[-1] < run.loss[0]
    np.testing.assert_allclose(run.theta[-1, [0, 2]], c[[0, 2]], rtol=1e-6)
    assert np.all(run.theta[-1, [1, 3]] < 1e-6)
    one = sim.gradient_descent(f, theta0, 0.5, 1, geometry_mask=[True, False, True, False])
    g = theta0 - c
    np.testing.assert_allclose(one.theta[1], np.where([True, False, True, False], theta0 * np.exp(-0.5 * g), theta0 - 0.5 * g))
    # Euclidean GD would leave the orthant
    euclid = sim.gradient_descent(f, theta0, 0.5, 50)
    assert np.any(euclid.theta[-1] < 0)


def test_mirror_heavy_ball_metric():
    """On mirror coordinates α H_k = αν(x_k + β/(1−β)(x_k − x_{k−1})), i.e. H_k = νx_k + (μ/δ)(x_k − x_{k−1})."""
    mu, nu, delta = 2.0, 1.0, 0.1
    alpha, beta = sim.momentum_coefficients(mu, nu, delta)
    c = np.array([1.0, 2.0])

    def f(theta):
        return 0.5 * jnp.sum((theta - jnp.asarray(c)) ** 2)

    theta0 = np.array([0.5, 0.5])
    run = sim.heavy_ball(f, theta0, alpha, beta, 3, geometry_mask=[True, True], nu=nu)
    x0, x1, x2 = run.theta[:3]
    np.testing.assert_allclose(x1, x0 - alpha * nu * x0 * (x0 - c))
    H = mu * (x1 - x0) / delta + nu * x1
    np.testing.assert_allclose(x2, x1 - alpha * H * (x1 - c) + beta * (x1 - x0))
    nv = sim.nesterov(f, theta0, alpha, beta, 3, geometry_mask=[True, True], nu=nu)
    np.testing.assert_allclose(nv.theta[1], x1)


def test_gd_drift_of_Q_is_first_order_in_the_step(linear_net):
    """Discrete GD keeps the GF law up to O(δ) at a fixed horizon (O(δ²) per step)."""
    m, data, theta0, _ = linear_net
    Qs = m.paper_laws()
    drifts = []
    for n in (50, 100):
        run = sim.gradient_descent(lambda th: m.loss(th, *data), theta0, 1.0 / n, n)
        traj = sim.Trajectory(run.iterations / n, run.theta, D=m.D)
        drifts.append(np.max(sim.relative_drift(sim.evaluate_laws(Qs, m.variable_names, traj))))
    assert drifts[1] < 1e-2 and 1.6 < drifts[0] / drifts[1] < 2.5, drifts


@pytest.mark.parametrize(
    "fn, kwargs, parameter",
    [
        ("gradient_descent", dict(step=-0.1), "step"),
        ("gradient_descent", dict(step=0.0), "step"),
        ("gradient_descent", dict(steps=0), "steps"),
        ("gradient_descent", dict(theta0=np.zeros((3, 1))), "theta0"),
        ("gradient_descent", dict(geometry_mask=[True, False]), "geometry_mask"),
        ("gradient_descent", dict(geometry_mask=[True, True, True], theta0=np.array([1.0, -1.0, 1.0])), "theta0"),
        ("gradient_descent", dict(save_every=7), "save_every"),
        ("gradient_descent", dict(loss=lambda th: th), "loss"),
        ("gradient_descent", dict(loss=3.0), "loss"),
        ("heavy_ball", dict(alpha=-0.1), "alpha"),
        ("heavy_ball", dict(beta=1.5), "beta"),
        ("heavy_ball", dict(beta=-0.1), "beta"),
        ("heavy_ball", dict(beta=1.0, geometry_mask=[True] * 3, theta0=np.ones(3)), "beta"),
        ("nesterov", dict(nu=-1.0), "nu"),
        ("nesterov", dict(nu=0.0, geometry_mask=[True] * 3, theta0=np.ones(3)), "nu"),
    ],
)
def test_optimiser_bad_input(fn, kwargs, parameter):
    args = dict(loss=quadratic, theta0=np.zeros(3), steps=10)
    if fn == "gradient_descent":
        args["step"] = 0.1
    else:
        args.update(alpha=0.1, beta=0.5)
    args.update(kwargs)
    with pytest.raises(ConservationLawsError, match=parameter):
        getattr(sim, fn)(**args)


# --- data ----------------------------------------------------------------------------------------
def test_regression_problem_shapes():
    for name, dims, x_shape, y_shape in [
        ("linear", [2, 3, 4], (7, 4), (7, 2)),
        ("relu", [3, 2, 2, 5], (7, 5), (7, 3)),
        ("icnn", [1, 3, 2], (7, 2), (7, 1)),
        ("product", [3], (7, 1), (7, 1)),
    ]:
        m = make_model(name, dims)
        x, y = regression_problem(m, n_samples=7, seed=0)
        assert x.shape == x_shape and y.shape == y_shape
        assert np.asarray(m.predict(m.random_parameters(), x)).shape == y_shape
        assert np.isfinite(float(m.loss(m.random_parameters(), x, y)))
    X, y = regression_problem(make_model("nmf", [3, 2, 4]), seed=1)
    assert X.shape == (3, 4) and y is None and np.all(X > 0)
    p = make_model("polynomial", phi=["a*b", "a+b"])
    x, y = regression_problem(p, 4)
    assert np.asarray(p.predict(np.ones(2), x)).shape == y.shape == (4, 2)
    a1, _ = regression_problem(make_model("linear", [2, 2, 2]), 5, seed=3)
    a2, _ = regression_problem(make_model("linear", [2, 2, 2]), 5, seed=3)
    np.testing.assert_array_equal(a1, a2)
    with pytest.raises(ConservationLawsError, match="n_samples"):
        regression_problem(make_model("linear", [2, 2, 2]), 0)
    with pytest.raises(ConservationLawsError, match="model"):
        regression_problem("linear", 5)


def test_digits():
    d = digits()
    assert d.images.shape == (1797, 64) and d.labels.shape == (1797,) and d.one_hot.shape == (1797, 10)
    assert d.images.min() == 0.0 and d.images.max() == 1.0
    np.testing.assert_array_equal(d.one_hot.argmax(axis=1), d.labels)
    images, labels, one_hot = digits(classes=[3, 8], n_samples=50, seed=1)
    assert images.shape == (50, 64) and set(labels) <= {3, 8} and one_hot.shape == (50, 10)
    with pytest.raises(ConservationLawsError, match="classes"):
        digits(classes=[10])
    with pytest.raises(ConservationLawsError, match="n_samples"):
        digits(n_samples=10**6)


def test_digit_images():
    X = digit_images(3, shift=0.01)
    n = int(np.sum(digits().labels == 3))
    assert X.shape == (n, 64)
    assert X.min() >= 0.01 and X.max() <= 1.01 and X.min() > 0
    assert digit_images(0, n_images=20).shape == (20, 64)
    with pytest.raises(ConservationLawsError, match="shift"):
        digit_images(3, shift=0)
    with pytest.raises(ConservationLawsError, match="classes"):
        digit_images(12)
