"""The public API, in the command line's words: ``count``, ``laws``, ``simulate``, ``make_model``,
``load_model`` and ``Flow``, re-exported at the top level (``import conservation_laws as cl``).

Every long option of ``conservation-laws count`` and ``conservation-laws laws`` (but ``--json``,
``--batch`` and ``--no-progress``, which are about the command's output) is a keyword of
:func:`count` and :func:`laws` with the same name, dashes made underscores: ``--weight-decay`` is
``weight_decay``, ``--time-degree`` is ``time_degree``. A model is a name with its widths
(``"linear", dims=[2, 3, 2]``), a model object (``make_model``, ``load_model``), or the path of a
model file. Contradictory arguments raise :class:`ConservationLawsError` naming both; no function
changes its arguments. The results, :class:`Count` and :class:`Laws`, display themselves in a
notebook: a count in one line with its certificate, laws as formulas in the model's names.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Mapping, Sequence

from ..errors import ConservationLawsError, invalid
from ..flows import FLOW_NAMES, Flow
from ..models import MODEL_NAMES, Model
from ..models import make_model as _make_model

__all__ = ["count", "laws", "simulate", "make_model", "load_model", "Flow", "Count", "Laws", "Law",
           "ConservationLawsError"]

#: How many laws of each list a notebook display writes out before it says how many more there are.
DISPLAY_LIMIT = 20
_MODEL_FILE_SUFFIXES = (".yaml", ".yml")


# --- formatting ---------------------------------------------------------------------------------
def _shown(x: Fraction) -> str:
    """A rational as a reader writes it: 1, 0.25 (a short exact decimal) or 1/3."""
    if x.denominator == 1:
        return str(x.numerator)
    d = x.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    text = str(float(x))
    return text if d == 1 and len(text) <= 8 else f"{x.numerator}/{x.denominator}"


def _flow_words(kind: str, tau: Fraction, weight_decay: Fraction) -> str:
    words = {"gradient": "gradient flow", "momentum": f"heavy ball τ = {_shown(tau)}",
             "nesterov": "Nesterov (τ = 3/t)", "natural": "natural gradient flow"}[kind]
    return words + (f", λ = {_shown(weight_decay)}" if weight_decay else "")


def _certificate_words(certificate: str, how: str, failure_bound: float) -> str:
    if certificate == "proved":
        return f"proved: {how}" if how else "proved"
    if certificate == "probabilistic":
        return f"probabilistic: exact except with probability ≤ {failure_bound:.2g}"
    return "upper bound only: at most this many"


def _escape(text: str) -> str:
    from html import escape

    return escape(text, quote=False)


# --- results ------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Count:
    """The number of independent conservation laws N − K of a model under a flow, and how it is known.

    The fields are the keys of ``conservation-laws count --json`` (:meth:`as_dict` gives that record
    back): ``laws`` = N − K, ``dimension`` N (phase-space coordinates), ``rank`` K = dim Lie(W)(ξ0),
    ``certificate`` ("proved", "probabilistic" or "upper bound only") with ``certificate_how`` and
    ``failure_bound`` (a proved bound on Pr[laws ≠ the true count]: 0 when proved, 1 for an upper
    bound only), the case (``model``, ``dims``, ``flow``, ``tau``, ``weight_decay``, ``geometry``,
    …) and the run (``prime``, ``depth``, ``rank_by_depth``, ``seconds``, …). ``tau`` and
    ``weight_decay`` are exact rationals. ``N`` and ``K`` are short names of ``dimension`` and
    ``rank``; ``description`` says the case in words.
    """

    laws: int
    dimension: int
    rank: int
    certificate: str
    certificate_how: str
    failure_bound: float
    model: str
    dims: tuple[int, ...] | None
    flow: str
    tau: Fraction
    weight_decay: Fraction
    bias: bool
    geometry: str
    parameters: int
    seed: int
    repeats: int
    depth: int
    stabilised: bool
    prime: int
    checks: int
    rank_by_depth: tuple[int, ...]
    brackets_expanded: int
    candidates_tested: int
    fingerprint: str
    seconds: float
    rank_seconds: float
    phi: tuple[str, ...] | None = None
    variables: tuple[str, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    spec: str | None = None
    time_variable: str | None = None
    regime: str | None = None
    description: str = ""

    @property
    def N(self) -> int:
        """N, the number of coordinates of the phase space (``dimension``)."""
        return self.dimension

    @property
    def K(self) -> int:
        """K = dim Lie(W)(ξ0), the rank of the fields' Lie algebra at a random point (``rank``)."""
        return self.rank

    def as_dict(self) -> dict:
        """The record ``conservation-laws count --json`` prints for the same case (same keys)."""
        from .cases import case_record

        out = case_record(self.model, self.dims, self.phi, self.variables, self.options, self.spec, self.flow,
                          self.tau, self.bias, self.geometry, self.parameters, self.seed, self.weight_decay,
                          self.time_variable, self.regime)
        out.update({"dimension": self.dimension, "rank": self.rank, "laws": self.laws, "depth": self.depth,
                    "stabilised": self.stabilised, "prime": self.prime, "failure_bound": self.failure_bound,
                    "repeats": self.repeats, "seconds": self.seconds, "brackets_expanded": self.brackets_expanded,
                    "candidates_tested": self.candidates_tested, "rank_by_depth": list(self.rank_by_depth),
                    "certificate": self.certificate, "certificate_how": self.certificate_how,
                    "checks": self.checks, "fingerprint": self.fingerprint, "rank_seconds": self.rank_seconds})
        return out

    def _line(self, strong: tuple[str, str] = ("", "")) -> str:
        word = "law" if self.laws == 1 else "laws"
        cert = _certificate_words(self.certificate, self.certificate_how, self.failure_bound)
        return f"{self.description}: {strong[0]}{self.laws} {word}{strong[1]} (N = {self.N}, K = {self.K}; {cert})"

    def __str__(self) -> str:
        return self._line()

    def __repr__(self) -> str:
        extra = f", weight_decay={_shown(self.weight_decay)}" if self.weight_decay else ""
        tau = f", tau={_shown(self.tau)}" if self.tau else ""
        return (f"Count(laws={self.laws}, N={self.N}, K={self.K}, certificate={self.certificate!r}, "
                f"model={self.model!r}, dims={list(self.dims) if self.dims else None}, flow={self.flow!r}{tau}{extra})")

    def _repr_markdown_(self) -> str:
        return self._line(("**", "**"))

    def _repr_html_(self) -> str:
        word = "law" if self.laws == 1 else "laws"
        cert = _certificate_words(self.certificate, self.certificate_how, self.failure_bound)
        return (f"<p>{_escape(self.description)}: <strong>{self.laws} {word}</strong> "
                f"(N = {self.N}, K = {self.K}; {_escape(cert)})</p>")


@dataclass(frozen=True, repr=False)
class Law:
    """One conservation law h: ``expr`` (a sympy expression in the model's parameter names, the time
    coordinate s = e^{γt} written out in t), ``latex`` (the same in the model's notation, e.g.
    ``U_{0,1}``), ``kind`` ("polynomial", "logarithmic" or "Abelian-integral") and, for a polynomial
    law, ``polynomial``: the library's exact :class:`~conservation_laws.polynomial.Polynomial` in
    the phase-space coordinates (with s itself)."""

    expr: Any
    latex: str
    kind: str = "polynomial"
    polynomial: Any = None

    def __str__(self) -> str:
        return str(self.expr)

    def __repr__(self) -> str:
        text = str(self.expr)
        return f"Law({text if len(text) <= 70 else text[:67] + '...'})"

    def _repr_latex_(self) -> str:
        return f"${self.latex}$"


@dataclass(frozen=True, repr=False)
class Laws:
    """The conservation laws found for a model under a flow, and whether they are all of them.

    ``basis``: functionally independent laws h1…hk (:class:`Law`): the polynomial ones of least degree
    (degree ≤ ``degree`` in θ and v, times powers of the time coordinate up to ``time_degree``), then
    the logarithmic and Abelian-integral laws that the search adds when the flow has no time
    coordinate. ``others``: the other polynomial laws found, each a function of the basis.
    ``complete`` is True when the basis has as many laws as the count N − K allows (``upper_bound``):
    every law is then locally a function of the basis, and the count is proved.

    ``certificate`` (and ``failure_bound``) is the certificate of the count N − K (``count``, a
    :class:`Count`): "proved" when the list is complete. When it is not complete, it is the count's
    own certificate (probabilistic or upper bound only), which says how sure N − K is, not that laws
    beyond ``degree`` exist. ``verdict`` says the same in words.

    ``str()`` prints the list as ``conservation-laws laws`` does: in LaTeX when the call had
    ``latex=True``, with the other laws when it had ``all=True``. A notebook shows the basis, then
    the others, as formulas.
    """

    basis: tuple[Law, ...]
    others: tuple[Law, ...]
    complete: bool
    independent: int
    upper_bound: int
    degree: int
    time_degree: int
    verified: bool
    verdict: str
    basis_statement: str
    count: Count
    latex_text: bool = False
    list_all: bool = False

    @property
    def certificate(self) -> str:
        """The certificate of the count N − K ("proved" when the list is complete)."""
        return self.count.certificate

    @property
    def failure_bound(self) -> float:
        """The count's proved bound on Pr[N − K ≠ the true count] (0 when proved)."""
        return self.count.failure_bound

    @property
    def description(self) -> str:
        return self.count.description

    def _head(self) -> str:
        kinds = "" if all(h.kind == "polynomial" for h in self.basis) else " (with logarithmic or Abelian laws)"
        state = "complete" if self.complete else f"incomplete at degree ≤ {self.degree}"
        word = "law" if len(self.basis) == 1 else "laws"
        return f"{self.description}: {len(self.basis)} independent {word}{kinds}, {state} (N − K = {self.upper_bound})"

    def __str__(self) -> str:
        show = (lambda h: h.latex) if self.latex_text else str
        lines = [self._head()]
        lines += [f"  h{i} = {show(h)}" for i, h in enumerate(self.basis, 1)]
        if self.others and self.list_all:
            lines.append(f"  the other {len(self.others)} law(s) found, functions of the basis:")
            lines += [f"  h{i} = {show(h)}" for i, h in enumerate(self.others, len(self.basis) + 1)]
        elif self.others:
            lines.append(f"  (all=True lists the other {len(self.others)})")
        lines.append(self.verdict)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Laws(basis={len(self.basis)}, others={len(self.others)}, complete={self.complete}, "
                f"upper_bound={self.upper_bound}, degree={self.degree}, certificate={self.certificate!r})")

    @staticmethod
    def _formulas(laws: Sequence[Law], start: int) -> list[str]:
        shown = [f"h_{{{i}}} &= {h.latex}" for i, h in enumerate(laws[:DISPLAY_LIMIT], start)]
        return shown

    def _repr_markdown_(self) -> str:
        parts = [f"**{_escape(self._head())}**"]
        if self.basis:
            parts.append("$$\n\\begin{aligned}\n" + " \\\\\n".join(self._formulas(self.basis, 1))
                         + "\n\\end{aligned}\n$$")
        if self.others:
            parts.append(f"The other {len(self.others)} law(s) found, functions of the basis:")
            parts.append("$$\n\\begin{aligned}\n" + " \\\\\n".join(self._formulas(self.others, len(self.basis) + 1))
                         + "\n\\end{aligned}\n$$")
            if len(self.others) > DISPLAY_LIMIT:
                parts.append(f"… and {len(self.others) - DISPLAY_LIMIT} more.")
        parts.append(_escape(self.verdict))
        return "\n\n".join(parts)

    def _repr_html_(self) -> str:
        """The same as the Markdown, the formulas in ``div.math`` blocks that MathJax typesets both in
        Jupyter and in the book (whose Markdown outputs are read as CommonMark, without math)."""

        def block(laws: Sequence[Law], start: int) -> str:
            rows = " \\\\\n".join(self._formulas(laws, start))
            return ('<div class="math notranslate nohighlight">\\[\\begin{aligned}\n'
                    + _escape(rows) + "\n\\end{aligned}\\]</div>")

        parts = [f"<p><strong>{_escape(self._head())}</strong></p>"]
        if self.basis:
            parts.append(block(self.basis, 1))
        if self.others:
            parts.append(f"<p>The other {len(self.others)} law(s) found, functions of the basis:</p>")
            parts.append(block(self.others, len(self.basis) + 1))
            if len(self.others) > DISPLAY_LIMIT:
                parts.append(f"<p>… and {len(self.others) - DISPLAY_LIMIT} more.</p>")
        parts.append(f"<p>{_escape(self.verdict)}</p>")
        return "\n".join(parts)

    def _repr_latex_(self) -> str:
        rows = self._formulas(self.basis, 1) + self._formulas(self.others, len(self.basis) + 1)
        if not rows:
            return "$\\text{no law of degree} \\le " + str(self.degree) + "$"
        return "$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$"


# --- arguments ----------------------------------------------------------------------------------
def _fraction(name: str, value) -> Fraction:
    from .cases import _fraction as exact

    return exact(name, value)


def _resolve_flow(flow, tau, weight_decay, geometry) -> tuple[str, Fraction, Fraction, str | None]:
    """(kind, τ, λ, geometry) from a flow name or a Flow object and the flow keywords; a keyword
    that disagrees with the Flow object raises."""
    if flow is None:
        flow = "gradient"
    if isinstance(flow, Flow):
        for name, given, own, symbol in (("tau", tau, flow.tau, "τ"), ("weight_decay", weight_decay,
                                                                          flow.weight_decay, "λ")):
            if given is not None and _fraction(name, given) != own:
                raise invalid(name, given,
                              f"the Flow given as flow has {symbol} = {_shown(own)} ({flow.describe()}); "
                              f"give {name} once, in the Flow or as a keyword")
        if geometry is not None and flow.geometry is not None and geometry != flow.geometry:
            raise invalid("geometry", geometry, f"the Flow given as flow has geometry {flow.geometry!r}; "
                          "give the geometry once, in the Flow or as a keyword")
        return flow.kind, flow.tau, flow.weight_decay, flow.geometry or geometry
    if not isinstance(flow, str) or flow not in FLOW_NAMES:
        raise invalid("flow", flow, f"a Flow or one of {', '.join(FLOW_NAMES)}")
    tau = Fraction(0) if tau is None else _fraction("tau", tau)
    weight_decay = Fraction(0) if weight_decay is None else _fraction("weight_decay", weight_decay)
    return flow, tau, weight_decay, geometry


def _options(option) -> dict:
    """``option`` as model keyword options: a mapping, or KEY=VALUE strings as ``--option`` takes."""
    if option is None:
        return {}
    if isinstance(option, Mapping):
        return dict(option)
    if isinstance(option, str):
        option = [option]
    from .cli import parse_options

    return parse_options(list(option))


@dataclass
class _Resolved:
    family: Any
    header: dict  # the record's case fields before the count's (as ``count --json``)
    kind: str
    tau: Fraction
    weight_decay: Fraction
    seed: int
    repeats: int


def _resolve(model, dims, *, option, spec, bias, phi, flow, tau, weight_decay, geometry, seed,
             repeats=1) -> _Resolved:
    """The field family of the case and the CLI record's case fields, every argument checked."""
    from .cases import MAX_REPEATS, make_case
    from ..flows import vector_fields

    if isinstance(dims, Flow):  # count(model, Flow(...)): the flow in second place
        if flow is not None:
            raise invalid("flow", flow, f"one flow: the second argument is already one ({dims.describe()})")
        flow, dims = dims, None
    kind, tau, weight_decay, geometry = _resolve_flow(flow, tau, weight_decay, geometry)
    if isinstance(model, os.PathLike) or (isinstance(model, str) and model not in MODEL_NAMES
                                          and model.lower().endswith(_MODEL_FILE_SUFFIXES)):
        if spec is not None:
            raise invalid("spec", spec, f"one model file: the model argument is already one ({os.fspath(model)!r})")
        model, spec = None, os.fspath(model)
    options = _options(option)
    if isinstance(model, Model):
        given = {"dims": dims, "bias": bias or None, "phi": phi, "option": options or None, "spec": spec}
        for name, value in given.items():
            if value is not None:
                raise invalid(name, value, f"nothing: the model object {model!r} already fixes it; give {name} "
                              "only with a model name")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise invalid("seed", seed, "a non-negative integer")
        if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
            raise invalid("repeats", repeats, f"an integer from 1 to {MAX_REPEATS}")
        wd = {"weight_decay": weight_decay} if weight_decay else {}
        family = vector_fields(model, Flow(kind, tau, geometry, **wd))
        named = model.name not in ("polynomial", "spec")
        header = {"model": model.name, "dims": list(model.dims) if named and model.dims else None}
        return _Resolved(family, header, kind, tau, weight_decay, seed, repeats)
    if model is not None and not isinstance(model, str):
        raise invalid("model", model, "a model name, a model object (make_model, load_model) or a model file path")
    case = make_case(model=model, dims=dims, phi=phi, spec=spec, options=options, bias=bias, flow=kind,
                     tau=tau, weight_decay=weight_decay, geometry=geometry, seed=seed, repeats=repeats)
    family = case.family()
    header: dict[str, Any] = {"model": case.model, "dims": list(case.dims) if case.dims else None}
    if case.phi:
        header["phi"] = list(case.phi)
        header["variables"] = list(family.model.variable_names)
    if case.options:
        header["options"] = dict(case.options)
    if case.spec:
        header["spec"] = case.spec
    return _Resolved(family, header, kind, case.tau, case.weight_decay, case.seed, case.repeats)


def _description(family) -> str:
    model = family.model
    words = f"{model.describe()}, {_flow_words(family.flow.kind, family.flow.tau, family.flow.weight_decay)}"
    if family.geometry != model.default_geometry:
        words += f", {family.geometry} geometry"
    return words


def _make_count(r: _Resolved, lie, seconds: float) -> Count:
    """A :class:`Count` from the resolved case and its ``lie.LieResult`` (the CLI's record, typed)."""
    family = r.family
    res = lie.as_dict()
    header = r.header
    return Count(
        laws=res["laws"], dimension=res["dimension"], rank=res["rank"], certificate=res["certificate"],
        certificate_how=res["certificate_how"], failure_bound=res["failure_bound"], model=header["model"],
        dims=tuple(header["dims"]) if header["dims"] is not None else None, flow=r.kind, tau=r.tau,
        weight_decay=r.weight_decay, bias=bool(getattr(family.model, "bias", False)), geometry=family.geometry,
        parameters=family.model.D, seed=r.seed, repeats=res["repeats"], depth=res["depth"],
        stabilised=res["stabilised"], prime=res["prime"], checks=res["checks"],
        rank_by_depth=tuple(res["rank_by_depth"]), brackets_expanded=res["brackets_expanded"],
        candidates_tested=res["candidates_tested"], fingerprint=res["fingerprint"], seconds=seconds,
        rank_seconds=res["seconds"], phi=tuple(header["phi"]) if "phi" in header else None,
        variables=tuple(header["variables"]) if "variables" in header else None,
        options=dict(header.get("options", {})), spec=header.get("spec"),
        time_variable=family.flow.time_variable if r.weight_decay else None,
        regime=family.flow.regime if r.weight_decay else None, description=_description(family))


# --- the public functions -----------------------------------------------------------------------
def count(model: str | Model | os.PathLike | None = None, dims: Sequence[int] | Flow | None = None, *,
          flow: str | Flow | None = None, tau: float | str | Fraction | None = None,
          weight_decay: float | str | Fraction | None = None,
          geometry: str | None = None, bias: bool = False, phi: Sequence[str] | str | None = None,
          option: Mapping[str, Any] | Sequence[str] | None = None, spec: str | os.PathLike | None = None,
          seed: int = 0, repeats: int = 1, prove: bool = False, max_depth: int = 64,
          prime: int | None = None, jax: str | os.PathLike | None = None, numerical: bool = False) -> Count:
    r"""The number of independent conservation laws of a model under a flow, with its certificate.

    A conservation law is a function h of the phase space with X h = ⟨∇h, X⟩ = 0 for every field X
    of the flow's family W (the model's forces, and the drift of a momentum flow). Their number
    near a generic point is

    .. math:: N - K, \qquad K = \dim \mathrm{Lie}(W)(\xi_0),

    N the number of coordinates and K the dimension of the Lie algebra generated by W at a random
    point ξ0, computed as an exact rank modulo a random prime p. N − K is always an upper bound; the
    certificate says whether it is proved, probabilistic (with a proved bound on the failure
    probability) or an upper bound only. ``conservation-laws count`` with the same options gives
    the same record (:meth:`Count.as_dict`).

    Parameters
    ----------
    model
        A model name (``linear``, ``relu``, ``nmf``, ``icnn``, ``product`` or a block of the
        follow-up paper) with ``dims``; a model object (``make_model``, ``load_model``), then
        without ``dims``, ``bias``, ``phi``, ``option``, ``spec``; or a model file's path
        (``.yaml``), the same as ``spec=``.
    dims
        Widths, output first and input last (``--dims``). A :class:`Flow` is accepted here too,
        after a model object: ``count(model, Flow("momentum", tau=1))``.
    flow
        ``gradient`` (default), ``momentum`` (heavy ball), ``nesterov``, ``natural``, or a
        :class:`Flow`; ``tau``, ``weight_decay`` and ``geometry`` may then only repeat its values.
    tau
        Friction τ ≥ 0 of the heavy ball (an int, a Fraction, a float or text such as ``"1/2"``).
    weight_decay
        Weight decay λ ≥ 0 (θ' = −∇E − λθ; θ'' + τθ' + λθ = −∇E).
    geometry
        ``euclidean``, ``mirror``, ``mixed`` or their ``-position`` forms; default the model's own.
    bias
        Hidden biases (``relu``, ``icnn``).
    phi
        A user model: the entries of φ as polynomials in text, e.g. ``["u1*v1 + u2*v2"]``.
    option
        The model's options: a mapping ``{"heads": 2}`` or ``"KEY=VALUE"`` strings.
    spec
        A model file's path (the model argument may be that path too).
    seed
        Seed of the random prime and point.
    repeats
        Independent runs; the largest rank is kept.
    prove
        Then try to prove the count by exhibiting N − K exactly verified laws.
    max_depth
        Diagnostic (``--max-depth``): stop the bracket construction at this depth; a count cut
        short is an upper bound only.
    prime
        Diagnostic (``--prime``): the exact rank modulo this fixed prime instead of random primes;
        a fixed prime gives an upper bound only.
    jax
        A model written in JAX (``--jax FILE.py``): the file defines ``apply(params, x)``,
        ``params`` and ``input_shape`` (:func:`conservation_laws.from_jax` reads it exactly).
    numerical
        With a JAX model (``--numerical``): count from floating-point ranks instead, for programs that
        are not polynomial (softmax, tanh, ...). Returns the engine's ``NumericalResult`` (certificate
        ``numerical``, with the gap and the inputs used) instead of a :class:`Count`.

    Returns
    -------
    Count
        ``laws`` (N − K), ``N``, ``K``, ``certificate``, ``failure_bound`` and the case.

    Raises
    ------
    ConservationLawsError
        On bad or contradictory arguments, with one line naming them.

    Examples
    --------
    >>> import conservation_laws as cl
    >>> c = cl.count("linear", dims=[2, 3, 2], flow="momentum", tau=1, weight_decay=0.25)
    >>> c.laws, c.N, c.K, c.certificate
    (3, 25, 22, 'probabilistic')
    >>> c.laws == c.N - c.K and c.failure_bound < 1e-9
    True
    >>> print(c)  # doctest: +ELLIPSIS
    linear [2, 3, 2], heavy ball τ = 1, λ = 0.25: 3 laws (N = 25, K = 22; probabilistic...)
    >>> cl.count("linear", dims=[2, 2, 2], prove=True).certificate
    'proved'
    """
    t0 = time.perf_counter()
    if jax is not None:
        if model is not None:
            raise invalid("jax", os.fspath(jax), "a JAX file that replaces the model argument: give one or the other")
        from .jax_file import load_jax_file

        model = load_jax_file(os.fspath(jax))
    if not isinstance(numerical, bool):
        raise invalid("numerical", numerical, "True or False")
    if numerical:
        from ..engine.numerical import numerical_count
        from ..models.jax_model import JaxModel

        if not isinstance(model, JaxModel):
            raise invalid("numerical", True, "a path for a JAX model: give jax=FILE.py or a from_jax model")
        if prove:
            raise invalid("prove", True, "the exact path: a numerical count cannot be proved")
        the_flow = flow if isinstance(flow, Flow) else Flow(flow or "gradient", tau or 0, geometry,
                                                                **({"weight_decay": weight_decay} if weight_decay else {}))
        return numerical_count(model, the_flow, seed=seed)
    r = _resolve(model, dims, option=option, spec=spec, bias=bias, phi=phi, flow=flow, tau=tau,
                 weight_decay=weight_decay, geometry=geometry, seed=seed, repeats=repeats)
    if not isinstance(prove, bool):
        raise invalid("prove", prove, "True or False")
    from ..engine.lie import count_laws

    for name, value, low, high in (("max_depth", max_depth, 1, 64), ("prime", prime, 2, 2**31 - 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise invalid(name, value, f"an integer from {low} to {high}")
    lie = count_laws(r.family, seed=r.seed, repeats=r.repeats, max_depth=max_depth, prime=prime)
    if prove:
        from ..engine.darboux import prove_count

        lie = prove_count(r.family, lie=lie, seed=r.seed)
    return _make_count(r, lie, time.perf_counter() - t0)


def laws(model: str | Model | os.PathLike | None = None, dims: Sequence[int] | Flow | None = None, *,
         flow: str | Flow | None = None, tau: float | str | Fraction | None = None,
         weight_decay: float | str | Fraction | None = None,
         geometry: str | None = None, bias: bool = False, phi: Sequence[str] | str | None = None,
         option: Mapping[str, Any] | Sequence[str] | None = None, spec: str | os.PathLike | None = None,
         seed: int = 0, degree: int = 2, time_degree: int | None = None, latex: bool = False,
         all: bool = False, jax: str | os.PathLike | None = None) -> Laws:  # noqa: A002 - the CLI's --all
    r"""Every polynomial conservation law up to a degree, exactly, and whether they are all of them.

    A polynomial h = Σ_m c_m m (monomials m of degree ≤ ``degree`` in θ and v, times powers of the
    time coordinate up to ``time_degree``) is a law iff

    .. math:: X h = \langle \nabla h, X \rangle = 0 \quad \text{for every field } X \in W,

    a linear system in the c_m, solved exactly and verified over the rationals. The basis keeps
    functionally independent laws of least degree; when their number meets the count N − K the
    list is complete and the count proved. When the flow has no time coordinate and the
    polynomial laws fall short, logarithmic laws :math:`\sum_i q_i \log|p_i| + P` (Darboux
    polynomials :math:`p_i`) and the known Abelian integrals are searched too, as
    ``conservation-laws laws`` does.

    The case (``model``, ``dims``, ``flow``, ``tau``, ``weight_decay``, ``geometry``, ``bias``,
    ``phi``, ``option``, ``spec``, ``seed``) is given as for :func:`count`.

    Parameters
    ----------
    degree
        Largest degree in θ (and v); default 2.
    time_degree
        Largest power of the time coordinate (default 1 for s = e^{γt}, 3 for Nesterov's t).
    latex
        ``str()`` of the result prints the laws in LaTeX (the CLI's ``--latex``).
    all
        ``str()`` of the result lists the laws outside the basis too (the CLI's ``--all``). The
        result holds every law either way.
    jax
        A model written in JAX (``--jax FILE.py``), read exactly (:func:`conservation_laws.from_jax`).

    Returns
    -------
    Laws
        ``basis`` and ``others`` (each a :class:`Law` with ``expr`` and ``latex``), ``complete``,
        ``certificate`` (the count's), ``count`` (the :class:`Count`).

    Examples
    --------
    >>> import conservation_laws as cl
    >>> found = cl.laws("nmf", dims=[2, 2, 2])
    >>> [str(h) for h in found.basis]
    ['U[0,0] + U[1,0] - V[0,0] - V[0,1]', 'U[0,1] + U[1,1] - V[1,0] - V[1,1]']
    >>> found.basis[0].latex
    'U_{0,0} + U_{1,0} - V_{0,0} - V_{0,1}'
    >>> found.complete, found.certificate, len(found.others)
    (True, 'proved', 3)
    """
    from ..engine.darboux import complete_laws
    from ..engine.laws import polynomial_laws

    t0 = time.perf_counter()
    for name, value in (("latex", latex), ("all", all)):
        if not isinstance(value, bool):
            raise invalid(name, value, "True or False")
    if jax is not None:
        if model is not None:
            raise invalid("jax", os.fspath(jax), "a JAX file that replaces the model argument: give one or the other")
        from .jax_file import load_jax_file

        model = load_jax_file(os.fspath(jax))
    r = _resolve(model, dims, option=option, spec=spec, bias=bias, phi=phi, flow=flow, tau=tau,
                 weight_decay=weight_decay, geometry=geometry, seed=seed)
    family = r.family
    res = polynomial_laws(family, degree=degree, time_degree=time_degree, seed=r.seed)
    extra = complete_laws(res) if family.flow.time_variable is None else None  # as the CLI
    lie = extra.lie if extra is not None else res.lie

    def listed(which: str) -> tuple[Law, ...]:
        polys = res.basis if which == "basis" else res.others
        return tuple(Law(e, t, "polynomial", p) for e, t, p in zip(res.in_time(which), res.latex(which), polys))

    basis = listed("basis")
    if extra is not None:
        import sympy

        names = family.latex_names()
        more = [("logarithmic", h) for h in extra.log_laws] + [("Abelian-integral", h) for h in extra.abelian_laws]
        for kind, h in more:
            expr = h.to_sympy(family.symbols)
            basis += (Law(expr, sympy.latex(expr, symbol_names=names), kind),)
    complete = res.complete or bool(extra and extra.complete)
    verdict = extra.verdict() if extra is not None else res.verdict()
    independent = extra.independent if extra is not None else res.independent
    return Laws(basis=basis, others=listed("others"), complete=complete, independent=independent,
                upper_bound=res.upper_bound, degree=res.degree, time_degree=res.time_degree,
                verified=res.verified, verdict=verdict, basis_statement=res.basis_statement(),
                count=_make_count(r, lie, time.perf_counter() - t0), latex_text=latex, list_all=all)


def simulate(model: str | Model | os.PathLike, data: Any, dims: Sequence[int] | None = None, *,
             flow: str | Flow | None = None, tau: float | str | Fraction | None = None,
             weight_decay: float | str | Fraction | None = None,
             geometry: str | None = None, bias: bool = False, option: Mapping[str, Any] | None = None,
             theta0: Any = None, v0: Any = None, t0: float | None = None, t1: float = 1.0,
             steps: int = 1000, save_every: int = 1, seed: int = 0):
    r"""Integrate a model's flow on data with Runge–Kutta 4 (a front to ``simulate_flow``).

    Gradient flow θ' = −M(θ)∇E(θ) − λθ; heavy ball θ'' + τθ' + λθ = −M∇E (Nesterov: τ = 3/t), with
    M = 1 (Euclidean) or the model's mirror metric. RK4 takes ``steps`` equal steps from ``t0`` to
    ``t1`` (global error O(h⁴)); the state is saved every ``save_every`` steps.

    The model and the flow (``model``, ``dims``, ``flow``, ``tau``, ``weight_decay``,
    ``geometry``, ``bias``, ``option``) are given as for :func:`count`: a model name with
    ``dims``, a model object or a model file's path.

    Parameters
    ----------
    data
        The risk: data ``(x, y)`` (or ``x`` alone, e.g. NMF's matrix), E = ``model.loss(θ, x, y)``;
        or the gradient ∇E as a function of θ.
    theta0
        Initial parameters; default ``model.random_parameters(seed)``.
    v0
        Initial velocity (momentum only); default 0.
    t0
        Start time; default 0, and 1 for Nesterov (τ = 3/t).
    t1
        End time.
    steps
        RK4 steps from ``t0`` to ``t1``.
    save_every
        Save the state every this many steps (a divisor of ``steps``).
    seed
        Seed of the default initial parameters.

    Returns
    -------
    Trajectory
        Times ``t``, states ``y`` (θ, then v under momentum) and the ``flow``; laws are evaluated
        along it with ``simulate.evaluate_laws``, which reads the time coordinate's rate from it.

    Examples
    --------
    >>> import numpy as np
    >>> import conservation_laws as cl
    >>> x, y = np.eye(2), np.ones((2, 2))
    >>> run = cl.simulate("linear", (x, y), dims=[2, 2, 2], t1=1.0, steps=100)
    >>> run.y.shape
    (101, 8)
    >>> U, V = run.y[:, :4].reshape(-1, 2, 2), run.y[:, 4:].reshape(-1, 2, 2)
    >>> Q = U.transpose(0, 2, 1) @ U - V.transpose(0, 2, 1) @ V  # UᵀU − VᵀV is conserved
    >>> bool(np.abs(Q - Q[0]).max() < 1e-6 * np.abs(Q[0]).max())
    True
    """
    from ..models import Model as _Model
    from ..simulation.simulate import simulate_flow

    if isinstance(dims, Flow):
        raise invalid("dims", dims, "widths; give the flow as flow=")
    kind, tau_, wd, geometry = _resolve_flow(flow, tau, weight_decay, geometry)
    if isinstance(model, _Model):
        for name, value in (("dims", dims), ("bias", bias or None), ("option", option)):
            if value is not None:
                raise invalid(name, value, f"nothing: the model object {model!r} already fixes it")
        m = model
    elif isinstance(model, os.PathLike) or (isinstance(model, str) and model not in MODEL_NAMES):
        if dims is not None or bias or option:
            raise invalid("dims", dims, "nothing: a model file fixes its own blocks")
        m = load_model(model)
    else:
        m = _make_model(model, dims, bias=bias, **_options(option))
    wd_kw = {"weight_decay": wd} if wd else {}
    flow_obj = Flow(kind, tau_, geometry, **wd_kw)
    if theta0 is None:
        theta0 = m.random_parameters(seed)
    return simulate_flow(m, flow_obj, data, theta0, v0=v0, t0=t0, t1=t1, steps=steps, save_every=save_every)


def load_model(path: str | os.PathLike | Mapping[str, Any]) -> Model:
    """A model from a model file: named parameter blocks, the polynomials φ through which the model
    depends on them (g(θ, x) = f(φ(θ), x)), and optionally a metric per block (see the README).

    ``path`` is the file's path; YAML text or a mapping are accepted too. The model's laws are
    those of the family {M ∇φ_i} of its fields, like any other model's.

    Examples
    --------
    >>> import conservation_laws as cl
    >>> text = '''
    ... blocks: {u: [2], v: [2]}
    ... phi: ["u[0]*v[0] + u[1]*v[1]"]
    ... '''
    >>> model = cl.load_model(text)
    >>> model.D, model.variable_names
    (4, ['u[0]', 'u[1]', 'v[0]', 'v[1]'])
    >>> cl.count(model).laws  # D − 1 for a single output
    3
    """
    from ..models.model_file import load_model_file as load_spec

    return load_spec(os.fspath(path) if isinstance(path, os.PathLike) else path)


def make_model(name: str, dims: Sequence[int] | None = None, **options: Any) -> Model:
    """A model by name: its parameters θ in named blocks and the polynomials φ(θ) through which the
    model depends on them, g(θ, x) = f(φ(θ), x) (the factorisation the laws are counted on).

    ``linear`` [n, r, m]: θ = (U, V), φ = U Vᵀ (deeper: the matrix product of the layers);
    ``relu``: the path products of the weights (and biases with ``bias=True``); ``nmf``: φ = U Vᵀ
    with U, V ≥ 0 (mirror geometry); ``icnn``; ``product`` [D]: φ = x1⋯xD; ``polynomial`` with
    ``phi=[...]`` (a user model); the follow-up paper's blocks (attention, conv1d, conv2d, softmax,
    residual, transformer) with their options, e.g. ``heads=2``; ``spec=`` a model file.

    Examples
    --------
    >>> import conservation_laws as cl
    >>> model = cl.make_model("linear", [2, 3, 2])
    >>> model.D, model.variable_names[:3]
    (12, ['U[0,0]', 'U[0,1]', 'U[0,2]'])
    >>> cl.make_model("attention", [2], heads=2).D > 0
    True
    """
    return _make_model(name, dims, **options)
