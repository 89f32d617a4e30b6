"""A numerical count for models that are not polynomial (softmax, tanh, LayerNorm…): evidence, not proof.

Under gradient flow on any loss of the outputs, the velocity θ' lies in the span of the fields

    v_{x,w}(θ) = ∂θ ⟨w, g(θ, x)⟩        (inputs x, output directions w),

so the laws of every data set are the functions annihilated by the Lie algebra these fields generate,
and their number is D − dim Lie(W)(θ0) at a generic θ0 (as in ``lie``, where W comes from exact
polynomials). Here the fields are JAX functions, evaluated in float64: the generators at random
inputs (standard normal) and every output direction, brackets [X, Y] = DY·X − DX·Y by forward-over-
reverse differentiation (``jax.jvp`` of ``jax.vjp``), right-normed words [a1, [a2, […, ak]]] kept when
they raise the rank at θ0, level by level until a level adds nothing.

What makes the count believable, all reported in :class:`NumericalResult`:

* **input saturation**: inputs are added one at a time until the rank of the first-level fields has
  not grown over ``patience`` additions, so that the count is that of every data set, not of the
  sample (one input of an attention head spans fewer directions than every data set does);
* **the gap**: the singular values of the normalised field values on both sides of the cut, their
  ratio, and the rank at several relative tolerances (they agree when the gap is clear);
* **two random points**: the whole construction is repeated at a second θ and must agree.

Heavy ball works the same way on the state ξ = (t, θ, v): the drift (1, v, −τv) joins the forces
(0, 0, v_{x,w}(θ)) as a generator, as in the exact engine; Nesterov's θ'' + (3/t)θ' = −∇E with the
drift multiplied by t, (t, t v, −3v); weight decay λ adds −λθ to the acceleration (−tλθ for
Nesterov), and under gradient flow runs on ξ = (s, θ), s = e^{λt}, with the drift (λs, −λθ) and the
forces (0, v_{x,w}(θ)), as the exact engine does.

The result is labelled ``numerical``: floating point decides the rank, so it is never ``proved`` nor
``probabilistic`` with a bound. It does not import the book's machinery; JAX is imported inside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import invalid

#: Relative tolerances at which the rank is also read (the count uses ``NUMERICAL_RTOL``).
TOLERANCES = (1e-4, 1e-6, 1e-8, 1e-10)
NUMERICAL_RTOL = 1e-8


@dataclass
class NumericalResult:
    """A numerical count: laws = D − rank, with the evidence for the rank (module docstring)."""

    dimension: int
    rank: int
    laws: int
    depth: int
    inputs: int  # inputs used after saturation
    input_ranks: list[int]  # first-level rank at θ0 after each input
    saturated: bool  # the first-level rank stopped growing over ``patience`` additions
    sigma_above: float  # σ_rank (the last value kept), relative to σ_1
    sigma_below: float  # σ_{rank+1} (the first value cut), relative to σ_1; 0 when rank = D
    gap: float  # sigma_above / sigma_below (inf when rank = D)
    tolerance_ranks: dict[str, int]  # the rank at each relative tolerance of TOLERANCES
    point_ranks: list[int]  # the rank at each random point
    singular_values: list[float]  # relative to σ_1, at the point of largest rank
    rank_by_depth: list[int] = field(default_factory=list)
    seconds: float = 0.0
    seed: int = 0
    certificate: str = "numerical"

    @property
    def agrees(self) -> bool:
        """Whether the tolerances and the points all give the same rank."""
        return len(set(self.tolerance_ranks.values()) | set(self.point_ranks)) == 1

    @property
    def certificate_how(self) -> str:
        below = f"{self.sigma_below:.1e}" if self.sigma_below else "none"
        return (f"singular values {self.sigma_above:.1e} | {below} around the cut (gap {self.gap:.1e}); "
                f"rank {'the same' if self.agrees else 'NOT the same'} at tolerances "
                f"{', '.join(f'{t:g}' for t in TOLERANCES)} and at {len(self.point_ranks)} random points "
                f"({', '.join(map(str, self.point_ranks))}); {self.inputs} inputs, first-level rank "
                f"{'saturated' if self.saturated else 'NOT saturated'} "
                f"({' → '.join(map(str, _runs(self.input_ranks)))})")

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["gap"] = None if self.gap == float("inf") else self.gap
        d["agrees"] = self.agrees
        d["certificate_how"] = self.certificate_how
        return d

    def _repr_markdown_(self) -> str:
        word = "law" if self.laws == 1 else "laws"
        return f"**{self.laws} {word}** (numerical: {self.certificate_how})"


def _runs(values: list[int]) -> list[int]:
    """The distinct successive values (the growth of the rank)."""
    out: list[int] = []
    for v in values:
        if not out or out[-1] != v:
            out.append(v)
    return out


def _rank(s: np.ndarray, rtol: float) -> int:
    return int((s > rtol * s[0]).sum()) if len(s) and s[0] > 0 else 0


class _Span:
    """An orthonormal basis grown by residuals (Gram–Schmidt twice), in float64. A value below
    ``floor`` times the largest norm offered so far is rounding, not a direction (normalised, it
    would look like a new one)."""

    def __init__(self, D: int, tol: float, floor: float = 1e-10):
        self.Q = np.zeros((0, D))
        self.tol = tol
        self.floor = floor
        self.scale = 0.0

    def add(self, v: np.ndarray) -> bool:
        n = np.linalg.norm(v)
        self.scale = max(self.scale, n)
        if n == 0 or n <= self.floor * self.scale:
            return False
        r = v / n
        for _ in range(2):
            r = r - self.Q.T @ (self.Q @ r)
        if np.linalg.norm(r) <= self.tol:
            return False
        self.Q = np.vstack([self.Q, r / np.linalg.norm(r)])
        return True


def _normalised(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1)
    keep = norms > 1e-12 * max(norms.max(initial=0.0), 1e-300)
    return rows[keep] / norms[keep, None]


def numerical_count(model, flow="gradient", tau=0, seed: int = 0, inputs: int = 1, patience: int = 8,
                    max_inputs: int | None = None, max_depth: int = 6, points: int = 2,
                    max_outputs: int = 32) -> NumericalResult:
    """D − dim Lie(W)(θ0) for the fields v_{x,w}(θ) = ∂θ⟨w, g(θ, x)⟩, numerically (module docstring).

    ``flow`` is ``"gradient"`` (Euclidean), ``"momentum"`` (heavy ball θ'' + τθ' = −∇E, friction
    ``tau``) or ``"nesterov"``, a name or a ``flows.Flow`` (which may carry a weight decay λ). Under
    momentum the state is ξ = (t, θ, v) as in the exact engine (N = 2D + 1 coordinates): the drift
    (1, v, −τv − λθ) and the forces (0, 0, v_{x,w}(θ)) generate the algebra, and the count is
    N − rank; gradient flow with decay runs on (s, θ) (N = D + 1, module docstring).

    ``model`` has ``D``, ``predict(theta, x_batch)`` (JAX) and an input width (``input_width`` or
    ``dims[-1]``): a JAX model (``models.from_jax``) or a built-in one. ``inputs`` is the number of
    random inputs to start from; more are added until the first-level rank has not grown over
    ``patience`` additions (at most ``max_inputs``, default 4·D + 8). Output directions are the
    basis vectors (random unit vectors beyond ``max_outputs`` outputs).

    Example: ``numerical_count(from_jax(lambda p, x: jax.nn.softmax(p["W"] @ x), {"W": w}, (2,)))``
    gives m laws for W ∈ R^{n×m} (the column sums), labelled ``numerical``.
    """
    import jax

    from ..flows import Flow

    if isinstance(flow, str):
        if flow not in ("gradient", "momentum", "nesterov"):
            raise invalid("flow", flow, "gradient, momentum (heavy ball) or nesterov on the numerical path")
        flow = Flow(flow, tau)
    if flow.kind not in ("gradient", "momentum", "nesterov") or (flow.geometry or "euclidean") != "euclidean":
        raise invalid("flow", flow.describe(), "gradient flow, heavy ball or Nesterov, Euclidean, on the "
                      "numerical path")
    dynamics = (flow.kind, float(flow.tau), float(flow.weight_decay or 0))
    for name, value, least in (("inputs", inputs, 1), ("patience", patience, 1), ("max_depth", max_depth, 1),
                               ("points", points, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise invalid(name, value, f"an integer ≥ {least}")
    with jax.enable_x64(True):  # float64 here, without changing the caller's global setting
        return _numerical_count(model, dynamics, seed, inputs, patience, max_inputs, max_depth, points,
                                max_outputs)


def _numerical_count(model, dynamics, seed, inputs, patience, max_inputs, max_depth, points,
                     max_outputs) -> NumericalResult:
    import jax
    import jax.numpy as jnp

    t0 = time.perf_counter()
    D = int(model.D)
    width = int(getattr(model, "input_width", model.dims[-1]))
    max_inputs = max_inputs or 4 * D + 8
    rng = np.random.default_rng(seed)
    flow_kind, friction, decay = dynamics
    momentum, nesterov = flow_kind != "gradient", flow_kind == "nesterov"
    drifted = momentum or decay > 0  # a drift generator: momentum's, or gradient flow's decay on (s, θ)
    # momentum: ξ = (t, θ, v); gradient flow with decay: ξ = (s, θ); as in the exact engine
    N = 2 * D + 1 if momentum else D + 1 if drifted else D
    states = [rng.normal(size=N) for _ in range(points)]
    thetas = [xi[1:D + 1] if drifted else xi for xi in states]

    def g(theta, x):
        return jnp.ravel(model.predict(theta, x[None, :])[0])

    m = int(np.asarray(jax.eval_shape(g, jax.ShapeDtypeStruct((D,), jnp.float64),
                                      jax.ShapeDtypeStruct((width,), jnp.float64)).shape[0]))
    if m <= max_outputs:
        directions = np.eye(m)
    else:
        directions = rng.normal(size=(max_outputs, m))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)

    def force(theta, x, w):
        return jax.vjp(lambda t: g(t, x), theta)[1](w)[0]

    def f1(xi, x, w_ext):  # one letter: w_ext = (w, kind), kind 1 the drift, 0 the force of (x, w)
        w, kind = w_ext[:-1], w_ext[-1]
        if not drifted:
            return force(xi, x, w)
        t, theta = xi[:1], xi[1:D + 1]
        if not momentum:  # (s, θ), s = e^{λt}: drift (λs, −λθ), forces (0, v_{x,w})
            drift = jnp.concatenate([decay * t, -decay * theta])
            return kind * drift + (1 - kind) * jnp.concatenate([jnp.zeros(1), force(theta, x, w)])
        v = xi[D + 1:]
        if nesterov:  # θ'' + (3/t)θ' = −∇E − λθ, every field of the drift times t
            drift = jnp.concatenate([t, t * v, -3 * v - decay * t * theta])
        else:
            drift = jnp.concatenate([jnp.ones(1), v, -friction * v - decay * theta])
        pushed = jnp.concatenate([jnp.zeros(D + 1), force(theta, x, w)])
        return kind * drift + (1 - kind) * pushed

    def word(theta, xs, ws):  # the right-normed bracket [a0, [a1, [… a_{k-1}]]]
        if xs.shape[0] == 1:
            return f1(theta, xs[0], ws[0])

        def inner(t):
            return word(t, xs[1:], ws[1:])

        def outer(t):
            return f1(t, xs[0], ws[0])

        return jax.jvp(inner, (theta,), (outer(theta),))[1] - jax.jvp(outer, (theta,), (inner(theta),))[1]

    evaluate = _chunked(jax.jit(jax.vmap(word, in_axes=(None, 0, 0))))
    jac = jax.jit(lambda theta, x: jax.jacrev(g)(theta, x))

    # input saturation at each point: add inputs until the first-level rank stops growing there
    xs_list: list[np.ndarray] = []
    saturated, input_ranks = True, []
    for theta in thetas:
        ranks_here, ok = _saturate(jac, directions, jnp.asarray(theta), xs_list, rng, width, D, inputs, patience,
                                   max_inputs)
        saturated = saturated and ok
        input_ranks = input_ranks or ranks_here
    X = np.array(xs_list)

    # the generators: every (input, direction), reduced to those independent at the points together
    pairs = [(i, k) for i in range(len(X)) for k in range(len(directions))]
    gx = X[[i for i, _ in pairs]][:, None, :]
    gw = np.hstack([directions[[k for _, k in pairs]], np.zeros((len(pairs), 1))])[:, None, :]
    if drifted:  # the drift first: it is always a generator
        gx = np.concatenate([np.zeros((1, 1, width)), gx])
        gw = np.concatenate([np.eye(1, gw.shape[2], gw.shape[2] - 1)[:, None, :], gw])
    values = np.hstack([np.asarray(evaluate(jnp.asarray(xi), jnp.asarray(gx), jnp.asarray(gw))) for xi in states])
    span = _Span(values.shape[1], 1e-6)
    keep = [j for j in range(len(pairs)) if span.add(values[j])]
    GX, GW = np.asarray(gx)[keep], np.asarray(gw)[keep]

    results = []
    for xi in states:
        results.append(_bracket_rank(evaluate, jnp.asarray(xi), GX, GW, N, max_depth))
    point_ranks = [_rank(r[0], NUMERICAL_RTOL) for r in results]
    # sampling and pruning can only miss directions: the count keeps the point of largest rank
    best = int(np.argmax(point_ranks))
    s, rank_by_depth = results[best]
    ranks = {f"{t:g}": _rank(s, t) for t in TOLERANCES}
    rank = ranks[f"{NUMERICAL_RTOL:g}"]
    above = float(s[rank - 1]) if rank else 0.0
    below = float(s[rank]) if rank < len(s) else 0.0
    return NumericalResult(
        dimension=N, rank=rank, laws=N - rank, depth=len(rank_by_depth), inputs=len(X), input_ranks=input_ranks,
        saturated=saturated, sigma_above=above, sigma_below=below,
        gap=above / below if below > 0 else float("inf"), tolerance_ranks=ranks,
        point_ranks=point_ranks, singular_values=[float(v) for v in s],
        rank_by_depth=rank_by_depth, seconds=time.perf_counter() - t0, seed=seed)


def _saturate(jac, directions, theta, xs_list, rng, width, D, inputs, patience, max_inputs) -> tuple[list[int], bool]:
    """Rank of the first-level fields at θ over ``xs_list``, then inputs appended to ``xs_list`` one at
    a time until the rank has not grown over ``patience`` additions (or is D): the ranks, and whether
    it stopped that way rather than at ``max_inputs``."""
    import jax.numpy as jnp

    rows = [directions @ np.asarray(jac(theta, jnp.asarray(x))) for x in xs_list]
    ranks: list[int] = []
    stall = 0
    while True:
        if rows:
            r = _rank(np.linalg.svd(_normalised(np.vstack(rows)), compute_uv=False), NUMERICAL_RTOL)
            stall = stall + 1 if ranks and r <= ranks[-1] else 0
            ranks.append(r)
            if len(xs_list) >= inputs and (r == D or stall >= patience):
                return ranks, True
        if len(xs_list) >= max_inputs:
            return ranks, False
        x = rng.normal(size=width)
        xs_list.append(x)
        rows.append(directions @ np.asarray(jac(theta, jnp.asarray(x))))


#: Words are evaluated in batches of this many (the last one padded): one compilation per word length
#: instead of one per batch size, which dominated the time of a count.
CHUNK = 32


def _chunked(batched):
    """``batched(theta, xs, ws)`` called on fixed-size chunks of the words (padded with the first word,
    whose extra values are dropped), so that XLA compiles it once per word length."""
    import jax.numpy as jnp

    def evaluate(theta, xs, ws):
        xs, ws = np.asarray(xs), np.asarray(ws)
        n = len(xs)
        if n == 0:
            return np.zeros((0, theta.shape[0]))
        pad = -n % CHUNK
        if pad:
            xs = np.concatenate([xs, np.repeat(xs[:1], pad, axis=0)])
            ws = np.concatenate([ws, np.repeat(ws[:1], pad, axis=0)])
        out = [np.asarray(batched(theta, jnp.asarray(xs[i:i + CHUNK]), jnp.asarray(ws[i:i + CHUNK])))
               for i in range(0, len(xs), CHUNK)]
        return np.concatenate(out)[:n]

    return evaluate


def _bracket_rank(evaluate, theta, GX, GW, D: int, max_depth: int) -> tuple[np.ndarray, list[int]]:
    """Singular values (relative to the largest) of every word's value at θ, and the rank by depth."""
    import jax.numpy as jnp

    span = _Span(D, 1e-7)
    values = np.asarray(evaluate(theta, jnp.asarray(GX), jnp.asarray(GW)))
    frontier = [j for j in range(len(values)) if span.add(values[j])]
    FX, FW = GX[frontier], GW[frontier]
    collected = [values]
    rank_by_depth = [span.Q.shape[0]]
    for _depth in range(2, max_depth + 1):
        if span.Q.shape[0] >= D or not len(FX):
            break
        nx, nf = len(GX), len(FX)
        wx = np.concatenate([np.repeat(GX, nf, axis=0), np.tile(FX, (nx, 1, 1))], axis=1)
        ww = np.concatenate([np.repeat(GW, nf, axis=0), np.tile(FW, (nx, 1, 1))], axis=1)
        vals = np.asarray(evaluate(theta, jnp.asarray(wx), jnp.asarray(ww)))
        collected.append(vals)
        new = [j for j in range(len(vals)) if span.add(vals[j])]
        rank_by_depth.append(span.Q.shape[0])
        if not new:
            break
        FX, FW = wx[new], ww[new]
    A = _normalised(np.vstack(collected))
    s = np.linalg.svd(A, compute_uv=False) if len(A) else np.zeros(0)
    s = s / s[0] if len(s) and s[0] > 0 else s
    return np.concatenate([s, np.zeros(max(0, D - len(s)))])[:D], rank_by_depth
