"""Models written as plain JAX functions (``from_jax``), counted exactly and numerically.

Expected counts come from the papers' formulas (r(r+1)/2 for a linear net, one law per hidden unit of
a ReLU net, one per column of a softmax layer, d(d+1) for an attention head) and from the built-in
models of the same maps, counted by the same engine from their hand-written φ.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from conservation_laws import ConservationLawsError, from_jax  # noqa: E402
from conservation_laws.engine.laws import polynomial_laws  # noqa: E402
from conservation_laws.engine.lie import count_laws  # noqa: E402
from conservation_laws.engine.numerical import numerical_count  # noqa: E402
from conservation_laws.flows import Flow  # noqa: E402
from conservation_laws.models import make_model  # noqa: E402
from conservation_laws.models.jax_model import UnsupportedPrimitive  # noqa: E402


def linear_apply(p, x):
    return p["U"] @ (p["V"].T @ x)


def relu_apply(p, x):
    return p["U1"] @ jax.nn.relu(p["U2"] @ x)


def relu_model(n_out, hidden, n_in):
    return from_jax(relu_apply, {"U1": np.zeros((n_out, hidden)), "U2": np.zeros((hidden, n_in))}, (n_in,))


@pytest.mark.parametrize("n, r, m", [(3, 2, 3), (2, 2, 3), (3, 1, 2)])
def test_linear_two_layer_count(n, r, m):
    model = from_jax(linear_apply, {"U": np.zeros((n, r)), "V": np.zeros((m, r))}, (m,))
    assert model.variable_names == make_model("linear", [n, r, m]).variable_names
    laws = count_laws(model).laws
    assert laws == r * (r + 1) // 2  # r ≤ min(n, m)
    assert laws == count_laws(make_model("linear", [n, r, m])).laws


def test_relu_two_layer_count_and_laws_in_the_params_names():
    model = relu_model(2, 3, 2)
    assert model.indicators == 3  # one activation indicator per hidden unit
    assert len(model.phi_polynomials()) == 2 * 3 * 2  # the path products U1[i,k] U2[k,j]
    assert count_laws(model).laws == 3 == count_laws(make_model("relu", [2, 3, 2])).laws
    basis = [str(e) for e in polynomial_laws(relu_model(2, 2, 2)).in_time("basis")]
    assert sorted(basis) == ["U1[0,0]**2 + U1[1,0]**2 - U2[0,0]**2 - U2[0,1]**2",
                             "U1[0,1]**2 + U1[1,1]**2 - U2[1,0]**2 - U2[1,1]**2"]


def test_relu_heavy_ball_count_matches_the_built_in_model():
    flow = Flow("momentum", 1)
    assert count_laws(relu_model(2, 2, 2), flow).laws == count_laws(make_model("relu", [2, 2, 2]), flow).laws


def test_nested_params_leaky_relu_and_biases():
    def apply(p, x):
        h = x
        for i, layer in enumerate(p["layers"]):
            h = layer["W"] @ h + layer["b"]
            if i < len(p["layers"]) - 1:
                h = jax.nn.leaky_relu(h, 0.1)
        return h

    params = {"layers": [{"W": np.zeros((3, 2)), "b": np.zeros(3)}, {"W": np.zeros((2, 3)), "b": np.zeros(2)}]}
    model = from_jax(apply, params, (2,))
    assert model.variable_names[:2] == ["layers_0/W[0,0]", "layers_0/W[0,1]"]
    assert "layers_1/b[1]" in model.variable_names
    # one law per hidden unit, as the built-in ReLU net with hidden biases (the output bias adds none)
    assert count_laws(model).laws == count_laws(make_model("relu", [2, 3, 2], bias=True)).laws == 3


def test_strided_convolution_matches_the_built_in_model():
    spec = ("NCH", "OIH", "NCH")

    def apply(p, x):
        h = jax.lax.conv_general_dilated(x[None], p["v"], (2,), [(1, 1)], dimension_numbers=spec)
        return jax.lax.conv_general_dilated(jax.nn.relu(h), p["u"], (1,), [(1, 1)], dimension_numbers=spec)[0]

    built_in = make_model("conv1d", [1, 2, 1], kernel=2, stride=2, padding=1, input_size=5)
    model = from_jax(apply, {"u": np.zeros((1, 2, 2)), "v": np.zeros((2, 1, 2))}, (1, 5))
    assert sorted(map(sorted, (p.items() for p in model.phi_polynomials()))) == \
        sorted(map(sorted, (p.items() for p in built_in.phi_polynomials())))
    assert count_laws(model).laws == count_laws(built_in).laws == 2  # one per hidden channel


def test_output_is_the_program_evaluated():
    model = relu_model(2, 3, 2)
    theta = np.random.default_rng(0).normal(size=model.D)
    x = np.random.default_rng(1).normal(size=(4, 2))
    built_in = make_model("relu", [2, 3, 2])
    np.testing.assert_allclose(model.predict(jnp.asarray(theta), x), built_in.predict(jnp.asarray(theta), x),
                               rtol=1e-6)


def test_errors_are_one_line_and_name_the_problem():
    softmax = from_jax(lambda p, x: jax.nn.softmax(p["W"] @ x), {"W": np.zeros((3, 2))}, (2,))
    assert softmax.unsupported_primitives() == ["exp"]
    with pytest.raises(UnsupportedPrimitive, match="'exp'.*numerical"):
        softmax.phi_polynomials()
    with pytest.raises(ConservationLawsError, match=r"shape \(3,\)") as exc:
        from_jax(linear_apply, {"U": np.zeros((2, 2)), "V": np.zeros((2, 2))}, (3,))
    assert "\n" not in str(exc.value)
    with pytest.raises(ConservationLawsError, match="input_shape"):
        from_jax(linear_apply, {"U": np.zeros((2, 2)), "V": np.zeros((2, 2))}, (0,))


# --- the numerical path ------------------------------------------------------------------------------
def test_numerical_softmax_classifier_has_one_law_per_column():
    n, m = 3, 2
    model = from_jax(lambda p, x: jax.nn.softmax(p["W"] @ x), {"W": np.zeros((n, m))}, (m,))
    res = numerical_count(model)
    assert res.certificate == "numerical"
    assert res.laws == m  # the column sums (Prop. 3.11 of the follow-up paper)
    assert res.agrees and res.saturated and res.gap > 1e6
    assert res.as_dict()["certificate"] == "numerical"


def gated_apply(p, x):
    return (p["A"] @ x) * (p["B"] @ x)  # polynomial of degree 2 in x and in θ


@pytest.mark.parametrize("model", [make_model("linear", [3, 2, 3]), relu_model(2, 2, 2),
                                   from_jax(gated_apply, {"A": np.zeros((2, 2)), "B": np.zeros((2, 2))}, (2,))],
                         ids=["linear", "jax-relu", "jax-gated"])
def test_numerical_and_exact_paths_agree_on_polynomial_models(model):
    res = numerical_count(model, seed=1)
    assert res.laws == count_laws(model).laws
    assert res.agrees


def test_numerical_attention_head_fed_one_input_adds_inputs():
    d, dim, tokens = 1, 2, 2

    def head(p, X):
        scores = (X @ p["Q"].T) @ (p["K"] @ X.T)
        return jax.nn.softmax(scores, axis=-1) @ X @ p["V"].T @ p["O"]

    params = {k: np.zeros((d, dim)) for k in "QKVO"}
    res = numerical_count(from_jax(head, params, (tokens, dim)), inputs=1)
    assert res.laws == d * (d + 1) == count_laws(make_model("attention", [dim], head_width=d)).laws
    assert res.inputs > 1 and res.input_ranks[0] < res.input_ranks[-1]  # one input did not span


# --- the command line ------------------------------------------------------------------------------
RELU_FILE = '''
import jax
import numpy as np

def apply(params, x):
    return params["U"] @ jax.nn.relu(params["V"] @ x)

params = {"U": np.zeros((2, 3)), "V": np.zeros((3, 2))}
input_shape = (2,)
'''
SOFTMAX_FILE = '''
import jax
import numpy as np

def apply(params, x):
    return jax.nn.softmax(params["W"] @ x)

params = {"W": np.zeros((3, 2))}
input_shape = (2,)
'''


def run_cli(capsys, *argv):
    from conservation_laws.interfaces.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_count_and_laws_of_a_jax_file(tmp_path, capsys):
    import json

    path = tmp_path / "relu.py"
    path.write_text(RELU_FILE)
    code, out, _ = run_cli(capsys, "count", "--jax", str(path), "--json")
    rec = json.loads(out)
    assert code == 0 and rec["laws"] == 3 and rec["path"] == "exact" and rec["indicators"] == 3
    code, out, _ = run_cli(capsys, "count", "--jax", str(path), "--flow", "momentum", "--tau", "1", "--json")
    assert json.loads(out)["laws"] == count_laws(make_model("relu", [2, 3, 2]), Flow("momentum", 1)).laws
    code, out, _ = run_cli(capsys, "count", "--jax", str(path), "--prove")
    assert code == 0 and "certificate: proved" in out
    code, out, _ = run_cli(capsys, "laws", "--jax", str(path))
    assert code == 0 and "h3 = U[0,2]**2 + U[1,2]**2 - V[2,0]**2 - V[2,1]**2" in out


def test_cli_numerical_path_reports_its_evidence(tmp_path, capsys):
    import json

    path = tmp_path / "softmax.py"
    path.write_text(SOFTMAX_FILE)
    code, _, err = run_cli(capsys, "count", "--jax", str(path))
    assert code == 2 and "'exp'" in err and "--numerical" in err and err.count("\n") == 1
    code, out, _ = run_cli(capsys, "count", "--jax", str(path), "--numerical", "--json")
    rec = json.loads(out)
    assert code == 0 and rec["laws"] == 2 and rec["certificate"] == "numerical"
    assert rec["gap"] > 1e6 and rec["saturated"] and rec["inputs"] > 1
    code, out, _ = run_cli(capsys, "count", "--jax", str(path), "--numerical")
    assert "certificate: numerical" in out and "gap" in out and "saturated" in out


@pytest.mark.parametrize("text, message", [
    ("import numpy as np\nparams = {'W': np.zeros((2, 2))}\ninput_shape = (2,)\n", "does not define apply"),
    ("import numpy as np\ndef apply(p, x):\n    return p['W'] @ x\nparams = {'W': np.zeros((2, 2))}\n"
     "input_shape = (3,)\n", r"x of shape \(3,\) failed"),
    ("def apply(:\n", "syntax error"),
])
def test_cli_errors_name_the_problem_in_one_line(tmp_path, capsys, text, message):
    import re

    path = tmp_path / "model.py"
    path.write_text(text)
    code, _, err = run_cli(capsys, "count", "--jax", str(path))
    assert code == 2 and re.search(message, err) and err.count("\n") == 1


def test_nested_jit_mean_powers_batched_inputs_and_max_pooling():
    @jax.jit
    def inner(W, x):
        return jnp.einsum("ij,j->i", W, x)

    def apply(p, x):  # mean of a ReLU layer, a squared gate, a scalar leaf
        h = jnp.maximum(inner(p["V"], x), 0.0)
        return jnp.mean(p["U"] @ h) + jnp.sum((p["c"] * x) ** 2) + p["s"] * x[0]

    model = from_jax(apply, {"U": np.zeros((2, 2)), "V": np.zeros((2, 2)), "c": np.zeros(2), "s": 0.0}, (2,))
    assert model.variable_names[-1] == "s"
    # φ: (U[0,k] + U[1,k]) V[k,j] / 2 (4 entries), c_i² (2) and s (1); laws: U[0,k] − U[1,k] and one
    # balance per hidden unit
    assert len(model.phi_polynomials()) == 7
    assert count_laws(model).laws == 4

    def tokens(p, X):  # the same MLP on each of 4 tokens: one indicator per (token, unit), path products once
        return jax.nn.relu(X @ p["V"].T) @ p["U"].T

    model = from_jax(tokens, {"U": np.zeros((2, 2)), "V": np.zeros((2, 3))}, (4, 3))
    assert model.indicators == 8 and len(model.phi_polynomials()) == 2 * 2 * 3
    assert count_laws(model).laws == 2

    pooled = from_jax(lambda p, x: jnp.max(p["V"] @ x), {"V": np.zeros((3, 2))}, (2,))
    assert pooled.indicators == 2  # max of 3 values: a chain of two binary max
    assert len(pooled.phi_polynomials()) == 6 and count_laws(pooled).laws == 0


def test_mirror_leaves_give_the_built_in_nmf_count_under_every_flow():
    n, r, m = 3, 2, 3
    params = {"U": np.zeros((n, r)), "V": np.zeros((m, r))}
    model = from_jax(linear_apply, params, (m,), mirror=["U", "V"])
    assert model.default_geometry == "mirror"
    for flow in (Flow("gradient"), Flow("momentum", 1)):
        assert count_laws(model, flow).laws == count_laws(make_model("nmf", [n, r, m]), flow).laws
    half = from_jax(linear_apply, params, (m,), mirror="V")
    assert half.default_geometry == "mixed" and sum(half.mirror_mask()) == m * r
    with pytest.raises(ConservationLawsError, match="mirror"):
        from_jax(linear_apply, params, (m,), mirror=["W"])


def test_numerical_heavy_ball_matches_the_exact_count(tau=1):
    n, m = 3, 2
    softmax = from_jax(lambda p, x: jax.nn.softmax(p["W"] @ x), {"W": np.zeros((n, m))}, (m,))
    flow = Flow("momentum", tau)
    res = numerical_count(softmax, flow)
    assert res.dimension == 2 * n * m + 1  # (t, θ, v), as in the exact engine
    assert res.laws == count_laws(make_model("softmax", [n, m]), flow).laws  # φ exact for the built-in layer
    assert res.agrees


def test_simulated_gradient_flow_keeps_the_laws_of_a_jax_model():
    from conservation_laws.simulation.data import regression_problem
    from conservation_laws.simulation.simulate import simulate_flow

    model = relu_model(2, 3, 2)
    x, y = regression_problem(model, 10, seed=0)
    traj = simulate_flow(model, "gradient", (x, y), model.random_parameters(seed=1), t1=0.5, steps=200)
    T = np.asarray(traj.y)[:, :model.D]

    def balances(theta):  # ||U1[:, k]||² − ||U2[k, :]||², one per hidden unit
        p = model.unflatten_tree(theta)
        return (p["U1"] ** 2).sum(axis=0) - (p["U2"] ** 2).sum(axis=1)

    drift = max(np.abs(balances(t) - balances(T[0])).max() for t in T)
    moved = np.abs(T[-1] - T[0]).max()
    assert moved > 0.05 and drift < 1e-5 * max(1.0, moved)  # RK4 over kinks: small, not exactly 0


@pytest.mark.parametrize("flow", [Flow("nesterov"), Flow("gradient", weight_decay=Fraction(1, 2)),
                                  Flow("momentum", 1, weight_decay=Fraction(1, 2))],
                         ids=["nesterov", "gradient-decay", "momentum-decay"])
def test_numerical_nesterov_and_weight_decay_match_the_exact_count(flow):
    n, m = 2, 2  # softmax(Wx): the built-in layer's φ is exact, so its exact count is the reference
    softmax = from_jax(lambda p, x: jax.nn.softmax(p["W"] @ x), {"W": np.zeros((n, m))}, (m,))
    res = numerical_count(softmax, flow)
    exact = count_laws(make_model("softmax", [n, m]), flow)
    assert res.dimension == exact.dimension  # the state of the exact engine: (t, θ, v) or (s, θ)
    assert res.laws == exact.laws
    assert res.agrees


def test_numerical_rank_by_depth_ignores_rounding_level_brackets():
    # softmax(Wx): every bracket of the fields lies in their span; values at rounding level must not
    # count as new directions in the reported growth of the rank
    softmax = from_jax(lambda p, x: jax.nn.softmax(p["W"] @ x), {"W": np.zeros((3, 2))}, (2,))
    res = numerical_count(softmax)
    assert res.rank == 4 and max(res.rank_by_depth) == res.rank
