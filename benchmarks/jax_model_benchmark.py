"""Benchmark of models written in JAX (``from_jax``): not a test, it times things and writes results.

    .venv/bin/python benchmarks/jax_model_benchmark.py

(a) exact path: the same map as a plain JAX function and as the built-in model (the floor), each
    counted under gradient flow by ``lie.count_laws``; the JAX side's time includes tracing and
    reading φ from the program. The counts must agree.
(b) numerical path (``engine.numerical.numerical_count``, compilation included) against its expected
    count: polynomial models (where the exact count is the reference) and non-polynomial ones
    (softmax(Wx): m laws; one attention head: d(d + 1) laws), and heavy ball (τ = 1) against the exact
    count of the built-in model.

Writes ``benchmarks/results/jax_model_benchmark.json`` and ``.md``; exit status 1 if a count differs.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from conservation_laws import from_jax  # noqa: E402
from conservation_laws.engine.lie import count_laws  # noqa: E402
from conservation_laws.engine.numerical import numerical_count  # noqa: E402
from conservation_laws.flows import Flow  # noqa: E402
from conservation_laws.models import make_model  # noqa: E402

SPEC = ("NCH", "OIH", "NCH")
MOMENTUM = Flow("momentum", 1)


def linear(n, r, m):
    return (from_jax(lambda p, x: p["U"] @ (p["V"].T @ x), {"U": np.zeros((n, r)), "V": np.zeros((m, r))}, (m,)),
            make_model("linear", [n, r, m]), r * (r + 1) // 2)


def relu(n, h, m):
    def apply(p, x):
        return p["U1"] @ jax.nn.relu(p["U2"] @ x)
    return (from_jax(apply, {"U1": np.zeros((n, h)), "U2": np.zeros((h, m))}, (m,)), make_model("relu", [n, h, m]), h)


def conv(c2, c1, c0, kernel, stride, size):
    def apply(p, x):
        h = jax.lax.conv_general_dilated(x[None], p["v"], (stride,), [(0, 0)], dimension_numbers=SPEC)
        return jax.lax.conv_general_dilated(jax.nn.relu(h), p["u"], (1,), [(0, 0)], dimension_numbers=SPEC)[0]
    params = {"u": np.zeros((c2, c1, kernel)), "v": np.zeros((c1, c0, kernel))}
    return (from_jax(apply, params, (c0, size)),
            make_model("conv1d", [c2, c1, c0], kernel=kernel, stride=stride, input_size=size), c1)


def softmax(n, m):
    return from_jax(lambda p, x: jax.nn.softmax(p["W"] @ x), {"W": np.zeros((n, m))}, (m,)), m


def attention(d, dim, tokens):
    def head(p, X):
        return jax.nn.softmax((X @ p["Q"].T) @ (p["K"] @ X.T), axis=-1) @ X @ p["V"].T @ p["O"]
    return from_jax(head, {k: np.zeros((d, dim)) for k in "QKVO"}, (tokens, dim)), d * (d + 1)


def exact_part() -> list[dict]:
    cases = [("linear [3, 2, 3]", lambda: linear(3, 2, 3)), ("linear [6, 4, 6]", lambda: linear(6, 4, 6)),
             ("relu [2, 3, 2]", lambda: relu(2, 3, 2)), ("relu [4, 8, 4]", lambda: relu(4, 8, 4)),
             ("relu [8, 16, 8]", lambda: relu(8, 16, 8)),
             ("conv1d [2, 2, 1], kernel 3, stride 2, input 9", lambda: conv(2, 2, 1, 3, 2, 9))]
    out = []
    for name, build in cases:
        t0 = time.perf_counter()
        model, built_in, expected = build()
        phi = model.phi_polynomials()
        laws = count_laws(model).laws
        t_jax = time.perf_counter() - t0
        t0 = time.perf_counter()
        floor = count_laws(built_in).laws
        t_floor = time.perf_counter() - t0
        out.append({"model": name, "D": model.D, "phi_entries": len(phi), "laws": laws, "built_in_laws": floor,
                    "expected": expected, "seconds": t_jax, "built_in_seconds": t_floor,
                    "ratio": t_jax / t_floor if t_floor else None, "ok": laws == floor == expected})
    return out


def numerical_part() -> list[dict]:
    cases = [("linear [3, 2, 3] (polynomial)", lambda: linear(3, 2, 3)[::2]),
             ("relu [2, 3, 2] (piecewise linear)", lambda: relu(2, 3, 2)[::2]),
             ("softmax(Wx), W 3×2", lambda: softmax(3, 2)), ("softmax(Wx), W 4×3", lambda: softmax(4, 3)),
             ("attention head d = 1, dim = 2, 2 tokens", lambda: attention(1, 2, 2)),
             ("attention head d = 1, dim = 3, 3 tokens", lambda: attention(1, 3, 3)),
             ("linear [2, 2, 2], heavy ball τ = 1", lambda: (make_model("linear", [2, 2, 2]),
                                                           count_laws(make_model("linear", [2, 2, 2]), MOMENTUM).laws)),
             ("softmax(Wx), W 3×2, heavy ball τ = 1", lambda: (softmax(3, 2)[0],
                                                             count_laws(make_model("softmax", [3, 2]), MOMENTUM).laws))]
    out = []
    for name, build in cases:
        model, expected = build()
        res = numerical_count(model, MOMENTUM if "heavy ball" in name else "gradient", seed=0)
        out.append({"model": name, "D": model.D, "laws": res.laws, "expected": expected, "seconds": res.seconds,
                    "inputs": res.inputs, "gap": None if res.gap == float("inf") else res.gap,
                    "point_ranks": res.point_ranks, "agrees": res.agrees, "saturated": res.saturated,
                    "ok": res.laws == expected and res.agrees})
    return out


def main() -> int:
    exact, numerical = exact_part(), numerical_part()
    machine = (f"{platform.platform()}, Python {platform.python_version()}, jax {jax.__version__}; "
               f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "jax_model_benchmark.json").write_text(json.dumps({"machine": machine, "exact": exact,
                                                                  "numerical": numerical}, indent=1))
    lines = [f"Machine: {machine}.", "", "**(a) Exact path** (tracing and φ included) against the built-in model:", "",
             "| model | D | φ entries | laws | built-in | expected | s | built-in s | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for r in exact:
        lines.append(f"| {r['model']} | {r['D']} | {r['phi_entries']} | {r['laws']} | {r['built_in_laws']} | "
                     f"{r['expected']} | {r['seconds']:.3f} | {r['built_in_seconds']:.3f} | {r['ratio']:.2f} |")
    lines += ["", "**(b) Numerical path** (compilation included):", "",
              "| model | D | laws | expected | inputs | gap | ranks at 2 points | s |", "|---|---|---|---|---|---|---|---|"]
    for r in numerical:
        gap = "∞" if r["gap"] is None else f"{r['gap']:.1e}"
        lines.append(f"| {r['model']} | {r['D']} | {r['laws']} | {r['expected']} | {r['inputs']} | {gap} | "
                     f"{r['point_ranks']} | {r['seconds']:.2f} |")
    (results / "jax_model_benchmark.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r["ok"] for r in exact + numerical) else 1


if __name__ == "__main__":
    sys.exit(main())
