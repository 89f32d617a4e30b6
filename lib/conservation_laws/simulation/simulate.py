"""Simulation: integrate the flows, evaluate conservation laws along trajectories, train discretely.

Everything runs in JAX with float64, each integrator or optimiser as one jitted ``jax.lax.scan``
over its steps, so long horizons cost no Python loop. Float64 is enabled *inside* each public
function (``jax.enable_x64(True)``, a local context), so importing or calling this module leaves the
caller's global JAX setting as it is; the arrays it returns are NumPy float64. JAX code of your own
(a loss, ``model.predict``) that you run outside these functions follows your setting: call
``jax.config.update("jax_enable_x64", True)`` for float64 there too.

* :func:`integrate` — classical Runge–Kutta 4 for y' = f(t, y);
* :func:`simulate_flow` — the ODE of a model under a flow (``flows.ode_rhs``), on data or a gradient;
* :func:`evaluate_laws` / :func:`relative_drift` — a law h along a trajectory, and how far it moved;
* :func:`gradient_descent`, :func:`heavy_ball`, :func:`nesterov` — the discrete schemes of the
  paper's experiments, with :func:`momentum_coefficients` mapping (μ, ν, δ) to (α, β);
* :func:`sgd` — PyTorch's SGD with momentum, weight decay and i.i.d. minibatches, several seeds at
  once; :func:`linear_charge` its exact discrete charge for linear nets, :func:`sgd_law_drift` a
  law's drift against the follow-up paper's Prop. 5.1 bound;
* :func:`sign_span` — Adam read as the sign flow θ' = −sign(∇E): the span of its fields.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import sympy

from ..errors import ConservationLawsError, invalid
from ..flows import Flow, ode_rhs
from ..models import Model

__all__ = [
    "Trajectory",
    "OptimiserRun",
    "integrate",
    "simulate_flow",
    "evaluate_laws",
    "drift_history",
    "relative_drift",
    "drift_between_breaks",
    "momentum_coefficients",
    "gradient_descent",
    "heavy_ball",
    "nesterov",
    "SGDRun",
    "sgd",
    "sgd_law_drift",
    "sign_span",
    "linear_charge",
]


# --- input checks --------------------------------------------------------------------------------
def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise invalid(name, value, "a positive integer")
    return int(value)


def _real(name: str, value, *, positive: bool = False, nonnegative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, value, "a real number")
    v = float(value)
    if not math.isfinite(v):
        raise invalid(name, value, "a finite real number")
    if positive and v <= 0:
        raise invalid(name, value, "a number > 0")
    if nonnegative and v < 0:
        raise invalid(name, value, "a number ≥ 0")
    return v


def _vector(name: str, value, size: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(name, value, "a one-dimensional array of real numbers") from None
    if arr.ndim != 1:
        raise invalid(name, f"array of shape {arr.shape}", "a one-dimensional array (a flat parameter vector)")
    if size is not None and arr.shape[0] != size:
        raise invalid(name, f"array of shape {arr.shape}", f"shape ({size},)")
    if not np.all(np.isfinite(arr)):
        raise invalid(name, "an array with non-finite entries", "finite entries only")
    return arr


def _divisible(steps: int, save_every: int) -> None:
    if steps % save_every:
        raise invalid("save_every", save_every, f"a divisor of steps={steps}")


# --- trajectories --------------------------------------------------------------------------------
@dataclass
class Trajectory:
    """Saved states of an integration: ``t`` of shape (n,), ``y`` of shape (n, dim).

    For a gradient flow y = θ; for a momentum flow y = (θ, v) with v = θ'. ``D`` (the number of
    parameters) is set by :func:`simulate_flow` and used when ``theta()``/``velocity()`` get no argument;
    so is ``flow``, from which :func:`evaluate_laws` reads the rate γ of the time coordinate s = e^{γt}.
    """

    t: np.ndarray
    y: np.ndarray
    D: int | None = None
    flow: Flow | None = None

    def __repr__(self) -> str:  # never the states themselves
        flow = f", {self.flow.describe()}" if self.flow is not None else ""
        return f"Trajectory({len(self.t)} states of dimension {self.y.shape[1]}, t in [{self.t[0]:g}, {self.t[-1]:g}]{flow})"

    def _D(self, D: int | None) -> int:
        D = self.D if D is None else D
        if D is None:
            raise invalid("D", D, "the number of parameters (this trajectory does not know it)")
        if isinstance(D, bool) or not isinstance(D, numbers.Integral) or not 1 <= D <= self.y.shape[1]:
            raise invalid("D", D, f"an integer from 1 to the state dimension {self.y.shape[1]}")
        return int(D)

    def theta(self, D: int | None = None) -> np.ndarray:
        """θ(t): the first D coordinates, shape (n, D)."""
        return self.y[:, : self._D(D)]

    def velocity(self, D: int | None = None) -> np.ndarray:
        """v(t) = θ'(t): coordinates D..2D of a momentum trajectory, shape (n, D)."""
        D = self._D(D)
        if self.y.shape[1] < 2 * D:
            raise invalid("D", D, f"a momentum trajectory has 2D coordinates; this one has {self.y.shape[1]} (no velocity)")
        return self.y[:, D : 2 * D]

    def __len__(self) -> int:
        return len(self.t)


def integrate(rhs: Callable, y0, t0: float, t1: float, steps: int, save_every: int = 1) -> Trajectory:
    """Classical RK4 for y' = f(t, y) from t0 to t1 in ``steps`` equal steps h = (t1 − t0)/steps.

    k1 = f(t, y), k2 = f(t + h/2, y + h k1/2), k3 = f(t + h/2, y + h k2/2), k4 = f(t + h, y + h k3),
    y ← y + h (k1 + 2 k2 + 2 k3 + k4)/6 (global error O(h⁴)). The state is saved at t0 and after every
    ``save_every`` steps (``save_every`` must divide ``steps``); t_k = t0 + k h is computed, not summed.
    ``rhs(t, y)`` must be JAX-traceable; the whole loop is one jitted ``lax.scan``.
    """
    if not callable(rhs):
        raise invalid("rhs", rhs, "a function f(t, y) returning dy/dt")
    y0 = _vector("y0", y0)
    t0 = _real("t0", t0)
    t1 = _real("t1", t1)
    if not t1 > t0:
        raise invalid("t1", t1, f"a time after t0={t0}")
    steps = _positive_int("steps", steps)
    save_every = _positive_int("save_every", save_every)
    _divisible(steps, save_every)
    try:
        out = jax.eval_shape(rhs, jnp.float64(t0), jax.ShapeDtypeStruct(y0.shape, jnp.float64))
    except ConservationLawsError:
        raise
    except Exception as exc:  # noqa: BLE001 - report what went wrong with the user's function
        raise invalid("rhs", rhs, f"a JAX-traceable f(t, y) for y of shape {y0.shape} ({type(exc).__name__}: {exc})") from None
    if getattr(out, "shape", None) != y0.shape:
        raise invalid("rhs", rhs, f"f(t, y) must return an array of the shape of y0 {y0.shape}, not {getattr(out, 'shape', out)}")

    h = (t1 - t0) / steps
    n_chunks = steps // save_every

    def step(carry, _):
        k, y = carry
        t = t0 + k * h
        k1 = rhs(t, y)
        k2 = rhs(t + h / 2, y + (h / 2) * k1)
        k3 = rhs(t + h / 2, y + (h / 2) * k2)
        k4 = rhs(t + h, y + h * k3)
        return (k + 1.0, y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)), None

    def chunk(carry, _):
        carry, _ = jax.lax.scan(step, carry, None, length=save_every)
        return carry, carry[1]

    @jax.jit
    def run(y):
        _, ys = jax.lax.scan(chunk, (jnp.float64(0.0), y), None, length=n_chunks)
        return jnp.concatenate([y[None], ys])

    ys = np.asarray(run(jnp.asarray(y0)))
    ts = t0 + h * save_every * np.arange(n_chunks + 1, dtype=np.float64)
    return Trajectory(ts, ys)


def _gradient_of(model: Model, loss_grad_or_data) -> Callable:
    """∇E from a callable (used as is), a pair (x, y), or a single data array x (y = None, e.g. NMF)."""
    if callable(loss_grad_or_data):
        return loss_grad_or_data
    if isinstance(loss_grad_or_data, (tuple, list)):
        if len(loss_grad_or_data) != 2:
            raise invalid("loss_grad_or_data", f"a sequence of length {len(loss_grad_or_data)}", "a gradient function, a pair (x, y) or a data array x")
        x, y = loss_grad_or_data
    else:
        x, y = loss_grad_or_data, None
    x = jnp.asarray(x, dtype=jnp.float64)
    y = None if y is None else jnp.asarray(y, dtype=jnp.float64)
    return jax.grad(lambda theta: model.loss(theta, x, y))


def simulate_flow(
    model: Model,
    flow: Flow | str,
    loss_grad_or_data,
    theta0,
    v0=None,
    t0: float | None = None,
    t1: float = 1.0,
    steps: int = 1000,
    save_every: int = 1,
    *,
    tau: float = 0,
    geometry: str | None = None,
    weight_decay: float = 0,
) -> Trajectory:
    """Integrate a model's flow with RK4 (:func:`integrate` on ``flows.ode_rhs(model, flow, grad)``).

    GF / metric flow: θ' = −M(θ)∇E(θ) − λθ, state y = θ. Momentum: θ'' + τ(t)θ' + λθ = −M∇E with τ(t) = τ
    (heavy ball) or 3/t (Nesterov), state y = (θ, v). M = 1 (Euclidean), diag(θ) for GF or
    diag(τθ + v) for momentum on mirror coordinates (the model's default geometry unless given).

    ``loss_grad_or_data``: either ∇E as a function of θ, or data (x, y) (or a single array x, e.g.
    the NMF data matrix) from which ∇E = jax.grad(θ ↦ model.loss(θ, x, y)). ``flow`` is a
    :class:`~conservation_laws.flows.Flow` or a name (then ``tau`` and ``geometry`` build it).
    ``v0`` defaults to 0 for momentum; ``t0`` defaults to 0, and to 1 for Nesterov (τ = 3/t needs t0 > 0).
    """
    if not isinstance(model, Model):
        raise invalid("model", model, "a conservation_laws Model (see models.make_model)")
    if isinstance(flow, str):
        flow = Flow(flow, tau, geometry, weight_decay=weight_decay)
    elif not isinstance(flow, Flow):
        raise invalid("flow", flow, "a Flow or one of gradient, momentum, nesterov")
    elif geometry is not None and flow.geometry is None:
        flow = Flow(flow.kind, flow.tau, geometry, weight_decay=flow.weight_decay)
    D = model.D
    theta0 = _vector("theta0", theta0, D)
    if t0 is None:
        t0 = 1.0 if flow.kind == "nesterov" else 0.0
    t0 = _real("t0", t0)
    if flow.kind == "nesterov" and t0 <= 0:
        raise invalid("t0", t0, "a start time > 0 (Nesterov's friction 3/t is singular at t = 0)")
    if flow.is_momentum:
        v0 = np.zeros(D) if v0 is None else _vector("v0", v0, D)
        y0 = np.concatenate([theta0, v0])
    else:
        if v0 is not None:
            raise invalid("v0", "an initial velocity", "None for a gradient flow (first order: no velocity)")
        y0 = theta0
    grad = _gradient_of(model, loss_grad_or_data)
    traj = integrate(ode_rhs(model, flow, grad), y0, t0, t1, steps, save_every)
    traj.D, traj.flow = D, flow
    return traj


# --- laws along trajectories ---------------------------------------------------------------------
def _velocity_name(name: str) -> str:
    base, bracket, rest = name.partition("[")
    return f"{base}'{bracket}{rest}"


def evaluate_laws(
    expressions,
    variable_names: Sequence[str],
    trajectory: Trajectory,
    time_variable: str | None = None,
    tau: float | None = None,
    *,
    flow: Flow | None = None,
) -> np.ndarray:
    """h_k(ξ(t)) for sympy expressions h_k along a trajectory, vectorised; shape (n_times, n_laws).

    Symbols are matched by name: θ names (``U[0,1]``, the model's ``variable_names``) read columns
    0..D−1, velocity names (``U'[0,1]``) columns D..2D−1, and ``time_variable`` reads the time:
    ``'t'`` is t itself, ``'s'`` is the flow's time coordinate s = e^{γt}, as in its fields
    (default: the flow's time variable when the expressions use it).

    The rate γ is the flow's ``time_rate``: τ for the heavy ball, λ for gradient flow with weight
    decay, the oscillator's rate for both (not τ then). It is read from ``flow``, else from the
    trajectory (:func:`simulate_flow` records its flow). ``tau`` gives γ for a trajectory without a
    flow; a ``tau`` that differs from the flow's γ raises.
    A single expression is accepted and gives one column.
    """
    if isinstance(expressions, (sympy.Basic, str, numbers.Number)):
        expressions = [expressions]
    try:
        exprs = [sympy.sympify(e) if not isinstance(e, sympy.Basic) else e for e in expressions]
    except (TypeError, sympy.SympifyError):
        raise invalid("expressions", expressions, "sympy expressions in the model's variable names") from None
    if not exprs:
        raise invalid("expressions", expressions, "at least one law")
    if not isinstance(trajectory, Trajectory):
        raise invalid("trajectory", trajectory, "a Trajectory (from integrate or simulate_flow)")
    names = [str(n) for n in variable_names]
    D = len(names)
    y, t = trajectory.y, trajectory.t
    if D == 0 or y.shape[1] < D:
        raise invalid("variable_names", f"{D} names", f"between 1 and the state dimension {y.shape[1]}")
    columns: dict[str, np.ndarray] = {n: y[:, j] for j, n in enumerate(names)}
    if y.shape[1] >= 2 * D:
        columns.update({_velocity_name(n): y[:, D + j] for j, n in enumerate(names)})
    if flow is not None and not isinstance(flow, Flow):
        raise invalid("flow", flow, "a Flow (or None: the trajectory's own)")
    flow = flow if flow is not None else trajectory.flow
    if time_variable is None and flow is not None and flow.time_variable is not None:
        used = {str(x) for e in exprs for x in e.free_symbols}
        time_variable = flow.time_variable if flow.time_variable in used else None
    if time_variable is not None:
        if time_variable == "t":
            columns["t"] = t
        elif time_variable == "s":
            rate = flow.time_rate if flow is not None else None
            if rate is not None and tau is not None and _real("tau", tau) != float(rate):
                raise invalid("tau", tau, f"the rate γ = {rate} of s = e^{{γt}} for the {flow.describe()} "
                              "(flow.time_rate, not flow.tau when there is weight decay); omit tau to use it")
            if rate is None and tau is None:
                raise invalid("tau", tau, "the rate γ > 0 defining s = e^{γt} (flow.time_rate), or a flow")
            tau = _real("tau", float(rate) if rate is not None else tau, positive=True)
            columns["s"] = np.exp(tau * t)
        else:
            raise invalid("time_variable", time_variable, "'t', 's' (= e^{τt}) or None")
    free = sorted(set().union(*(e.free_symbols for e in exprs)), key=str)
    unknown = [str(s) for s in free if str(s) not in columns]
    if unknown:
        hint = " (velocity names need a momentum trajectory)" if any("'" in u for u in unknown) else ""
        raise invalid("expressions", f"symbols {unknown}", f"symbols among the trajectory's variables{hint}: {sorted(columns)[:6]}…")
    # One indexed argument Y (row j = symbol j) instead of one argument per symbol: names like
    # U[0,1] are not identifiers, and lambdify's dummify is slow with thousands of symbols.
    Y = sympy.IndexedBase("_Y")
    replacement = {s: Y[j] for j, s in enumerate(free)}  # built once: thousands of symbols are common
    indexed = [e.xreplace(replacement) for e in exprs]
    f = sympy.lambdify([Y], indexed, modules="numpy")
    values = f(np.stack([columns[str(s)] for s in free]) if free else np.zeros((0, len(t))))
    n = len(t)
    return np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in values], axis=1)


def _drift_scale(values: np.ndarray, scale: float | None) -> float:
    if scale is not None:
        return _real("scale", scale, positive=True)
    s = float(np.max(np.abs(values[0])))
    return s if s > 0 else 1.0


def drift_history(values, scale: float | None = None) -> np.ndarray:
    """|h_k(t) − h_k(0)| / max(|h_k(0)|, scale), same shape as ``values`` ((n_times,) or (n_times, n_laws)).

    ``scale`` defaults to max_k |h_k(0)| over the laws given together (or 1 if they all start at 0), so
    a law that happens to start near 0 (an off-diagonal entry of Q) is measured against the size of
    its family rather than divided by ~0.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim not in (1, 2) or v.shape[0] < 1:
        raise invalid("values", f"array of shape {v.shape}", "shape (n_times,) or (n_times, n_laws)")
    v2 = v.reshape(v.shape[0], -1)
    s = _drift_scale(v2, scale)
    out = np.abs(v2 - v2[0]) / np.maximum(np.abs(v2[0]), s)
    return out.reshape(v.shape)


def relative_drift(values, scale: float | None = None):
    """max_t |h_k(t) − h_k(0)| / max(|h_k(0)|, scale), per law (a float for a single law).

    Normalisation as in :func:`drift_history`: ``scale`` defaults to max_k |h_k(0)| (1 if all are 0).
    """
    d = drift_history(values, scale).max(axis=0)
    return float(d) if np.ndim(d) == 0 else d


def drift_between_breaks(values, breaks, scale: float | None = None, reduce: str = "sum"):
    """The drift of laws on the stretches of a trajectory between marked steps, per law.

    ``values`` has shape (n,) or (n, n_laws); ``breaks`` holds n − 1 booleans, True where the step
    k → k+1 is to be left out (e.g. it crosses an activation switch of a ReLU net, where the field is
    not smooth and the integrator loses its order). The stretches are the maximal runs of unmarked
    steps [a, b]; on each, d = max_{a≤k≤b} |h(k) − h(a)| / max(|h_0|, scale) (the normalisation of
    :func:`drift_history`, h_0 the first saved values). ``reduce='sum'`` adds the stretches' drifts
    (all the drift that builds up away from the breaks, a bound on it), ``'max'`` keeps the largest.
    No unmarked step: 0.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim not in (1, 2) or v.shape[0] < 1:
        raise invalid("values", f"array of shape {v.shape}", "shape (n_times,) or (n_times, n_laws)")
    b = np.asarray(breaks)
    if b.shape != (v.shape[0] - 1,) or b.dtype.kind not in "bi":
        raise invalid("breaks", f"array of shape {b.shape}", f"{v.shape[0] - 1} booleans, one per step")
    if reduce not in ("sum", "max"):
        raise invalid("reduce", reduce, "'sum' or 'max'")
    v2 = v.reshape(v.shape[0], -1)
    s = _drift_scale(v2, scale)
    denom = np.maximum(np.abs(v2[0]), s)
    out = np.zeros(v2.shape[1])
    start = 0
    for k in list(np.flatnonzero(b.astype(bool))) + [v.shape[0] - 1]:
        if k > start:  # stretch start..k (steps start..k−1 unmarked)
            d = (np.abs(v2[start : k + 1] - v2[start]) / denom).max(axis=0)
            out = out + d if reduce == "sum" else np.maximum(out, d)
        start = k + 1
    return float(out[0]) if v.ndim == 1 else out


# --- discrete optimisers -------------------------------------------------------------------------
@dataclass
class OptimiserRun:
    """A discrete run: iterates ``theta`` (n_saved, D) at ``iterations`` k = 0, s, 2s, …, and the loss
    f(x_k) at every k = 0..steps (shape (steps + 1,)). Unpacks as ``theta, loss = run``."""

    iterations: np.ndarray
    theta: np.ndarray
    loss: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.theta
        yield self.loss


def momentum_coefficients(mu: float, nu: float, delta: float) -> tuple[float, float]:
    """(α, β) of the heavy-ball scheme discretising μ x'' + ν x' = −H∇f with step δ.

    μ(x_{k+1} − 2x_k + x_{k−1})/δ² + ν(x_{k+1} − x_k)/δ = −H_k∇f(x_k) gives
    x_{k+1} = x_k − α H_k ∇f(x_k) + β(x_k − x_{k−1}) with α = δ/(ν + μ/δ), β = μ/(δν + μ).
    μ = 0 is gradient descent with step δ/ν.
    """
    mu = _real("mu", mu, nonnegative=True)
    nu = _real("nu", nu, nonnegative=True)
    delta = _real("delta", delta, positive=True)
    if mu == 0 and nu == 0:
        raise invalid("nu", nu, "μ and ν cannot both be 0 (no dynamics)")
    return delta / (nu + mu / delta), mu / (delta * nu + mu)


def _setup(loss, theta0, steps, save_every, geometry_mask):
    if not callable(loss):
        raise invalid("loss", loss, "a function θ ↦ f(θ) (JAX-traceable, scalar)")
    theta0 = _vector("theta0", theta0)
    D = theta0.shape[0]
    steps = _positive_int("steps", steps)
    save_every = _positive_int("save_every", save_every)
    _divisible(steps, save_every)
    if geometry_mask is None:
        mask = np.zeros(D, dtype=bool)
    else:
        mask = np.asarray(geometry_mask)
        if mask.shape != (D,) or mask.dtype.kind not in "bi":
            raise invalid("geometry_mask", f"array of shape {mask.shape}", f"{D} booleans (True = mirror coordinate), e.g. model.mirror_mask()")
        mask = mask.astype(bool)
    if mask.any() and not np.all(theta0[mask] > 0):
        raise invalid("theta0", "entries ≤ 0 on mirror coordinates", "θ0 > 0 wherever geometry_mask is True")
    try:
        out = jax.eval_shape(loss, jax.ShapeDtypeStruct((D,), jnp.float64))
    except Exception as exc:  # noqa: BLE001
        raise invalid("loss", loss, f"a JAX-traceable function of θ of shape ({D},) ({type(exc).__name__}: {exc})") from None
    if getattr(out, "shape", None) != ():
        raise invalid("loss", loss, f"a scalar-valued function, not one returning shape {getattr(out, 'shape', out)}")
    return theta0, steps, save_every, jnp.asarray(mask)


def _run(update: Callable, loss: Callable, theta0: np.ndarray, steps: int, save_every: int) -> OptimiserRun:
    """Scan ``update(x, x_prev) -> (x_next, f(x))`` from x_{-1} = x_0 (zero initial velocity)."""
    n_chunks = steps // save_every

    def step(carry, _):
        x, x_prev = carry
        x_next, f = update(x, x_prev)
        return (x_next, x), f

    def chunk(carry, _):
        carry, fs = jax.lax.scan(step, carry, None, length=save_every)
        return carry, (carry[0], fs)

    @jax.jit
    def run(x0):
        (x_last, _), (xs, fs) = jax.lax.scan(chunk, (x0, x0), None, length=n_chunks)
        return jnp.concatenate([x0[None], xs]), jnp.concatenate([fs.reshape(-1), loss(x_last)[None]])

    xs, fs = run(jnp.asarray(theta0))
    return OptimiserRun(save_every * np.arange(n_chunks + 1), np.asarray(xs), np.asarray(fs))


def gradient_descent(loss: Callable, theta0, step: float, steps: int, geometry_mask=None, save_every: int = 1) -> OptimiserRun:
    """Gradient descent, Euclidean or mirror (exponentiated gradient) coordinate-wise.

    Euclidean coordinates: θ ← θ − δ∇f(θ). Mirror coordinates (``geometry_mask`` True):
    θ ← θ ⊙ exp(−δ∇f(θ)), the explicit Euler step of (log θ)' = −∇f, i.e. of the mirror flow
    θ' = −diag(θ)∇f; it keeps θ > 0. ``step`` is δ > 0; ``steps`` iterations; θ saved every ``save_every``.
    """
    delta = _real("step", step, positive=True)
    theta0, steps, save_every, mask = _setup(loss, theta0, steps, save_every, geometry_mask)
    value_and_grad = jax.value_and_grad(loss)

    def update(x, x_prev):
        f, g = value_and_grad(x)
        return jnp.where(mask, x * jnp.exp(-delta * g), x - delta * g), f

    return _run(update, loss, theta0, steps, save_every)


def _momentum_checks(alpha, beta, nu, mask):
    alpha = _real("alpha", alpha, positive=True)
    beta = _real("beta", beta, nonnegative=True)
    if beta > 1:
        raise invalid("beta", beta, "a momentum coefficient in [0, 1]")
    nu = _real("nu", nu, nonnegative=True)
    if bool(mask.any()):
        if beta >= 1:
            raise invalid("beta", beta, "β < 1 with a mirror geometry (β = 1 means ν = 0: the metric νx + μx' is undefined here)")
        if nu <= 0:
            raise invalid("nu", nu, "ν > 0 with a mirror geometry")
    # μ/δ recovered from β = μ/(δν + μ): μ/δ = βν/(1 − β)
    mu_over_delta = beta * nu / (1 - beta) if beta < 1 else 0.0
    return alpha, beta, nu, mu_over_delta


def heavy_ball(
    loss: Callable,
    theta0,
    alpha: float,
    beta: float,
    steps: int,
    geometry_mask=None,
    nu: float = 1.0,
    save_every: int = 1,
) -> OptimiserRun:
    """Heavy ball x_{k+1} = x_k − α H_k ∇f(x_k) + β(x_k − x_{k−1}), from x_{−1} = x_0.

    H_k = Id on Euclidean coordinates; on mirror coordinates (``geometry_mask`` True)
    H_k = μ(x_k − x_{k−1})/δ + ν x_k, the metric of μx'' + νx' = −(μx' + νx)∇f (the paper's mirror
    momentum), with μ/δ = βν/(1 − β) recovered from β = μ/(δν + μ) and ``nu`` = ν (default 1, as in
    the paper's experiments). Get (α, β) from :func:`momentum_coefficients` (μ, ν, δ).
    """
    theta0, steps, save_every, mask = _setup(loss, theta0, steps, save_every, geometry_mask)
    alpha, beta, nu, c = _momentum_checks(alpha, beta, nu, mask)
    value_and_grad = jax.value_and_grad(loss)

    def update(x, x_prev):
        f, g = value_and_grad(x)
        d = x - x_prev
        H = jnp.where(mask, nu * x + c * d, 1.0)
        return x - alpha * H * g + beta * d, f

    return _run(update, loss, theta0, steps, save_every)


def nesterov(
    loss: Callable,
    theta0,
    alpha: float,
    beta: float,
    steps: int,
    geometry_mask=None,
    nu: float = 1.0,
    save_every: int = 1,
) -> OptimiserRun:
    """Nesterov's scheme: y_k = x_k + β(x_k − x_{k−1}), x_{k+1} = y_k − α H_k ∇f(y_k), from x_{−1} = x_0.

    The same as :func:`heavy_ball` except that the gradient is taken at the look-ahead point y_k;
    H_k is the heavy ball's (Id, or ν x_k + μ(x_k − x_{k−1})/δ on mirror coordinates). The loss
    history records f(x_k).
    """
    theta0, steps, save_every, mask = _setup(loss, theta0, steps, save_every, geometry_mask)
    alpha, beta, nu, c = _momentum_checks(alpha, beta, nu, mask)
    grad = jax.grad(loss)

    def update(x, x_prev):
        d = x - x_prev
        y = x + beta * d
        H = jnp.where(mask, nu * x + c * d, 1.0)
        return y - alpha * H * grad(y), loss(x)

    return _run(update, loss, theta0, steps, save_every)


# --- stochastic gradient descent with momentum and weight decay (PyTorch's SGD) ------------------
@dataclass
class SGDRun:
    """Minibatch SGD runs: ``theta`` (seeds, n_saved, D) at ``iterations``; ``grad_sq`` (seeds, steps) the
    squared norm ‖∇L_{Z_k}(θ_k)‖² of each minibatch gradient; ``loss`` (seeds, steps) the minibatch losses;
    ``lr`` (steps,) the steps τ_k; ``momentum`` μ and ``weight_decay`` λ as run."""

    iterations: np.ndarray
    theta: np.ndarray
    grad_sq: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    momentum: float
    weight_decay: float


def _learning_rates(lr, steps: int) -> np.ndarray:
    rates = np.full(steps, _real("lr", lr, positive=True)) if np.ndim(lr) == 0 else np.asarray(lr, dtype=np.float64)
    if rates.shape != (steps,) or not np.all(np.isfinite(rates)) or not np.all(rates > 0):
        raise invalid("lr", f"array of shape {rates.shape}", f"a step > 0 or {steps} positive steps, one per iteration")
    return rates


def sgd(
    loss: Callable,
    theta0,
    x,
    y,
    lr,
    steps: int,
    batch_size: int,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    seeds: Sequence[int] = (0,),
    save_every: int = 1,
    buffer0=None,
) -> SGDRun:
    """PyTorch's ``SGD(lr, momentum=μ, weight_decay=λ)`` on i.i.d. minibatches, one run per seed.

    d_k = ∇L_{Z_k}(θ_k) + λθ_k, b_k = μ b_{k−1} + d_k, θ_{k+1} = θ_k − τ_k b_k, i.e.
    θ_{k+1} − θ_k = μ(θ_k − θ_{k−1}) − τ_k(∇L_{Z_k}(θ_k) + λθ_k): the heavy ball θ'' + τθ' + λθ = −∇E with
    time step δ = √τ_k and friction (1 − μ)/δ. Z_k: ``batch_size`` rows of (x, y) drawn uniformly and
    independently (with replacement), so the minibatches are i.i.d. as in the follow-up paper's Prop. 5.1. ``loss(θ, x_batch, y_batch)`` is a model's mean loss.
    ``lr`` is one step or an array of ``steps`` steps (a schedule). ``buffer0`` is b_{−1} (PyTorch's
    momentum buffer before the first step; default 0, PyTorch's start), i.e. θ_{−1} = θ_0 + τ_0 b_{−1}.
    """
    if not callable(loss):
        raise invalid("loss", loss, "a function (θ, x, y) ↦ mean loss on the batch")
    theta0 = _vector("theta0", theta0)
    steps = _positive_int("steps", steps)
    save_every = _positive_int("save_every", save_every)
    _divisible(steps, save_every)
    x = jnp.asarray(x, dtype=jnp.float64)
    y = jnp.asarray(y, dtype=jnp.float64)
    n = x.shape[0]
    batch_size = _positive_int("batch_size", batch_size)
    if batch_size > n or y.shape[0] != n:
        raise invalid("batch_size", batch_size, f"at most the {n} rows of x (and y must have as many rows)")
    mu = _real("momentum", momentum, nonnegative=True)
    if mu >= 1:
        raise invalid("momentum", momentum, "a momentum coefficient μ in [0, 1)")
    lam = _real("weight_decay", weight_decay, nonnegative=True)
    rates = _learning_rates(lr, steps)
    buf0 = np.zeros_like(theta0) if buffer0 is None else _vector("buffer0", buffer0, theta0.shape[0])
    seeds = [int(sd) for sd in seeds]
    if not seeds or any(sd < 0 for sd in seeds):
        raise invalid("seeds", seeds, "one or more non-negative integers")
    keys = jnp.stack([jax.random.PRNGKey(sd) for sd in seeds])
    runner = _sgd_runner(loss, batch_size, steps, save_every)
    theta, fs, gsq = runner(keys, jnp.asarray(theta0), jnp.asarray(buf0), jnp.asarray(rates), x, y, mu, lam)
    return SGDRun(np.arange(0, steps + 1, save_every), np.asarray(theta), np.asarray(gsq), np.asarray(fs),
                  rates, mu, lam)


@functools.lru_cache(maxsize=32)
def _sgd_runner(loss: Callable, batch_size: int, steps: int, save_every: int) -> Callable:
    """The jitted SGD loop, vmapped over the seeds' keys; cached so that runs differing only in data,
    steps τ_k, μ or λ reuse one compilation."""
    value_and_grad = jax.value_and_grad(loss)

    def run(key, theta, buf0, rates, x, y, mu, lam):
        def step(carry, inputs):
            theta, buf = carry
            key, rate = inputs
            idx = jax.random.randint(key, (batch_size,), 0, x.shape[0])  # i.i.d. uniform rows
            f, g = value_and_grad(theta, x[idx], y[idx])
            buf = mu * buf + g + lam * theta
            return (theta - rate * buf, buf), (theta, f, jnp.sum(g * g))

        keys = jax.random.split(key, steps)
        (last, _), (thetas, fs, gsq) = jax.lax.scan(step, (theta, buf0), (keys, rates))
        return jnp.concatenate([thetas[::save_every], last[None]]), fs, gsq

    return jax.jit(jax.vmap(run, in_axes=(0,) + (None,) * 7))


def sgd_law_drift(run: SGDRun, law: Callable, hessian_bound: float) -> dict[str, np.ndarray]:
    """The drift of a law h under SGD against the follow-up paper's bound (Prop. 5.1).

    ``law(theta)`` maps an array (n, D) to h, shape (n,) (e.g. the sum of ``ReLUNet.neuron_laws``). Returns ``iterations``, ``drift`` |E h(θ_k) − h(θ_0)|
    (the mean over seeds, all runs starting at the same θ_0), ``bound`` (C_h C_L / 2) Σ_{i<k} τ_i² with
    C_h = ``hessian_bound`` ≥ ‖∂²h‖ and C_L = max_k of the seeds' mean ‖∇L_{Z_k}(θ_k)‖² (measured on
    the runs, so the bound is evaluated with the observed constant), and ``c_l``.
    """
    c_h = _real("hessian_bound", hessian_bound, positive=True)
    seeds, saved, D = run.theta.shape
    values = np.asarray(law(run.theta.reshape(-1, D)), dtype=np.float64).reshape(seeds, saved)
    drift = np.abs(values.mean(axis=0) - values[:, 0].mean())
    c_l = float(run.grad_sq.mean(axis=0).max())
    cumulative = np.concatenate([[0.0], np.cumsum(run.lr**2)])[run.iterations]
    return {"iterations": run.iterations, "drift": drift, "bound": 0.5 * c_h * c_l * cumulative, "c_l": c_l}


# --- Adam as a sign flow (the follow-up paper, section 2.3) --------------------------------------
def sign_span(model: Model, n_datasets: int = 200, n_samples: int = 8, seed: int = 0, theta=None) -> dict:
    """Dimension of the span of sign(∇L_Z(θ)) over random data sets Z at one random θ (exact rank).

    Full-batch Adam with β1 = β2 = 0 and no ε is the Euler scheme of θ' = −sign(∇L_Z(θ)); these fields
    are locally constant, so their brackets vanish and the laws near θ number D − dim span. Each Z is
    ``n_samples`` Gaussian inputs and outputs for the model's squared loss. The rank of the sampled
    ±1 vectors is exact (integers), a lower bound on the dimension of the span of all sign vectors, so
    ``laws`` = D − rank is an upper bound that more data sets can only lower: numerical evidence, not a
    certificate. Returns ``D``, ``rank``, ``laws`` and ``n_datasets``.
    """
    from flint import fmpz_mat

    from .data import regression_problem

    n_datasets = _positive_int("n_datasets", n_datasets)
    theta = model.random_parameters(seed) if theta is None else _vector("theta", theta, model.D)
    grad = jax.jit(jax.grad(lambda th, xb, yb: model.loss(th, xb, yb)))
    rows = []
    for k in range(n_datasets):
        xb, yb = regression_problem(model, n_samples, seed=seed * 100_003 + k + 1)
        rows.append(np.sign(np.asarray(grad(jnp.asarray(theta), jnp.asarray(xb), jnp.asarray(yb)))).astype(int))
    rank = int(fmpz_mat([list(map(int, r)) for r in rows]).rank())
    return {"D": model.D, "rank": rank, "laws": model.D - rank, "n_datasets": n_datasets}


def linear_charge(model: Model, theta_a, theta_b) -> np.ndarray:
    """R(a, b) = U_aᵀU_b − U_bᵀU_a + V_aᵀV_b − V_bᵀV_a for a two-layer linear net (r × r, antisymmetric).

    With b = a + δθ' it is δ(UᵀU' − U'ᵀU + VᵀV' − V'ᵀV); for consecutive SGD iterates (a, b) = (θ_k,
    θ_{k+1}) it is the discrete charge, R_k = μ R_{k−1} exactly. Works on stacked parameters (…, D).
    """
    a, b = np.asarray(theta_a, dtype=np.float64), np.asarray(theta_b, dtype=np.float64)
    n, r, m = model.dims
    Ua, Va = a[..., : n * r].reshape(a.shape[:-1] + (n, r)), a[..., n * r :].reshape(a.shape[:-1] + (m, r))
    Ub, Vb = b[..., : n * r].reshape(b.shape[:-1] + (n, r)), b[..., n * r :].reshape(b.shape[:-1] + (m, r))
    tr = np.swapaxes
    return tr(Ua, -1, -2) @ Ub - tr(Ub, -1, -2) @ Ua + tr(Va, -1, -2) @ Vb - tr(Vb, -1, -2) @ Va



# --------------------------------------------------------------------------------------------
# Helpers of the model chapters (lecture): kinks of ReLU trajectories, convergence orders
# --------------------------------------------------------------------------------------------

@dataclass
class Kinks:
    """Where a trajectory of a ReLU-type model meets the kinks of its field (see :func:`kinks`)."""

    switch: np.ndarray  # (n − 1,) bool: some pre-activation changes sign on the step k → k+1
    closest: np.ndarray  # (n,) the smallest |pre-activation| at each saved state
    near: np.ndarray  # (n − 1,) bool: the step switches or comes within ``margin`` of 0


def kinks(pre_activations, margin: float = 0.0) -> Kinks:
    """Activation switches and near-kink steps of a trajectory, from its pre-activations.

    ``pre_activations`` has shape (n, ...) (one array of pre-activations per saved state, e.g.
    ``ReLUNet.pre_activations(traj.theta(), x)``). A step k → k+1 *switches* when some entry changes
    sign (p > 0 on one side, p ≤ 0 on the other), and is *near* a kink when it switches or when
    min |p| at either end is below ``margin``.
    """
    pre = np.asarray(pre_activations, dtype=np.float64)
    if pre.ndim < 1 or pre.shape[0] < 2:
        raise invalid("pre_activations", f"array of shape {pre.shape}", "shape (n, ...) with n ≥ 2 saved states")
    margin = _real("margin", margin, nonnegative=True)
    flat = pre.reshape(pre.shape[0], -1)
    switch = ((flat[1:] > 0) != (flat[:-1] > 0)).any(axis=1)
    closest = np.abs(flat).min(axis=1)
    near = switch | (np.minimum(closest[1:], closest[:-1]) < margin)
    return Kinks(switch, closest, near)


def loglog_slope(x, y) -> float:
    """The least-squares slope of log y against log x: the order p of y ≈ C x^p."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1 or xs.size < 2 or np.any(xs <= 0) or np.any(ys <= 0):
        raise invalid("x, y", f"shapes {xs.shape}, {ys.shape}", "two positive 1-d arrays of the same length ≥ 2")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _in_float64(function: Callable) -> Callable:
    """``function`` run under ``jax.enable_x64(True)``: float64 inside, the caller's setting outside."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        with jax.enable_x64(True):
            return function(*args, **kwargs)

    return run


# every public function computes in float64, whatever the caller's global JAX setting
for _name in ("integrate", "simulate_flow", "evaluate_laws", "gradient_descent", "heavy_ball", "nesterov", "sgd",
              "sgd_law_drift", "sign_span", "linear_charge", "drift_history", "relative_drift",
              "drift_between_breaks", "kinks", "loglog_slope"):
    globals()[_name] = _in_float64(globals()[_name])
del _name
