"""ReLU nets in training: numeric neuron laws, He initialisation, cross-entropy, and what GD does to the laws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from conservation_laws.simulation import simulate  # noqa: E402
from conservation_laws.errors import ConservationLawsError  # noqa: E402
from conservation_laws.models import make_model  # noqa: E402
from conservation_laws.simulation.simulate import Trajectory, evaluate_laws  # noqa: E402


@pytest.mark.parametrize("dims,bias", [([2, 3, 2], False), ([2, 3, 2], True), ([2, 2, 3, 2], True), ([3, 2, 4, 2, 2], False)])
def test_neuron_laws_match_paper_laws(dims, bias):
    model = make_model("relu", dims, bias=bias)
    thetas = np.random.default_rng(0).normal(size=(4, model.D))
    expected = evaluate_laws(model.paper_laws("gradient"), model.variable_names, Trajectory(np.arange(4.0), thetas))
    got = model.neuron_laws(thetas)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.neuron_laws(thetas[0]), expected[0], rtol=1e-12, atol=1e-12)
    # one layer at a time, in order
    split = np.cumsum(dims[1:-1])[:-1]
    for l, part in enumerate(np.split(expected, split, axis=1), start=1):
        np.testing.assert_allclose(model.neuron_laws(thetas, layer=l), part, rtol=1e-12, atol=1e-12)


def test_neuron_laws_without_bias_term():
    model = make_model("relu", [2, 3, 2], bias=True)
    theta = np.random.default_rng(1).normal(size=model.D)
    b = model.unflatten(theta)["b1"]
    np.testing.assert_allclose(model.neuron_laws(theta) - model.neuron_laws(theta, bias=False), b**2, rtol=1e-12)


def test_neuron_laws_bad_input():
    model = make_model("relu", [2, 3, 2])
    with pytest.raises(ConservationLawsError, match="theta"):
        model.neuron_laws(np.zeros(model.D + 1))
    with pytest.raises(ConservationLawsError, match="layer"):
        model.neuron_laws(np.zeros(model.D), layer=2)


def test_he_initialisation_scales():
    model = make_model("relu", [10, 40, 200], bias=True)
    theta = model.random_parameters(seed=3, init="he")
    blocks = model.unflatten(theta)
    assert np.std(blocks["U2"]) == pytest.approx(np.sqrt(2 / 200), rel=0.05)
    assert np.std(blocks["U1"]) == pytest.approx(np.sqrt(2 / 40), rel=0.1)
    assert np.std(blocks["b1"]) == pytest.approx(np.sqrt(2 / 200), rel=0.4)
    np.testing.assert_array_equal(model.random_parameters(seed=3), make_model("relu", [10, 40, 200], bias=True).random_parameters(seed=3))
    with pytest.raises(ConservationLawsError, match="init"):
        model.random_parameters(init="xavier")


def test_cross_entropy_value_and_gradient():
    model = make_model("relu", [3, 4, 2], bias=True)
    rng = np.random.default_rng(2)
    theta = rng.normal(size=model.D)
    x = rng.normal(size=(5, 2))
    y = np.eye(3)[rng.integers(0, 3, size=5)]
    logits = np.asarray(model.predict(theta, x))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[y.astype(bool)]))
    assert float(model.cross_entropy(theta, x, y)) == pytest.approx(expected, rel=1e-12)
    g = np.asarray(jax.grad(lambda t: model.cross_entropy(t, x, y))(jnp.asarray(theta)))
    e = np.zeros(model.D)
    e[3] = 1e-6
    fd = (float(model.cross_entropy(theta + e, x, y)) - float(model.cross_entropy(theta - e, x, y))) / 2e-6
    assert g[3] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_gradient_descent_step_changes_neuron_law_by_delta_squared():
    """One GD step changes h_k by exactly δ²(||∇_in h||² − ||∇_out||²): the O(δ) term cancels (with the bias term)."""
    model = make_model("relu", [3, 5, 4], bias=True)
    rng = np.random.default_rng(4)
    theta = model.random_parameters(seed=4, init="he")
    x = rng.normal(size=(30, 4))
    y = np.eye(3)[rng.integers(0, 3, size=30)]
    loss = lambda t: model.cross_entropy(t, x, y)  # noqa: E731
    g = np.asarray(jax.grad(loss)(jnp.asarray(theta)))
    G = model.unflatten(g)
    predicted = (G["U2"] ** 2).sum(axis=1) + G["b1"] ** 2 - (G["U1"] ** 2).sum(axis=0)
    for delta in (1e-1, 1e-2):
        run = simulate.gradient_descent(loss, theta, delta, 1)
        change = model.neuron_laws(run.theta[1]) - model.neuron_laws(run.theta[0])
        np.testing.assert_allclose(change, delta**2 * predicted, rtol=1e-9, atol=1e-15)
        # the law without its bias term moves at first order: by −2δ b_k ∂_b E + O(δ²)
        change_nb = model.neuron_laws(run.theta[1], bias=False) - model.neuron_laws(run.theta[0], bias=False)
        b = model.unflatten(theta)["b1"]
        np.testing.assert_allclose(change_nb, 2 * delta * b * G["b1"] + delta**2 * (predicted - G["b1"] ** 2), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("dims,bias", [([2, 3, 2], True), ([2, 2, 3, 2], True), ([3, 2, 4, 2, 2], False)])
def test_pre_activations_reproduce_predict(dims, bias):
    """The pre-activations are those of predict; masking each layer with its pattern gives back predict."""
    model = make_model("relu", dims, bias=bias)
    rng = np.random.default_rng(5)
    thetas = rng.normal(size=(3, model.D))
    x = rng.normal(size=(7, dims[-1]))
    A = model.pre_activations(thetas, x)
    assert A.shape == (3, 7, sum(dims[1:-1]))
    np.testing.assert_array_equal(model.pre_activations(thetas[1], x), A[1])
    P = A > 0
    starts = np.concatenate([[0], np.cumsum(dims[1:-1])])
    for n, theta in enumerate(thetas):
        B = model.unflatten(theta)
        h = x.T
        for l in range(model.depth, 0, -1):
            h = B[f"U{l}"] @ h
            if l > 1:
                if bias:
                    h = h + B[f"b{l - 1}"][:, None]
                np.testing.assert_allclose(h.T, A[n][:, starts[l - 2] : starts[l - 1]], rtol=1e-12, atol=1e-12)
                h = h * P[n][:, starts[l - 2] : starts[l - 1]].T
        np.testing.assert_allclose(h.T, np.asarray(model.predict(theta, x)), rtol=1e-12, atol=1e-12)
    with pytest.raises(ConservationLawsError, match="x"):
        model.pre_activations(thetas, x[:, :1])


def test_drift_between_breaks():
    h = np.array([1.0, 1.0, 1.5, 1.5, 1.25, 3.0, 3.0])  # jumps at steps 1→2 and 4→5
    breaks = np.array([False, True, False, False, True, False])
    assert simulate.drift_between_breaks(h, breaks) == pytest.approx(0.0 + 0.25 + 0.0)
    assert simulate.drift_between_breaks(h, breaks, reduce="max") == pytest.approx(0.25)
    assert simulate.drift_between_breaks(h, np.zeros(6, bool)) == pytest.approx(2.0)
    assert simulate.drift_between_breaks(h, np.ones(6, bool)) == 0.0
    two = simulate.drift_between_breaks(np.stack([h, 2 * h], axis=1), breaks)
    np.testing.assert_allclose(two, [0.125, 0.25])  # scale = max |h_0| = 2
    with pytest.raises(ConservationLawsError, match="breaks"):
        simulate.drift_between_breaks(h, breaks[:-1])
    with pytest.raises(ConservationLawsError, match="reduce"):
        simulate.drift_between_breaks(h, breaks, reduce="mean")
