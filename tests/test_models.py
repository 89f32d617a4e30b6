"""Models: φ (exact polynomials) against the JAX forward maps, gradients, the paper's laws, bad input."""

import itertools

import jax
import numpy as np
import pytest
import sympy

jax.config.update("jax_enable_x64", True)

from conservation_laws.errors import ConservationLawsError  # noqa: E402
from conservation_laws.flows import vector_fields  # noqa: E402
from conservation_laws.models import ICNN, NMF, LinearNet, PolynomialModel, ProductToy, ReLUNet, make_model, phi_jax  # noqa: E402
from conservation_laws.algebra.polynomial import gradient  # noqa: E402

RNG = np.random.default_rng(1234)

MODELS = {
    "linear-2": lambda: make_model("linear", [2, 3, 2]),
    "linear-4": lambda: make_model("linear", [3, 2, 2, 2, 2]),
    "relu": lambda: make_model("relu", [2, 3, 2]),
    "relu-bias": lambda: make_model("relu", [2, 3, 2], bias=True),
    "relu-deep-bias": lambda: make_model("relu", [2, 2, 3, 2], bias=True),
    "nmf": lambda: make_model("nmf", [2, 3, 2]),
    "icnn": lambda: make_model("icnn", [2, 3, 2]),
    "icnn-bias": lambda: make_model("icnn", [2, 3, 2], bias=True),
    "product": lambda: make_model("product", [4]),
    "polynomial": lambda: make_model("polynomial", phi=["u1*v1 + u2*v2", "u1^2 - 3*v2 + 1/2", "(u1 - v1)**3"]),
}


def phi_values(model, theta):
    return np.array([float(p.evaluate(list(theta))) for p in model.phi_polynomials()])


def test_make_model_types():
    assert isinstance(MODELS["linear-2"](), LinearNet)
    assert isinstance(MODELS["relu"](), ReLUNet)
    assert isinstance(MODELS["nmf"](), NMF)
    assert isinstance(MODELS["icnn"](), ICNN)
    assert isinstance(MODELS["product"](), ProductToy)
    assert isinstance(MODELS["polynomial"](), PolynomialModel)


@pytest.mark.parametrize(
    "key, D, d",
    [
        ("linear-2", 2 * 3 + 2 * 3, 4),
        ("linear-4", 6 + 4 + 4 + 4, 6),
        ("relu", 12, 12),
        ("relu-bias", 15, 12 + 6),
        ("relu-deep-bias", 4 + 6 + 6 + 2 + 3, 24 + 4 + 12),
        ("nmf", 12, 4),
        ("icnn", 12, 12),
        ("icnn-bias", 15, 18),
        ("product", 4, 1),
        ("polynomial", 4, 3),
    ],
)
def test_sizes(key, D, d):
    m = MODELS[key]()
    assert m.D == D == len(m.variable_names) == len(m.symbols)
    assert len(m.phi_polynomials()) == d


# --- φ against the forward maps ----------------------------------------------------------------
def test_linear_two_layer_phi_is_UVt_and_predict():
    m = MODELS["linear-2"]()
    theta = RNG.normal(size=m.D)
    b = m.unflatten(theta)
    assert b["U"].shape == (2, 3) and b["V"].shape == (2, 3)
    np.testing.assert_allclose(phi_values(m, theta).reshape(2, 2), b["U"] @ b["V"].T, rtol=1e-12)
    x = RNG.normal(size=(5, 2))
    np.testing.assert_allclose(np.asarray(m.predict(theta, x)), x @ (b["U"] @ b["V"].T).T, rtol=1e-12)


def test_linear_deep_phi_is_product():
    m = MODELS["linear-4"]()
    theta = RNG.normal(size=m.D)
    mats = [np.asarray(W) for W in m.matrices(theta)]
    P = np.linalg.multi_dot(mats)
    assert P.shape == (3, 2)  # dims[0] output, dims[-1] input
    np.testing.assert_allclose(phi_values(m, theta).reshape(P.shape), P, rtol=1e-12)
    x = RNG.normal(size=(4, 2))
    np.testing.assert_allclose(np.asarray(m.predict(theta, x)), x @ P.T, rtol=1e-12)


def relu_by_paths(m, theta, x):
    """Σ_paths φ_path·(activations along the path)·x_in (+ bias paths), on x's activation region."""
    blocks = {k: np.asarray(v) for k, v in m.unflatten(theta).items()}
    q = m.depth
    # forward pass recording the activation pattern of each hidden layer l = q-1, ..., 1
    act, h = {}, x
    for l in range(q, 0, -1):
        h = blocks[f"U{l}"] @ h
        if l > 1:
            if m.bias:
                h = h + blocks[f"b{l - 1}"]
            act[l - 1] = (h > 0).astype(float)
            h = np.maximum(h, 0)
    phis = phi_values(m, theta)
    out = np.zeros(m.dims[0])
    it = iter(phis)
    for path in itertools.product(*[range(d) for d in m.dims]):
        gate = np.prod([act[l][path[l]] for l in range(1, q)])
        out[path[0]] += next(it) * gate * x[path[q]]
    if m.bias:
        for l in range(1, q):
            for path in itertools.product(*[range(d) for d in m.dims[: l + 1]]):
                gate = np.prod([act[k][path[k]] for k in range(1, l + 1)])
                out[path[0]] += next(it) * gate
    assert next(it, None) is None
    return out, h


@pytest.mark.parametrize("key", ["relu", "relu-bias", "relu-deep-bias"])
def test_relu_predict_is_sum_over_paths(key):
    m = MODELS[key]()
    for trial in range(5):
        theta = RNG.normal(size=m.D)
        x = RNG.normal(size=m.dims[-1])
        by_paths, direct = relu_by_paths(m, theta, x)
        np.testing.assert_allclose(by_paths, direct, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(m.predict(theta, x[None]))[0], by_paths, rtol=1e-10, atol=1e-12)


def test_nmf_phi_is_UV():
    m = MODELS["nmf"]()
    theta = m.random_parameters(seed=3)
    assert np.all(theta > 0)
    b = m.unflatten(theta)
    np.testing.assert_allclose(phi_values(m, theta).reshape(2, 2), b["U"] @ b["V"], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(m.reconstruction(theta)), b["U"] @ b["V"], rtol=1e-12)


@pytest.mark.parametrize("key", ["icnn", "icnn-bias"])
def test_icnn_predict_on_activation_region(key):
    m = MODELS[key]()
    n1, n2, n3 = m.dims
    theta = m.random_parameters(seed=5)
    b = m.unflatten(theta)
    assert np.all(np.asarray(b["U"]) > 0)
    phis = phi_values(m, theta)
    W = phis[: n1 * n2 * n3].reshape(n1, n2, n3)
    for _ in range(4):
        x = RNG.normal(size=n3)
        pre = np.asarray(b["V"]) @ x + (np.asarray(b["b"]) if m.bias else 0)
        a = (pre > 0).astype(float)
        out = np.einsum("ikj,k,j->i", W, a, x)
        if m.bias:
            out += phis[n1 * n2 * n3 :].reshape(n1, n2) @ a
        np.testing.assert_allclose(np.asarray(m.predict(theta, x[None]))[0], out, rtol=1e-10, atol=1e-12)


def test_product_and_polynomial_forward():
    m = MODELS["product"]()
    theta = RNG.normal(size=4)
    assert phi_values(m, theta)[0] == pytest.approx(np.prod(theta), rel=1e-12)
    x = RNG.normal(size=(3, 1))
    np.testing.assert_allclose(np.asarray(m.predict(theta, x)), np.prod(theta) * x, rtol=1e-12)

    p = MODELS["polynomial"]()
    assert p.variable_names == ["u1", "v1", "u2", "v2"]
    u1, v1, u2, v2 = theta
    expected = [u1 * v1 + u2 * v2, u1**2 - 3 * v2 + 0.5, (u1 - v1) ** 3]
    np.testing.assert_allclose(phi_values(p, theta), expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(p.predict(theta, np.zeros((2, 1)))), [expected, expected], rtol=1e-12)


# --- gradients -----------------------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(MODELS))
def test_phi_jax_and_exact_gradient(key):
    m = MODELS[key]()
    theta = RNG.normal(size=m.D)
    f = phi_jax(m)
    np.testing.assert_allclose(np.asarray(f(theta)), phi_values(m, theta), rtol=1e-12, atol=1e-12)
    jac = np.asarray(jax.jit(jax.jacfwd(f))(theta))
    exact = np.array([[float(g.evaluate(list(theta))) if g else 0.0 for g in gradient(p, m.D)] for p in m.phi_polynomials()])
    np.testing.assert_allclose(exact, jac, rtol=1e-11, atol=1e-12)


# --- the paper's laws are conserved (exact, sympy) ----------------------------------------------
def lie_derivative(h, field, symbols):
    return sympy.expand(sum(sympy.diff(h, s) * c for s, c in zip(symbols, field.to_sympy(symbols)) if c != 0))


@pytest.mark.parametrize(
    "name, dims, bias, n_laws",
    [
        ("linear", [2, 2, 2], False, 3),
        ("linear", [2, 2, 2, 2], False, 6),
        ("relu", [2, 2, 2], False, 2),
        ("relu", [2, 2, 2], True, 2),
        ("relu", [1, 2, 2, 1], True, 4),
        ("nmf", [2, 2, 2], False, 2),
        ("icnn", [2, 2, 2], False, 2),
        ("icnn", [2, 2, 2], True, 2),
        ("product", [4], False, 3),
    ],
)
def test_paper_gradient_laws_are_conserved(name, dims, bias, n_laws):
    m = make_model(name, dims, bias=bias)
    fam = vector_fields(m, "gradient")
    laws = m.paper_laws("gradient")
    assert len(laws) == n_laws
    for h in laws:
        for X in fam.generators:
            assert lie_derivative(h, X, fam.symbols) == 0, (h, X)


@pytest.mark.parametrize("dims", [[1, 3, 1], [2, 2, 2], [2, 2, 2, 2]])
@pytest.mark.parametrize("kind, tau, factor", [("momentum", 0, "1"), ("momentum", sympy.Rational(1, 2), "s"), ("nesterov", 0, "t**3")])
def test_linear_momentum_laws_are_conserved(dims, kind, tau, factor):
    """e^{τt} J (as s·J), J for τ = 0, t³ J for Nesterov: ⟨∇h, χ⟩ = 0 for the drift and every force."""
    m = make_model("linear", dims)
    fam = vector_fields(m, kind, tau=tau)
    syms = fam.symbols
    time = syms[0]
    laws = m.paper_laws("momentum")
    hidden = dims[1:-1]
    assert len(laws) == sum(r * (r - 1) // 2 for r in hidden)
    scale = {"1": sympy.Integer(1), "s": time, "t**3": time**3}[factor]
    for J in laws:
        h = scale * J
        for X in fam.generators:
            assert lie_derivative(h, X, syms) == 0, (h, X)
    # J alone is not conserved when there is friction
    if factor != "1":
        assert any(lie_derivative(J, fam.drift, syms) != 0 for J in laws)


def test_gradient_law_is_not_a_momentum_law():
    m = make_model("linear", [1, 2, 1])
    fam = vector_fields(m, "momentum", tau=0)
    q = m.paper_laws("gradient")[0]
    assert lie_derivative(q, fam.drift, fam.symbols) != 0


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        (dict(name="linear", dims=[2, 0, 2]), "dims"),
        (dict(name="linear", dims="2,a,2"), "dims"),
        (dict(name="linear", dims=[2, -1, 2]), "dims"),
        (dict(name="linear", dims=[2, 2.5, 2]), "dims"),
        (dict(name="linear", dims=[2]), "dims"),
        (dict(name="linear", dims=None), "dims"),
        (dict(name="nmf", dims=[2, 2, 2, 2]), "dims"),
        (dict(name="resnet", dims=[2, 2, 2]), "model"),
        (dict(name="nmf", dims=[2, 2, 2], bias=True), "bias"),
        (dict(name="linear", dims=[2, 2, 2], bias=True), "bias"),
        (dict(name="polynomial"), "phi"),
    ],
)
def test_bad_model_input(kwargs, parameter):
    with pytest.raises(ConservationLawsError) as info:
        make_model(**kwargs)
    # one line that names the parameter and what is allowed: ``parameter=value is invalid: allowed``
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{parameter}="), message
    assert " is invalid: " in message and message.split(" is invalid: ", 1)[1].strip(), message


@pytest.mark.parametrize("text", ['__import__("os")', "sin(x)", "x**y", "1/x", "x^-1", "x ** 99", "", "x +", "(x", "x; y", "exp(x)"])
def test_bad_phi_strings(text):
    with pytest.raises(ConservationLawsError, match="phi"):
        make_model("polynomial", phi=[text])


def test_bad_geometry():
    with pytest.raises(ConservationLawsError, match="geometry"):
        make_model("linear", [2, 2, 2]).mirror_mask("hyperbolic")
    with pytest.raises(ConservationLawsError, match="geometry"):
        make_model("linear", [2, 2, 2]).mirror_mask("mixed")
    icnn = make_model("icnn", [2, 2, 2], bias=True)
    mask = icnn.mirror_mask()
    assert sum(mask) == 4 and all(mask[:4]) and not any(mask[4:])


@pytest.mark.parametrize("dims", [[2, 3, 2], [2, 2, 2, 2]])
def test_linear_charges_signs(dims):
    """σ = +1 is the paper_laws form and is conserved (τ = 0); σ = −1 is a different form, not a law."""
    from conservation_laws.models import linear_charges, velocity_blocks

    m = make_model("linear", dims)
    assert linear_charges(m) == m.paper_laws("momentum")
    fam = vector_fields(m, "momentum", tau=0)
    reversed_form = linear_charges(m, reversed_sign=True)
    assert len(reversed_form) == len(linear_charges(m))
    assert all(lie_derivative(h, X, fam.symbols) == 0 for h in linear_charges(m) for X in fam.generators)
    assert any(lie_derivative(h, X, fam.symbols) != 0 for h in reversed_form for X in fam.generators)
    # an entry written out by hand: the (0, 1) entry of U1ᵀU1' − U1'ᵀU1 − (U2U2'ᵀ − U2'U2ᵀ)
    M, V = m.symbolic_blocks(), velocity_blocks(m)
    A, dA = M[m.blocks[0].name], V[m.blocks[0].name]
    B, dB = (M["V"].T, V["V"].T) if len(dims) == 3 else (M[m.blocks[1].name], V[m.blocks[1].name])
    by_hand = sum(A[a, 0] * dA[a, 1] - dA[a, 0] * A[a, 1] for a in range(A.shape[0]))
    by_hand -= sum(B[0, c] * dB[1, c] - dB[0, c] * B[1, c] for c in range(B.shape[1]))
    assert sympy.expand(reversed_form[0] - by_hand) == 0


def test_linear_charges_rejects_other_models():
    from conservation_laws.models import linear_charges

    with pytest.raises(ConservationLawsError, match="model"):
        linear_charges(make_model("nmf", [2, 2, 2]))

