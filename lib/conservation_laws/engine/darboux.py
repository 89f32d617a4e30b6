"""Laws beyond low-degree polynomials: logarithmic laws built from Darboux polynomials.

(When no logarithm closes the gap, ``search_laws`` also asks ``abelian`` for the hyperelliptic
integrals it knows, for the deep scalar-output linear network.)

A polynomial p is a *Darboux polynomial* of the family W if X p = λ_X p for every generator X,
with polynomial cofactors λ_X (for NMF's mirror fields X = Σ_k u_k v_k (∂_{u_k} + ∂_{v_k}) the
coordinates are: X u_k = v_k·u_k). Then X log|p| = λ_X, so for polynomial laws q_i (X q_i = 0)
and a polynomial P,

    h = Σ_i q_i log|p_i| + P   is a law   ⟺   Σ_i q_i λ_{i,X} + X P = 0   for every X,

a *linear* system in the coefficients of the q_i (over a basis of the known polynomial laws and 1)
and of P (monomials up to a degree). Constant q_i give the logarithms of rational laws Π p_i^{e_i}.

Everything is exact. The candidates p are the coordinates and the irreducible factors of the
fields' components; a candidate is kept iff X p = λ p holds exactly over Q (polynomial division).
The system is solved over Q (FLINT's rational row echelon form), and every law returned is
**verified** again, term by term, with exact rational arithmetic: X q_i = 0, X p_i = λ_i p_i and
Σ q_i λ_i + X P = 0 (the law holds wherever the p_i do not vanish).

Independence: the rank of the gradients of all laws (the polynomial ones and the logarithmic ones)
at a rational point ξ*, where ∇h = Σ (log|p_i(ξ*)| ∇q_i + q_i ∇p_i / p_i) + ∇P, computed in interval
arithmetic (mpmath.iv): a pivot is accepted only if its interval excludes 0, so the rank found is
a proved lower bound on the number of independent laws. With ``lie.count_laws``'s upper bound
N − K_computed (always an upper bound), equality proves the count and the list is complete
(``lie.prove_by_laws``), deterministically.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

import sympy

from ..errors import invalid
from ..flows import FieldFamily, Flow, vector_fields
from .laws import _kernel_exact
from .lie import LieResult, check_matches, count_laws, prove_by_laws
from ..models import Model
from ..algebra.polynomial import Polynomial, VectorField, from_sympy

#: Most Darboux candidates tried (coordinates first, then factors of the fields' components).
MAX_CANDIDATES = 200
#: Most unknowns of the logarithmic system (dense exact elimination).
MAX_UNKNOWNS = 1_000


@dataclass
class LogLaw:
    """h = Σ_i q_i log|p_i| + P, exactly verified."""

    logs: list[tuple[Polynomial, Polynomial]]  # (q_i, p_i)
    polynomial: Polynomial  # P

    def to_sympy(self, symbols: Sequence[sympy.Symbol]) -> sympy.Expr:
        expr = self.polynomial.to_sympy(symbols)
        for q, p in self.logs:
            expr += q.to_sympy(symbols) * sympy.log(p.to_sympy(symbols))
        return expr


@dataclass
class DarbouxResult:
    """Polynomial and logarithmic laws together, and how far they are from the Lie count."""

    family: FieldFamily
    polynomial_laws: list[Polynomial]
    log_laws: list[LogLaw]
    darboux: list[tuple[Polynomial, list[Polynomial]]]  # (p, cofactor per generator)
    independent: int  # proved lower bound (interval-certified gradient rank)
    upper_bound: int  # N − K_computed
    lie: LieResult
    verified: bool
    seconds: float
    notes: list[str] = field(default_factory=list)
    abelian_laws: list = field(default_factory=list)  # abelian.AbelianLaw, exactly verified

    def __repr__(self) -> str:  # never the whole field family nor every law
        return (f"DarbouxResult(polynomial={len(self.polynomial_laws)}, logarithmic={len(self.log_laws)}, "
                f"abelian={len(self.abelian_laws)}, independent={self.independent}, upper_bound={self.upper_bound}, "
                f"complete={self.complete}, certificate={self.lie.certificate!r})")

    @property
    def complete(self) -> bool:
        return self.verified and self.independent == self.upper_bound

    @property
    def expressions(self) -> list[sympy.Expr]:
        syms = self.family.symbols
        return ([h.to_sympy(syms) for h in self.polynomial_laws] + [h.to_sympy(syms) for h in self.log_laws]
                + [h.to_sympy(syms) for h in self.abelian_laws])

    @property
    def kinds(self) -> str:
        """The kinds of laws exhibited ("polynomial", "polynomial and logarithmic", …)."""
        kinds = ["polynomial"] + (["logarithmic"] if self.log_laws else []) + (
            ["Abelian-integral"] if self.abelian_laws else [])
        return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]

    def verdict(self) -> str:
        if self.complete:
            return (f"complete: {self.independent} independent {'law' if self.independent == 1 else 'laws'} ({self.kinds}) = N − K = "
                    f"{self.upper_bound} (proved: exact verification + Lie upper bound)")
        return (f"incomplete: {self.independent} independent {'law' if self.independent == 1 else 'laws'} (polynomial and logarithmic) found, the Lie "
                f"count allows {self.upper_bound}")


# --- exact polynomial helpers ------------------------------------------------------------------
def _to_poly(p: Polynomial, syms) -> sympy.Poly:
    return sympy.Poly(p.to_sympy(syms), *syms, domain="QQ")


def _normalised(p: Polynomial) -> Polynomial:
    """p divided by its leading coefficient (a canonical representative up to constants)."""
    lead = p[max(p)]
    return p * (1 / Fraction(lead))


def darboux_polynomials(family: FieldFamily, max_candidates: int = MAX_CANDIDATES) -> list[tuple[Polynomial, list[Polynomial]]]:
    """Every candidate p (a coordinate, or an irreducible factor of a field component) with X p = λ_X p
    for each generator X, exactly; returned with its cofactors λ_X."""
    gens = [g for g in family.generators if not g.is_zero()]
    syms = family.symbols
    N = family.N
    candidates: list[Polynomial] = [Polynomial.variable(j) for j in range(N)]
    seen = {tuple(sorted(c.items())) for c in candidates}
    for g in gens:
        for comp in g.components:
            if len(candidates) >= max_candidates or not comp or len(comp) > 50:
                continue
            _, factors = sympy.factor_list(comp.to_sympy(syms), *syms)
            for f, _mult in factors:
                poly = _normalised(from_sympy(f, syms))
                key = tuple(sorted(poly.items()))
                if poly.degree() >= 1 and key not in seen and len(candidates) < max_candidates:
                    seen.add(key)
                    candidates.append(poly)
    found = []
    for p in candidates:
        P = _to_poly(p, syms)
        cofactors = []
        for X in gens:
            q, r = sympy.div(_to_poly(X.apply(p), syms), P)
            if not r.is_zero:
                break
            cofactors.append(from_sympy(q.as_expr(), syms))
        else:
            found.append((p, cofactors))
    return found


def _monomials(N: int, degree: int) -> list[tuple[int, ...]]:
    return [m for d in range(1, degree + 1) for m in itertools.combinations_with_replacement(range(N), d)]


def log_laws(family: FieldFamily, polynomial_laws: Sequence[Polynomial],
             darboux: Sequence[tuple[Polynomial, list[Polynomial]]], degree: int = 2) -> list[LogLaw]:
    """Every law Σ_i q_i log|p_i| + P with q_i ∈ span(1, polynomial_laws), p_i the Darboux polynomials
    and P of degree ≤ ``degree`` (a basis of the solutions that involve a logarithm), exactly verified."""
    gens = [g for g in family.generators if not g.is_zero()]
    basis_q = [Polynomial.constant(1)] + list(polynomial_laws)
    monos = _monomials(family.N, degree)
    n_log = len(darboux) * len(basis_q)
    ncols = n_log + len(monos)
    if ncols > MAX_UNKNOWNS:
        raise invalid("degree", degree, f"the logarithmic system would have {ncols} unknowns; at most {MAX_UNKNOWNS}")
    if not darboux:
        return []
    rows: list[dict[int, Fraction]] = []
    for gi, X in enumerate(gens):
        image: dict[tuple[int, ...], dict[int, Fraction]] = {}
        for i, (_, cof) in enumerate(darboux):
            for a, q in enumerate(basis_q):
                col = i * len(basis_q) + a
                for m, c in (q * cof[gi]).items():
                    image.setdefault(m, {})[col] = image.get(m, {}).get(col, 0) + c
        for k, m in enumerate(monos):
            for mm, c in X.apply(Polynomial({m: Fraction(1)})).items():
                col = n_log + k
                image.setdefault(mm, {})[col] = image.get(mm, {}).get(col, 0) + c
        rows.extend({c: v for c, v in row.items() if v} for row in image.values())
    rows = [r for r in rows if r]
    out = []
    for vec in _kernel_exact(rows, ncols):
        if not any(vec[:n_log]):
            continue  # no logarithm: a polynomial law, already known
        logs = []
        for i, (p, _) in enumerate(darboux):
            q = Polynomial()
            for a, b in enumerate(basis_q):
                c = vec[i * len(basis_q) + a]
                if c:
                    q = q + b * c
            if q:
                logs.append((q, p))
        P = Polynomial({m: vec[n_log + k] for k, m in enumerate(monos) if vec[n_log + k]})
        out.append(LogLaw(logs, P))
    return out


def verify_log_law(law: LogLaw, family: FieldFamily) -> bool:
    """Exact check, independent of the solver: X q_i = 0, X p_i = λ_i p_i, Σ q_i λ_i + X P = 0 for all X."""
    syms = family.symbols
    for X in (g for g in family.generators if not g.is_zero()):
        total = X.apply(law.polynomial)
        for q, p in law.logs:
            if X.apply(q):
                return False
            lam, rem = sympy.div(_to_poly(X.apply(p), syms), _to_poly(p, syms))
            if not rem.is_zero:
                return False
            total = total + q * from_sympy(lam.as_expr(), syms)
        if total:
            return False
    return True


# --- independence: interval-certified rank of the gradients --------------------------------------------
def certified_rank(family: FieldFamily, polynomial_laws: Sequence[Polynomial], laws_log: Sequence[LogLaw],
                   seed: int = 0, digits: int = 60) -> tuple[int, list[int]]:
    """A proved lower bound on the number of independent laws among all of them, and the laws that
    achieve it (indices, polynomial laws first): the rank of their gradients at a random rational
    point, by interval Gaussian elimination in row order (a pivot counts only if its interval excludes
    0, so the minor of the selected rows and pivot columns is non-zero)."""
    from mpmath import iv

    N = family.N
    rng = random.Random(seed)
    polys = [p for law in laws_log for _, p in law.logs]
    for _ in range(50):
        point = [Fraction(rng.randint(1, 97), rng.randint(1, 13)) for _ in range(N)]
        if all(p.evaluate(point) != 0 for p in polys):
            break
    iv.dps = digits

    def I(x: Fraction):
        return iv.mpf(x.numerator) / iv.mpf(x.denominator)

    def grad_rational(p: Polynomial) -> list[Fraction]:
        return [Fraction(p.derivative(j).evaluate(point)) for j in range(N)]

    rows = [[I(g) for g in grad_rational(h)] for h in polynomial_laws]
    for law in laws_log:
        row = [I(g) for g in grad_rational(law.polynomial)]
        for q, p in law.logs:
            pv = Fraction(p.evaluate(point))
            logp = iv.log(abs(I(pv)))
            gq, gp, qv = grad_rational(q), grad_rational(p), Fraction(q.evaluate(point))
            for j in range(N):
                row[j] = row[j] + logp * I(gq[j]) + I(qv * gp[j] / pv)
        rows.append(row)
    selected, live_cols = [], list(range(N))
    for r in range(len(rows)):  # rows in order: a row is kept iff it brings a certified pivot
        best = None
        for c in live_cols:
            x = rows[r][c]
            if not (x.a <= 0 <= x.b) and (best is None or float(abs(x).a) > best[0]):
                best = (float(abs(x).a), c)
        if best is None:
            continue
        c = best[1]
        pivot = rows[r][c]
        for r2 in range(r + 1, len(rows)):
            f = rows[r2][c] / pivot
            rows[r2] = [rows[r2][j] - f * rows[r][j] for j in range(N)]
        live_cols.remove(c)
        selected.append(r)
    return len(selected), selected


def search_laws(model: Model | FieldFamily, flow: Flow | str = "gradient", tau=0, geometry: str | None = None,
                degree: int = 2, seed: int = 0, lie: LieResult | None = None,
                polynomial: Sequence[Polynomial] | None = None) -> DarbouxResult:
    """Polynomial laws (``laws.polynomial_laws`` up to ``degree``, unless given) and logarithmic laws
    Σ q_i log|p_i| + P, all exactly verified; complete when their proved independent count meets
    the Lie upper bound N − K_computed (``DarbouxResult.lie`` is then a proved copy of ``lie``, which
    is not changed)."""
    from .laws import polynomial_laws

    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise invalid("degree", degree, "a positive integer")
    t0 = time.perf_counter()
    family = model if isinstance(model, FieldFamily) else vector_fields(model, flow, tau=tau, geometry=geometry)
    if lie is not None:
        check_matches(lie, family)
    lie = lie or count_laws(family, seed=seed)
    if polynomial is None:
        polynomial = polynomial_laws(family, degree=degree, seed=seed, lie=lie).laws
    polynomial = list(polynomial)
    darboux = darboux_polynomials(family)
    verified = all(not any(g.apply(h) for g in family.generators) for h in polynomial)
    # coefficients q_i from the laws of degree ≤ 1 first (small system), then from all of them
    low = [h for h in polynomial if h.degree() <= 1]
    for basis in ([low, polynomial] if len(low) < len(polynomial) else [polynomial]):
        found = log_laws(family, basis, darboux, degree=degree)
        ok = verified and all(verify_log_law(h, family) for h in found)
        found.sort(key=lambda h: sum(len(q) + len(p) for q, p in h.logs) + len(h.polynomial))  # simplest first
        independent, rows = certified_rank(family, polynomial, found, seed=seed) if ok else (0, [])
        found = [h for i, h in enumerate(found) if len(polynomial) + i in set(rows)]  # the independent ones
        if independent >= lie.laws:
            break
    verified = ok
    abelian_found: list = []
    if verified and not found and independent < lie.laws:
        # no logarithm helps: a hyperelliptic integral may (the cases of the abelian module)
        from . import abelian

        abelian_found, with_abelian = abelian.search(family, [h.to_sympy(family.symbols) for h in polynomial],
                                                     seed=seed)
        independent = max(independent, with_abelian)
    result = DarbouxResult(family, polynomial, found, darboux, independent, lie.laws, lie, verified,
                           time.perf_counter() - t0, abelian_laws=abelian_found)
    if result.complete:
        result.lie = prove_by_laws(lie, independent, f"{result.kinds} laws")  # a proved copy
    return result


def complete_laws(res) -> DarbouxResult | None:
    """For a ``laws.LawsResult`` that is incomplete, the Darboux search on the same family with its
    laws and Lie count; None when it was complete already. (One call in the ``laws`` command.)"""
    from ..errors import ConservationLawsError

    if res.complete:
        return None
    try:
        return search_laws(res.family, degree=max(res.degree, 1), lie=res.lie, polynomial=res.laws)
    except ConservationLawsError:  # the logarithmic system is too large for this family: no verdict change
        return None


def prove_count(model: Model | FieldFamily, flow: Flow | str = "gradient", tau=0, geometry: str | None = None,
                lie: LieResult | None = None, degree: int = 2, seed: int = 0) -> LieResult:
    """A Lie count (``lie.count_laws``, unless given) turned into a proof where laws can be exhibited,
    cheapest first; returns the count. The count a chapter quotes.

    Polynomial laws of degree 1, then 2, … up to ``degree`` (``laws.polynomial_laws``, in the time
    coordinate too for momentum or weight decay); if they fall short of N − K_computed and the flow
    has no time coordinate, the logarithmic (and Abelian) laws on top of them (``search_laws``).
    When the proved independent laws meet the upper bound, the count returned is "proved" (laws
    exhibited; a copy: a ``lie`` given is not changed); otherwise it is ``lie`` as it was, with its
    proved failure bound (a system the solver refuses as too large changes nothing either).
    """
    from ..errors import ConservationLawsError
    from .laws import polynomial_laws

    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise invalid("degree", degree, "a positive integer")
    family = model if isinstance(model, FieldFamily) else vector_fields(model, flow, tau=tau, geometry=geometry)
    lie = lie or count_laws(family, seed=seed)
    if lie.certificate == "proved":
        return lie
    poly = None
    for d in range(1, degree + 1):
        try:
            poly = polynomial_laws(family, degree=d, seed=seed, lie=lie)
        except ConservationLawsError:  # too large for the solver at this degree
            break
        if poly.complete:
            return poly.lie
    if poly is not None and family.flow.time_variable is None:
        try:
            return search_laws(family, degree=max(degree, 2), seed=seed, lie=lie, polynomial=poly.laws).lie
        except ConservationLawsError:
            pass
    return lie
