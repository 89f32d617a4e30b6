"""The follow-up paper's blocks: φ against independent formulations, forward maps, and its counts.

Expectations come from formulas written here from the follow-up paper's statements (Marcotte,
Gribonval, Peyré, ICML 2025) or from independent constructions (φ typed as --phi polynomials, a
naive convolution loop, symmetries of g), never from a previous run.
"""

import itertools

import jax
import numpy as np
import pytest
import sympy

jax.config.update("jax_enable_x64", True)

from conservation_laws import make_model  # noqa: E402
from conservation_laws.engine import laws  # noqa: E402
from conservation_laws.interfaces import cli  # noqa: E402
from conservation_laws.interfaces.cases import make_case  # noqa: E402
from conservation_laws.closed_forms import blocks as closed  # noqa: E402
from conservation_laws.errors import ConservationLawsError  # noqa: E402
from conservation_laws.flows import vector_fields  # noqa: E402
from conservation_laws.engine.lie import count_laws  # noqa: E402
from conservation_laws.models import (  # noqa: E402
    Attention, Conv1d, Conv2d, ResidualReLU, SoftmaxLayer, TransformerBlock, functional_span)
from conservation_laws.algebra.polynomial import from_sympy  # noqa: E402


def same_phi(model, texts):
    """Whether the model's φ equals the polynomials ``texts`` in its own variables (as multisets)."""
    user = make_model("polynomial", phi=texts)
    syms = model.symbols
    index = {str(s): s for s in syms}
    mine = sorted(str(p.to_sympy(syms)) for p in model.phi_polynomials())
    theirs = sorted(str(sympy.expand(e.xreplace({s: index[str(s)] for s in e.free_symbols})))
                    for e in user.phi_sympy())
    return mine == theirs


def phi_strings_attention(dim, d_out, d, dv, heads):
    out = []
    for h in ([""] if heads == 1 else [str(i + 1) for i in range(heads)]):
        out += [" + ".join(f"Q{h}[{a},{i}]*K{h}[{a},{j}]" for a in range(d)) for i in range(dim) for j in range(dim)]
        out += [" + ".join(f"V{h}[{a},{i}]*O{h}[{a},{j}]" for a in range(dv)) for i in range(dim) for j in range(d_out)]
    return out


def count_phi(texts, flow="gradient"):
    """The count of a user model through the command line's case builder (the --phi route)."""
    return cli.count_case(make_case(phi=texts, flow=flow))["laws"]


# --- attention -------------------------------------------------------------------------------
@pytest.mark.parametrize("dim, d_out, d, dv, heads", [(2, 2, 2, 2, 1), (2, 1, 1, 2, 1), (2, 2, 1, 1, 2), (1, 1, 2, 1, 1)])
def test_attention_phi_and_count_match_an_independent_formulation(dim, d_out, d, dv, heads):
    m = make_model("attention", [d_out, dim], heads=heads, head_width=d, value_width=dv)
    texts = phi_strings_attention(dim, d_out, d, dv, heads)
    assert same_phi(m, texts)
    n = count_laws(m).laws
    assert n == count_phi(texts)
    assert n == closed.attention_gradient_count(dim, d_out, heads, d, dv)


def test_attention_laws_are_the_gram_differences_and_complete():
    """Cor. 3.9: every law is a function of QQᵀ − KKᵀ and VVᵀ − OOᵀ (with full-rank [Q, K], [V, O])."""
    m = make_model("attention", [2], head_width=2)
    fam = vector_fields(m, "gradient")
    assert all(laws.check_law(h, fam) for h in m.paper_laws())
    res = laws.polynomial_laws(m, "gradient", degree=2)
    assert res.complete
    assert laws.same_span(res.expressions, m.paper_laws(), m.symbols)
    assert all(m.rank_conditions(m.random_parameters(seed=3)).values())


def test_attention_forward_factors_through_phi():
    """Q → A Q, K → A⁻ᵀ K and V → B V, O → B⁻ᵀ O keep φ, hence g."""
    m = make_model("attention", [2, 3], head_width=2, value_width=2, tokens=3)
    rng = np.random.default_rng(0)
    theta = m.random_parameters(seed=1)
    b = m.unflatten(theta.copy())
    A, B = rng.normal(size=(2, 2)) + 2 * np.eye(2), rng.normal(size=(2, 2)) + 2 * np.eye(2)
    moved = np.concatenate([(A @ b["Q"]).ravel(), (np.linalg.inv(A).T @ b["K"]).ravel(),
                            (B @ b["V"]).ravel(), (np.linalg.inv(B).T @ b["O"]).ravel()])
    x = rng.normal(size=(4, 3 * 3))
    assert np.allclose(m.predict(theta, x), m.predict(moved, x))
    assert m.predict(theta, x).shape == (4, 3 * 2)
    # the forward map is the attention formula, written out for one sample
    X = x[0].reshape(3, 3)
    S = X @ b["Q"].T @ b["K"] @ X.T
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    assert np.allclose(m.predict(theta, x)[0], (P @ X @ b["V"].T @ b["O"]).ravel())


def test_multi_head_completeness_numerically():
    """Cor. 3.10 leaves completeness open: the derivatives of g span all of ∇φ (numerically)."""
    m = make_model("attention", [2], heads=2, head_width=1, tokens=3)
    span = functional_span(m, inputs=24, seed=2)
    assert span.equal and span.phi_rank == m.D - count_laws(m).laws


# --- convolutions ------------------------------------------------------------------------------
def naive_conv1d(x, w, stride, padding, circular=False):
    """out[o, p] = Σ_i Σ_t w[o, i, t] x[i, p·s + t − pad] (cross-correlation, zero or circular padding)."""
    c_in, L = x.shape
    k = w.shape[2]
    L_out = (L + 2 * padding - k) // stride + 1
    out = np.zeros((w.shape[0], L_out))
    for o, p, i, t in itertools.product(range(w.shape[0]), range(L_out), range(c_in), range(k)):
        pos = p * stride + t - padding
        if circular:
            out[o, p] += w[o, i, t] * x[i, pos % L]
        elif 0 <= pos < L:
            out[o, p] += w[o, i, t] * x[i, pos]
    return out


@pytest.mark.parametrize("opts", [dict(kernel=3, input_size=6, stride=2, padding=1, out_kernel=2),
                                  dict(kernel=2, input_size=5, padding=1, padding_mode="circular")])
def test_conv1d_forward_is_the_convolution(opts):
    m = make_model("conv1d", [2, 3, 2], **opts)
    theta = m.random_parameters(seed=4)
    b = m.unflatten(theta)
    x = np.random.default_rng(5).normal(size=(2, 2 * opts["input_size"]))
    circ = opts.get("padding_mode") == "circular"
    for n in range(2):
        h = np.maximum(naive_conv1d(x[n].reshape(2, -1), b["v"], m.stride[0], m.padding[0], circ), 0)
        out = naive_conv1d(h, b["u"], m.out_stride[0], m.out_padding[0], circ)
        assert np.allclose(m.predict(theta, x)[n], out.ravel())


def conv_phi_strings(c2, c1, c0, pairs_1d):
    """Products u[k,j,a]·v[j,i,b] for the tap pairs (a, b) that meet, written out by hand."""
    return [f"u[{k},{j},{a}]*v[{j},{i},{b}]" for k in range(c2) for j in range(c1) for i in range(c0)
            for a, b in pairs_1d]


def test_conv_cooccurrence_by_hand():
    # kernel 3, stride 2, padding 1 on 2 inputs: one hidden position reads inputs (−1, 0, 1),
    # taps 1 and 2; u (kernel 3, padding 1) on 1 hidden position uses only its tap 1.
    m = make_model("conv1d", [1, 1, 1], kernel=3, input_size=2, stride=2, padding=1)
    assert m.pairs == [[(1, 1), (1, 2)]]
    assert same_phi(m, conv_phi_strings(1, 1, 1, [(1, 1), (1, 2)]))
    # 3 unused u taps… 2 of u and 1 of v, plus one component: 4 laws
    assert count_laws(m).laws == 4 == count_phi(conv_phi_strings(1, 1, 1, [(1, 1), (1, 2)])) + 3


@pytest.mark.parametrize("dims, opts", [([2, 2, 1], dict(kernel=2, input_size=4, padding_mode="circular")),
                                        ([1, 3, 2], dict(kernel=3, input_size=4, padding=1, padding_mode="circular")),
                                        ([2, 2, 2], dict(kernel=2, input_size=4, stride=2, padding_mode="circular"))])
def test_conv1d_exactly_c1_laws_when_every_pair_meets(dims, opts):
    """Thm. 3.6: exactly c1 laws h_j = Σ_k ||u_kj||² − Σ_i ||v_ji||² (circulant filters)."""
    m = make_model("conv1d", dims, **opts)
    assert m.all_pairs_cooccur()
    c2, c1, c0 = dims
    res = count_laws(m)
    assert res.laws == c1
    fam = vector_fields(m, "gradient")
    hs = m.paper_laws()
    assert len(hs) == c1 and all(laws.check_law(h, fam) for h in hs)
    assert laws.independent_count([from_sympy(h, m.symbols) for h in hs], m.D) == c1  # certified
    assert same_phi(m, conv_phi_strings(c2, c1, c0, m.pairs[0]))
    assert res.laws == count_phi(conv_phi_strings(c2, c1, c0, m.pairs[0]))


def test_conv2d_exactly_c1_laws_and_phi_by_hand():
    m = make_model("conv2d", [1, 2, 1], kernel=2, input_size=3)
    assert m.all_pairs_cooccur() and count_laws(m).laws == 2
    texts = [f"u[0,{j},{a},{b}]*v[{j},0,{c},{d}]" for j in range(2) for a, b, c, d in itertools.product(range(2), repeat=4)]
    assert same_phi(m, texts) and count_phi(texts) == 2
    theta = m.random_parameters(seed=6)
    assert m.predict(theta, np.ones((1, 9))).shape == (1, 1 * 1 * 1)


@pytest.mark.parametrize("opts", [dict(kernel=3, input_size=1, padding=1), dict(kernel=3, input_size=2, stride=2, padding=1),
                                  dict(kernel=2, input_size=4, stride=2, out_kernel=2), dict(kernel=3, input_size=3, out_kernel=2, out_padding=1)])
def test_conv_component_formula_matches_the_engine(opts):
    """This book's generalisation: one law per component of the graph of meeting taps, per channel."""
    for dims in ([1, 1, 1], [2, 1, 1], [1, 2, 2]):
        m = make_model("conv1d", dims, **opts)
        expected = closed.conv_gradient_count(m.channels, m.tap_pairs(), itertools.product(*map(range, m.out_kernel)),
                                              itertools.product(*map(range, m.kernel)))
        assert count_laws(m).laws == expected


def test_conv_channel_rescaling_keeps_g():
    m = make_model("conv1d", [2, 2, 1], kernel=2, input_size=5, padding=1)
    theta = m.random_parameters(seed=7)
    b = m.unflatten(theta.copy())
    b["u"][:, 1] *= 3.0
    b["v"][1] /= 3.0
    moved = np.concatenate([b["u"].ravel(), b["v"].ravel()])
    x = np.random.default_rng(8).normal(size=(3, 5))
    assert np.allclose(m.predict(theta, x), m.predict(moved, x))
    values = {s: t for s, t in zip(m.symbols, theta)}
    assert np.allclose(m.channel_laws(theta), [float(h.xreplace(values)) for h in m.paper_laws()])


# --- softmax -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n, m_", [(2, 1), (3, 2), (4, 3)])
def test_softmax_exactly_m_laws(n, m_):
    """Prop. 3.11: exactly m laws, the column sums."""
    m = make_model("softmax", [n, m_])
    texts = [f"theta[{i},{j}] - (" + " + ".join(f"theta[{l},{j}]" for l in range(n)) + f")/{n}"
             for i in range(n) for j in range(m_)]
    assert same_phi(m, texts)
    assert count_laws(m).laws == m_ == count_phi(texts) == closed.softmax_gradient_count(n, m_)
    res = laws.polynomial_laws(m, "gradient", degree=1)
    assert res.complete and laws.same_span(res.expressions, m.paper_laws(), m.symbols)


def test_softmax_forward_is_shift_invariant():
    m = make_model("softmax", [3, 2])
    theta = m.random_parameters(seed=9)
    shifted = (m.unflatten(theta)["theta"] + np.array([[0.5, -1.0]])).ravel()  # θ + 1 wᵀ
    x = np.random.default_rng(10).normal(size=(5, 2))
    assert np.allclose(m.predict(theta, x), m.predict(shifted, x))
    assert np.allclose(np.asarray(m.predict(theta, x)).sum(axis=1), 1.0)


# --- residual blocks and the transformer block ---------------------------------------------------
def test_example_4_8_three_laws_where_the_blocks_give_two():
    blocks = make_model("residual", [1, 1, 1])
    region = make_model("residual", [1, 1, 1], pattern="all-active")
    # g = x + (uv + st + stuv) x with (u, v, s, t) = (U1, V1, U2, V2): typed by hand
    assert same_phi(region, ["U1[0,0]*V1[0,0] + U2[0,0]*V2[0,0] + U1[0,0]*V1[0,0]*U2[0,0]*V2[0,0]"])
    assert count_laws(blocks).laws == 2 == closed.residual_blocks_count([1, 1])
    assert count_laws(region).laws == 3 == closed.example_4_8_count()
    theta = np.abs(blocks.random_parameters(seed=11)) + 0.1  # sgn t = sgn v = sgn u > 0
    span = functional_span(blocks, theta, inputs=16)
    assert span.functional_rank == 1 < span.phi_rank == 2
    x = np.linspace(-2, 2, 9)[:, None]
    u, v, s, t = theta
    assert np.allclose(np.asarray(blocks.predict(theta, x))[x[:, 0] > 0], (x + (u * v + s * t + s * t * u * v) * x)[x[:, 0] > 0])


def test_residual_skip_keeps_the_block_laws():
    """Prop. 3.2: x + U σ(V x) has the laws of U σ(V x) (the ReLU net's balances)."""
    res = make_model("residual", [2, 3])
    relu = make_model("relu", [2, 3, 2])
    assert count_laws(res).laws == count_laws(relu).laws == 3
    fam = vector_fields(res, "gradient")
    assert all(laws.check_law(h, fam) for h in res.paper_laws())
    assert functional_span(res, inputs=24, seed=1).equal  # vector inputs: no extra law


def test_transformer_block_laws_are_the_blocks_laws():
    m = make_model("transformer", [2], head_width=1, mlp_width=2)
    att = make_model("attention", [2], head_width=1)
    assert count_laws(m).laws == count_laws(att).laws + 2
    fam = vector_fields(m, "gradient")
    assert all(laws.check_law(h, fam) for h in m.paper_laws())
    assert functional_span(m, inputs=16, seed=3).equal
    assert m.predict(m.random_parameters(seed=2), np.ones((3, 4))).shape == (3, 4)


def test_momentum_counts_of_the_blocks_are_computed():
    """The book's own: heavy ball keeps the softmax layer's 2m linear laws, and none for attention."""
    assert count_laws(make_model("softmax", [3, 2]), "momentum", tau=1).laws == 4
    assert count_laws(make_model("attention", [1], head_width=1), "momentum", tau=0).laws == 0


# --- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, dims, opts, word", [
    ("attention", [2, 2, 2], {}, "dims"), ("attention", [2], {"heads": 0}, "heads"),
    ("conv1d", [1, 1, 1], {}, "input_size"), ("conv1d", [1, 1, 1], {"input_size": 2, "kernel": 5}, "input_size"),
    ("conv1d", [1, 1, 1], {"input_size": 4, "padding_mode": "reflect"}, "padding_mode"),
    ("conv2d", [1, 1, 1], {"input_size": [3, 3, 3]}, "input_size"), ("softmax", [3], {}, "dims"),
    ("residual", [1, 1], {"pattern": "none"}, "pattern"), ("attention", [2], {"kernel": 2}, "options"),
    ("relu", [2, 2, 2], {"heads": 2}, "options")])
def test_bad_options(name, dims, opts, word):
    with pytest.raises(ConservationLawsError, match=word):
        make_model(name, dims, **opts)


def test_cli_block_models(capsys):
    assert cli.main(["count", "--model", "conv1d", "--dims", "1,2,1", "--option", "kernel=2", "--option",
                     "input_size=4", "--option", "padding_mode=circular", "--json"]) == 0
    assert '"laws": 2' in capsys.readouterr().out
    assert cli.main(["count", "--model", "attention", "--dims", "2", "--option", "head_width"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert cli.main(["count", "--model", "softmax", "--dims", "3,2", "--option", "heads=2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "softmax" in err
    assert cli.parse_options(["input_size=3,4", "padding_mode=circular"]) == {"input_size": [3, 4], "padding_mode": "circular"}


def test_help_lists_the_block_options():
    text = cli.make_parser()._subparsers._group_actions[0].choices["count"].format_help()
    for word in ("attention", "conv2d", "head_width", "padding_mode", "mlp_width", "all-active"):
        assert word in text


def test_classes():
    assert isinstance(make_model("attention", [2]), Attention)
    assert isinstance(make_model("conv1d", [1, 1, 1], input_size=5), Conv1d)
    assert isinstance(make_model("conv2d", [1, 1, 1], input_size=5), Conv2d)
    assert isinstance(make_model("softmax", [2, 2]), SoftmaxLayer)
    assert isinstance(make_model("residual", [1, 1]), ResidualReLU)
    assert isinstance(make_model("transformer", [2]), TransformerBlock)


def test_sweep_grids_take_block_options_and_model_files(tmp_path):
    """A sweep grid sweeps the block options (a list of mappings) and runs a model file."""
    from conservation_laws.models.model_file import example_model_file
    from conservation_laws.interfaces.sweep import expand_spec
    from conservation_laws.interfaces.sweep.runner import compute_case

    cases = expand_spec({"model": "attention", "dims": [2], "flows": ["gradient", "momentum"],
                         "options": [{"head_width": 1}, {"head_width": 2}]})
    assert len(cases) == 4 and {c["options"]["head_width"] for c in cases} == {1, 2}
    for c in cases:
        m = make_model("attention", [2], **c["options"])
        assert compute_case(c)["laws"] == closed.block_count(m, c["flow"])
    path = tmp_path / "gated.yaml"
    path.write_text(example_model_file())
    cases = expand_spec({"model_file": str(path), "flows": ["gradient", "nesterov"]})
    assert [compute_case(c)["laws"] for c in cases] == [4, 0]


def test_residual_and_transformer_phi_match_independent_formulations():
    res = make_model("residual", [2, 1, 2])
    texts = [f"U{l}[{i},{k}]*V{l}[{k},{j}]" for l, h in ((1, 1), (2, 2)) for i in range(2)
             for k in range(h) for j in range(2)]
    assert same_phi(res, texts) and count_laws(res).laws == count_phi(texts) == 3
    block = make_model("transformer", [2], head_width=1, mlp_width=2)
    texts = phi_strings_attention(2, 2, 1, 1, 1)
    texts += [f"U[{i},{k}]*W[{k},{j}]" for i in range(2) for k in range(2) for j in range(2)]
    assert same_phi(block, texts) and count_laws(block).laws == count_phi(texts) == 4
