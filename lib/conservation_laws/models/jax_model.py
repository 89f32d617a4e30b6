"""Your model as a JAX function: φ read from its program, without writing a polynomial.

``from_jax(apply, params, input_shape)`` traces ``apply(params, x)`` with ``jax.make_jaxpr`` (the
parameters and the input x as abstract arrays) and interprets the program over the library's exact
polynomials, in the parameters θ *and* the entries of x. When every operation is polynomial (add,
sub, mul, neg, integer powers, ``dot_general``, ``conv_general_dilated``, reshape, broadcast,
transpose, slice, pad, concatenate, sums, division by a constant), the output is

    g(θ, x)_k = Σ_μ c_{k,μ}(θ) μ(x)          (μ: monomials in the entries of x),

and since the monomials μ are linearly independent functions of x, the gradients ∂θ g_k(θ, x) over
every input span exactly the gradients of the coefficients c_{k,μ}: φ = (c_{k,μ}) is the model map
of every data set, and g = f(φ(θ), x) with f linear in φ.

Piecewise-linear units go through activation regions, as the built-in ReLU and convolution models
do: ``max(a, b)`` is s·a + (1 − s)·b with an indicator s ∈ {0, 1} of the sign of a − b (one per
entry; ``relu`` is max(z, 0), leaky ReLU a ``select_n`` on z ≥ 0, max pooling a chain of max), and
s² = s. On each region g is polynomial in (θ, x) with the region's s; φ collects the coefficients
of the monomials in (x, s), that is the parameter monomials reaching the output on some region (the
ReLU net's path products). Every region is counted, as in the built-in models: the count is that
of data reaching every region. A sign tested on the input alone (a mask of the data) is read the
same way; φ can then be larger than the span the data reach, so the count can only be lower than
the true one, never higher.

Any other primitive (exp, log, tanh, logistic, erf, division by a parameter, rsqrt…) is refused
with one line naming it; ``engine.numerical`` counts such models numerically. JAX is an optional
extra: it is imported inside the functions that trace or evaluate.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Sequence

import numpy as np

from .._lazy import sympy
from ..algebra.polynomial import Polynomial, as_fraction
from ..errors import ConservationLawsError, invalid
from .base import Block, Model

#: Primitives interpreted exactly (polynomial, or piecewise linear through activation regions).
EXACT_PRIMITIVES = (
    "add", "add_any", "sub", "mul", "neg", "integer_pow", "square", "div", "dot_general", "reshape",
    "broadcast_in_dim", "transpose", "slice", "pad", "concatenate", "reduce_sum", "reduce_max", "squeeze",
    "expand_dims", "convert_element_type", "copy", "copy_p", "rev", "max", "min", "select_n", "gt", "ge",
    "lt", "le", "and", "or", "not", "iota", "conv_general_dilated", "pjit", "jit", "closed_call",
    "core_call", "custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr", "remat", "checkpoint",
    "stop_gradient", "reduce_precision",
)
#: The parameters of a call-like primitive that hold its sub-program.
_SUBPROGRAM_KEYS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


class UnsupportedPrimitive(ConservationLawsError):
    """A primitive the exact interpreter does not take (the numerical path does)."""

    def __init__(self, primitive: str, why: str = "not polynomial in the parameters"):
        self.primitive = primitive
        super().__init__(f"apply: primitive '{primitive}' is {why}: the exact path takes polynomial and "
                         f"piecewise-linear programs only; count it numerically (--numerical, "
                         f"engine.numerical.numerical_count)")


@dataclass(frozen=True)
class LeafBlock(Block):
    """A parameter leaf of the pytree: entries named ``name[i,j]`` (a scalar leaf: ``name``)."""

    def entry_names(self) -> list[str]:
        if not self.shape:
            return [self.name]
        return [f"{self.name}[{','.join(map(str, e))}]" for e in itertools.product(*map(range, self.shape))]


def leaf_names(params) -> tuple[list[str], list[tuple[int, ...]], Any]:
    """Names, shapes and tree structure of the leaves of ``params``: ``W``, ``layers_0/W``…

    Dictionary keys and attributes are joined by ``/``; a list or tuple index is appended to the
    name above it with ``_`` (``layers[0]['W']`` → ``layers_0/W``); a bare array is ``theta``.
    """
    import jax

    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    names, shapes = [], []
    for path, leaf in flat:
        parts: list[str] = []
        for key in path:
            if hasattr(key, "idx"):
                if parts:
                    parts[-1] += f"_{key.idx}"
                else:
                    parts.append(str(key.idx))
            elif hasattr(key, "key"):
                parts.append(str(key.key))
            elif hasattr(key, "name"):
                parts.append(str(key.name))
            else:
                parts.append(str(key))
        names.append("/".join(parts) or "theta")
        shape = getattr(leaf, "shape", None)
        shapes.append(tuple(int(s) for s in (np.shape(leaf) if shape is None else shape)))
    if not names:
        raise invalid("params", params, "a pytree with at least one array of parameters")
    if len(set(names)) != len(names):
        raise invalid("params", names, "leaves with distinct names")
    return names, shapes, treedef


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]


class JaxModel(Model):
    """A model given as a JAX function ``apply(params, x)`` (build it with :func:`from_jax`).

    The blocks are the leaves of ``params`` (named by their path), the input has ``input_shape``
    and the output is every output leaf, flattened. :meth:`phi_polynomials` interprets the traced
    program exactly (module docstring); :meth:`unsupported_primitives` tells beforehand whether it
    can; :meth:`predict` evaluates ``apply`` on a batch, for simulation and the numerical path.
    """

    name = "jax"

    def __init__(self, apply: Callable, params, input_shape: Sequence[int], label: str | None = None,
                 mirror: Sequence[str] = ()):
        import jax

        if not callable(apply):
            raise invalid("apply", apply, "a function apply(params, x)")
        try:
            input_shape = tuple(int(s) for s in ((input_shape,) if np.isscalar(input_shape) else input_shape))
        except (TypeError, ValueError):
            raise invalid("input_shape", input_shape, "a tuple of positive integers, e.g. (3,)") from None
        if any(s < 1 for s in input_shape):
            raise invalid("input_shape", input_shape, "a tuple of positive integers, e.g. (3,)")
        names, shapes, treedef = leaf_names(params)
        blocks = [LeafBlock(n, s) for n, s in zip(names, shapes)]
        if isinstance(mirror, str):
            mirror = (mirror,)
        unknown = sorted(set(mirror) - set(names))
        if unknown:
            raise invalid("mirror", unknown[0], f"the name of a leaf of params ({', '.join(names)})")
        self.mirror_leaves = tuple(n for n in names if n in set(mirror))
        if self.mirror_leaves:  # the mirror metric M = diag(θ) on these leaves, Euclidean elsewhere
            self.default_geometry = "mirror" if len(self.mirror_leaves) == len(names) else "mixed"
        self.apply, self.input_shape, self.treedef = apply, input_shape, treedef
        self.label = label or getattr(apply, "__name__", "apply")
        with jax.enable_x64(True):
            specs = [jax.ShapeDtypeStruct(s, np.float64) for s in shapes]
            x_spec = jax.ShapeDtypeStruct(input_shape, np.float64)
            try:
                closed, out_shape = jax.make_jaxpr(self._flat_apply, return_shape=True)(specs, x_spec)
            except ConservationLawsError:
                raise
            except Exception as exc:  # the user's program failed on these shapes: one line
                raise invalid("apply", self.label, f"apply(params, x) with x of shape {input_shape} failed: "
                              f"{type(exc).__name__}: {_one_line(exc)}") from None
        self.jaxpr = closed
        self.output_shapes = [tuple(o.shape) for o in jax.tree_util.tree_leaves(out_shape)]
        self._phi: list[Polynomial] | None = None
        self._indicators = 0
        super().__init__((self.output_width, self.input_width), blocks)

    # --- layout -----------------------------------------------------------------------------
    @property
    def input_width(self) -> int:
        return math.prod(self.input_shape)

    @property
    def output_width(self) -> int:
        return sum(math.prod(s) for s in self.output_shapes)

    def unflatten_tree(self, theta):
        """The parameter pytree (the structure of ``params``) of a flat vector θ."""
        leaves = [theta[self.offsets[b.name]: self.offsets[b.name] + b.size].reshape(b.shape) for b in self.blocks]
        return self.treedef.unflatten(leaves)

    def _flat_apply(self, leaves, x):
        import jax

        return self.apply(jax.tree_util.tree_unflatten(self.treedef, list(leaves)), x)

    def _mixed_mask(self) -> tuple[bool, ...]:
        if not self.mirror_leaves:
            raise invalid("geometry", "mixed", "a JAX model with mirror leaves: from_jax(..., mirror=['w'])")
        return tuple(b.name in self.mirror_leaves for b in self.blocks for _ in range(b.size))

    def symbolic_blocks(self, symbols=None) -> dict:
        syms = self.symbols if symbols is None else list(symbols)
        out = {}
        for b in self.blocks:
            s = syms[self.offsets[b.name]: self.offsets[b.name] + b.size]
            out[b.name] = s[0] if not b.shape else sympy.Array(s, b.shape)
        return out

    def latex_names(self):
        out = {}
        for n in self.variable_names:
            base, _, idx = n.partition("[")
            tex = base if len(base) == 1 else r"\mathrm{" + base.replace("_", r"\_") + "}"
            out[sympy.Symbol(n, real=True)] = f"{tex}_{{{idx.rstrip(']')}}}" if idx else tex
        return out

    # --- the model map ------------------------------------------------------------------------
    def unsupported_primitives(self) -> list[str]:
        """The primitives of the program the exact path does not take (empty: φ is exact)."""
        return sorted(_primitives(self.jaxpr.jaxpr) - set(EXACT_PRIMITIVES))

    @property
    def indicators(self) -> int:
        """The activation indicators s (one per sign the program tests: a ReLU unit, a max)."""
        self.phi_polynomials()
        return self._indicators

    def phi_polynomials(self) -> list[Polynomial]:
        if self._phi is None:
            self._phi = self._interpret()
        return list(self._phi)

    def _interpret(self) -> list[Polynomial]:
        bad = self.unsupported_primitives()
        if bad:
            raise UnsupportedPrimitive(bad[0])
        D, nx = self.D, self.input_width
        interp = _Interpreter(first_indicator=D + nx)
        args = []
        for b in self.blocks:
            o = self.offsets[b.name]
            args.append(_variables(range(o, o + b.size), b.shape))
        args.append(_variables(range(D, D + nx), self.input_shape))
        outs = interp.run(self.jaxpr.jaxpr, self.jaxpr.consts, args)
        self._indicators = interp.next_indicator - (D + nx)
        return _coefficients([p for o in outs for p in np.ravel(o)], D, D + nx)

    def predict(self, theta, x):
        """g(θ, x) for a batch x of shape (n_samples, prod(input_shape)): every output leaf, flattened."""
        import jax
        import jax.numpy as jnp

        params = self.unflatten_tree(theta)
        xs = jnp.reshape(x, (x.shape[0],) + self.input_shape)
        out = jax.vmap(lambda xi: self.apply(params, xi))(xs)
        return jnp.concatenate([jnp.reshape(o, (x.shape[0], -1)) for o in jax.tree_util.tree_leaves(out)], axis=1)

    def describe(self) -> str:
        return f"JAX model {self.label} (input {list(self.input_shape)}, output {self.output_width})"


def from_jax(apply: Callable, params, input_shape: Sequence[int], label: str | None = None,
             mirror: Sequence[str] = ()) -> JaxModel:
    """Your JAX function ``apply(params, x)`` as a model: count it, list its laws, simulate it.

    ``params`` is the parameter pytree (its values are only a template: names and shapes), x has
    ``input_shape``. φ is read exactly from the program when it is polynomial or piecewise linear
    (see the module docstring); laws print in the leaves' names (``W[0,1]``, ``layers_0/W[2,3]``).
    ``mirror`` names the leaves that carry the mirror metric M(θ) = diag(θ) (the model's geometry is
    then ``mirror``, or ``mixed`` when some leaves stay Euclidean); every flow applies as to a
    built-in model.

    Example::

        def apply(p, x):
            return p["U"] @ jax.nn.relu(p["V"] @ x)
        model = from_jax(apply, {"U": np.zeros((2, 3)), "V": np.zeros((3, 2))}, (2,))
        count_laws(model).laws   # 3: one per hidden unit
    """
    return JaxModel(apply, params, input_shape, label, mirror)


# --- the interpreter --------------------------------------------------------------------------
def _variables(indices, shape) -> np.ndarray:
    out = np.empty(len(indices), dtype=object)
    for k, i in enumerate(indices):
        out[k] = Polynomial.variable(i)
    return out.reshape(shape)


def _obj(value) -> np.ndarray:
    """A numeric array (or scalar) as an object array of constant polynomials."""
    arr = np.asarray(value)
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        v = arr[idx]
        out[idx] = Polynomial.constant(int(v) if isinstance(v, (bool, np.bool_)) else as_fraction(float(v)))
    return out


def _wrap(value) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.dtype == object:
        return value
    if isinstance(value, Polynomial):
        out = np.empty((), dtype=object)
        out[()] = value
        return out
    return np.asarray(value, dtype=object)


def _ufunc(f, nin):
    u = np.frompyfunc(f, nin, 1)
    return lambda *args: _wrap(u(*args))


_add = _ufunc(lambda p, q: p + q, 2)
_sub = _ufunc(lambda p, q: p - q, 2)
_mul = _ufunc(lambda p, q: p * q if p and q else Polynomial(), 2)
_neg = _ufunc(lambda p: -p, 1)
_ONE = Polynomial.constant(1)


def _constant_value(p: Polynomial) -> Fraction | None:
    if not p:
        return Fraction(0)
    if len(p) == 1 and () in p:
        return p[()]
    return None


def _sum_all(values) -> Polynomial:
    out = Polynomial()
    for v in values:
        if v:
            out = out + v
    return out


def _primitives(jaxpr) -> set[str]:
    out = set()
    for eqn in jaxpr.eqns:
        out.add(eqn.primitive.name)
        for sub in _subprograms(eqn):
            out |= _primitives(sub[0])
    return out


def _subprograms(eqn) -> list[tuple[Any, list]]:
    subs = []
    for key in _SUBPROGRAM_KEYS:
        j = eqn.params.get(key)
        if j is None:
            continue
        if hasattr(j, "jaxpr") and hasattr(j, "consts"):
            subs.append((j.jaxpr, list(j.consts)))
        elif hasattr(j, "eqns"):
            subs.append((j, []))
    return subs


class _Interpreter:
    """Evaluates a jaxpr on object arrays of exact polynomials (indicators numbered from ``first_indicator``)."""

    def __init__(self, first_indicator: int):
        self.next_indicator = first_indicator
        self._signs: dict[frozenset, int] = {}

    # an indicator s of "p > 0" (1 − s for −p), shared by every comparison of the same p
    def positive(self, p: Polynomial) -> Polynomial:
        c = _constant_value(p)
        if c is not None:
            return Polynomial.constant(1 if c > 0 else 0)
        key = frozenset(p.items())
        if key in self._signs:
            return Polynomial.variable(self._signs[key])
        negkey = frozenset((-p).items())
        if negkey in self._signs:
            return _ONE - Polynomial.variable(self._signs[negkey])
        self._signs[key] = self.next_indicator
        self.next_indicator += 1
        return Polynomial.variable(self._signs[key])

    def _max(self, a: Polynomial, b: Polynomial) -> Polynomial:
        s = self.positive(a - b)
        return s * a + (_ONE - s) * b

    def run(self, jaxpr, consts, args) -> list[np.ndarray]:
        env: dict = {}

        def read(v):
            if type(v).__name__ == "Literal":
                return _obj(v.val)
            return env[v]

        for v, c in zip(jaxpr.constvars, consts):
            env[v] = _obj(np.asarray(c))
        for v, a in zip(jaxpr.invars, args):
            env[v] = a
        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            outs = self.apply(eqn, ins)
            for v, o in zip(eqn.outvars, outs):
                if type(v).__name__ != "DropVar":
                    env[v] = o
        return [read(v) for v in jaxpr.outvars]

    def apply(self, eqn, ins: list[np.ndarray]) -> list[np.ndarray]:
        name, params = eqn.primitive.name, eqn.params
        subs = _subprograms(eqn)
        if subs:
            sub, consts = subs[0]
            n = len(sub.invars)
            return self.run(sub, consts, ins[len(ins) - n:])
        rule = getattr(self, "_p_" + name, None)
        if rule is None:
            raise UnsupportedPrimitive(name)
        out = rule(*ins, **params)
        return out if isinstance(out, list) else [out]

    # --- elementwise ----------------------------------------------------------------------------
    def _p_add(self, a, b, **_):
        return _add(a, b)

    _p_add_any = _p_add

    def _p_sub(self, a, b, **_):
        return _sub(a, b)

    def _p_mul(self, a, b, **_):
        return _mul(a, b)

    def _p_neg(self, a, **_):
        return _neg(a)

    def _p_integer_pow(self, a, y, **_):
        if y < 0:
            raise UnsupportedPrimitive("integer_pow", f"a negative power (y={y}), a division")
        return _ufunc(lambda p: functools.reduce(lambda u, v: u * v, [p] * y, _ONE), 1)(a)

    def _p_square(self, a, **_):
        return _mul(a, a)

    def _p_div(self, a, b, **_):
        def inverse(q):
            c = _constant_value(q)
            if c is None or c == 0:
                raise UnsupportedPrimitive("div", "a division by a value that depends on the parameters or the input")
            return Polynomial.constant(1 / c)

        return _mul(a, _ufunc(inverse, 1)(b))

    def _identity(self, a, **_):
        return a

    _p_convert_element_type = _p_copy = _p_copy_p = _p_reduce_precision = _p_stop_gradient = _identity

    def _p_max(self, a, b, **_):
        return _ufunc(self._max, 2)(a, b)

    def _p_min(self, a, b, **_):
        return _ufunc(lambda p, q: p + q - self._max(p, q), 2)(a, b)

    def _p_gt(self, a, b, **_):
        return _ufunc(lambda p, q: self.positive(p - q), 2)(a, b)

    _p_ge = _p_gt  # ties have measure zero

    def _p_lt(self, a, b, **_):
        return self._p_gt(b, a)

    _p_le = _p_lt

    def _p_and(self, a, b, **_):
        return _mul(a, b)

    def _p_or(self, a, b, **_):
        return _sub(_add(a, b), _mul(a, b))

    def _p_not(self, a, **_):
        return _ufunc(lambda p: _ONE - p, 1)(a)

    def _p_select_n(self, pred, *cases, **_):
        if len(cases) != 2:
            raise UnsupportedPrimitive("select_n", "a selection among more than two cases")
        return _add(cases[0], _mul(pred, _sub(cases[1], cases[0])))

    def _p_iota(self, dtype=None, shape=(), dimension=0, **_):
        idx = np.indices(shape)[dimension] if shape else np.zeros(())
        return _obj(idx)

    # --- structure ----------------------------------------------------------------------------
    def _p_reshape(self, a, new_sizes, dimensions=None, **_):
        if dimensions is not None:
            a = a.transpose(dimensions)
        return a.reshape(new_sizes)

    def _p_broadcast_in_dim(self, a, shape, broadcast_dimensions, **_):
        expanded = [1] * len(shape)
        for i, d in enumerate(broadcast_dimensions):
            expanded[d] = a.shape[i]
        return np.broadcast_to(a.reshape(expanded), shape).copy()

    def _p_transpose(self, a, permutation, **_):
        return a.transpose(permutation)

    def _p_squeeze(self, a, dimensions, **_):
        return a.reshape([s for i, s in enumerate(a.shape) if i not in dimensions])

    def _p_expand_dims(self, a, dimensions, **_):
        return np.expand_dims(a, tuple(dimensions))

    def _p_rev(self, a, dimensions, **_):
        return np.flip(a, tuple(dimensions)).copy()

    def _p_slice(self, a, start_indices, limit_indices, strides=None, **_):
        strides = strides or (1,) * a.ndim
        return a[tuple(slice(s, l, st) for s, l, st in zip(start_indices, limit_indices, strides))].copy()

    def _p_concatenate(self, *arrays, dimension, **_):
        return np.concatenate(arrays, axis=dimension)

    def _p_pad(self, a, value, padding_config, **_):
        fill = value[()] if isinstance(value, np.ndarray) else value
        for axis, (lo, hi, interior) in enumerate(padding_config):
            if interior:
                raise UnsupportedPrimitive("pad", "interior padding (a dilation)")
            n = a.shape[axis]
            if lo < 0:
                a = np.take(a, range(-lo, n), axis=axis)
                lo = 0
            if hi < 0:
                a = np.take(a, range(0, a.shape[axis] + hi), axis=axis)
                hi = 0
            shape_lo = list(a.shape)
            shape_lo[axis] = lo
            shape_hi = list(a.shape)
            shape_hi[axis] = hi
            a = np.concatenate([np.full(shape_lo, fill, dtype=object), a, np.full(shape_hi, fill, dtype=object)],
                               axis=axis)
        return a

    def _reduce(self, a, axes, combine):
        axes = tuple(axes)
        keep = [i for i in range(a.ndim) if i not in axes]
        moved = a.transpose(keep + list(axes))
        flat = moved.reshape([a.shape[i] for i in keep] + [-1])
        out = np.empty(flat.shape[:-1], dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = combine(list(flat[idx]))
        return out

    def _p_reduce_sum(self, a, axes, **_):
        return self._reduce(a, axes, _sum_all)

    def _p_reduce_max(self, a, axes, **_):
        return self._reduce(a, axes, lambda vals: functools.reduce(self._max, vals))

    def _p_dot_general(self, a, b, dimension_numbers, **_):
        (lc, rc), (lb, rb) = dimension_numbers
        lc, rc, lb, rb = map(list, (lc, rc, lb, rb))
        lfree = [i for i in range(a.ndim) if i not in lc and i not in lb]
        rfree = [i for i in range(b.ndim) if i not in rc and i not in rb]
        bshape = [a.shape[i] for i in lb]
        lshape, rshape = [a.shape[i] for i in lfree], [b.shape[i] for i in rfree]
        K = math.prod(a.shape[i] for i in lc)
        A = a.transpose(lb + lfree + lc).reshape(math.prod(bshape), math.prod(lshape), K)
        B = b.transpose(rb + rc + rfree).reshape(math.prod(bshape), K, math.prod(rshape))
        out = np.empty((A.shape[0], A.shape[1], B.shape[2]), dtype=object)
        for n in range(A.shape[0]):
            for i in range(A.shape[1]):
                row = A[n, i]
                for j in range(B.shape[2]):
                    out[n, i, j] = _sum_all(p * q for p, q in zip(row, B[n, :, j]) if p and q)
        return out.reshape(bshape + lshape + rshape)

    def _p_conv_general_dilated(self, lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                                dimension_numbers=None, feature_group_count=1, batch_group_count=1, **_):
        nsp = lhs.ndim - 2
        if dimension_numbers is None:
            lspec = rspec = ospec = tuple(range(nsp + 2))
        else:
            lspec, rspec, ospec = dimension_numbers
        if feature_group_count != 1 or batch_group_count != 1:
            raise UnsupportedPrimitive("conv_general_dilated", "grouped (feature or batch groups > 1), not taken")
        if lhs_dilation and any(d != 1 for d in lhs_dilation):
            raise UnsupportedPrimitive("conv_general_dilated", "dilated on its input (a transposed convolution), "
                                       "not taken")
        x = lhs.transpose(lspec)  # (N, C, *spatial)
        w = rhs.transpose(rspec)  # (O, I, *taps)
        rd = tuple(rhs_dilation or (1,) * nsp)
        if isinstance(padding, str):
            raise UnsupportedPrimitive("conv_general_dilated", f"padding {padding!r} unresolved")
        for axis, (lo, hi) in enumerate(padding):
            x = self._p_pad(x, Polynomial(), [(0, 0, 0)] * (2 + axis) + [(lo, hi, 0)] + [(0, 0, 0)] * (nsp - axis - 1))
        taps = w.shape[2:]
        span = [(k - 1) * d + 1 for k, d in zip(taps, rd)]
        out_sp = [(x.shape[2 + a] - span[a]) // window_strides[a] + 1 for a in range(nsp)]
        N, C, O = x.shape[0], x.shape[1], w.shape[0]
        out = np.empty([N, O] + out_sp, dtype=object)
        for n, o in itertools.product(range(N), range(O)):
            for pos in itertools.product(*map(range, out_sp)):
                terms = []
                for c in range(C):
                    for t in itertools.product(*map(range, taps)):
                        q = w[(o, c) + t]
                        p = x[(n, c) + tuple(pos[a] * window_strides[a] + t[a] * rd[a] for a in range(nsp))]
                        if p and q:
                            terms.append(p * q)
                out[(n, o) + pos] = _sum_all(terms)
        return out.transpose(np.argsort(ospec))


def _coefficients(outputs: Sequence[Polynomial], D: int, first_indicator: int) -> list[Polynomial]:
    """φ: the coefficients c_{k,μ}(θ) of each output in the monomials μ of (x, s), s² = s, constants
    dropped, each kept once up to a scalar factor."""
    phi, seen = [], set()
    for out in outputs:
        groups: dict[tuple, dict] = {}
        for m, c in out.items():
            theta = tuple(i for i in m if i < D)
            if not theta:
                continue
            data = tuple(i for i in m if D <= i < first_indicator)
            signs = tuple(sorted({i for i in m if i >= first_indicator}))
            g = groups.setdefault(data + signs, {})
            g[theta] = g.get(theta, 0) + c
        for g in groups.values():
            p = Polynomial({m: c for m, c in g.items() if c})
            if not p:
                continue
            lead = p[min(p)]
            key = frozenset((m, c / lead) for m, c in p.items())
            if key not in seen:
                seen.add(key)
                phi.append(p)
    return phi
