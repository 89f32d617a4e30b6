"""Model files: your own factorisation g(θ, x) = f(φ(θ), x) in YAML, without writing code.

A model file names parameter blocks with their shapes, gives φ's entries as polynomials in those
blocks (parsed with the restricted grammar of :mod:`conservation_laws.algebra.parsing`, never evaluated as code), and
optionally a metric per block and shared weights::

    name: gated bilinear layer
    blocks:                 # name: shape (a list of positive integers; [] for a scalar)
      A: [2, 2]
      B: [2, 2]
      w: [2]
    phi:                    # a polynomial, or a template repeated over index ranges
      - entry: "w[k] * (A[k,i]*B[k,j] + A[k,j]*B[k,i])"
        for: {k: 2, i: 2, j: 2}
      - "A[0,0] - B[1,1]"
    metric:                 # per block: euclidean (default), mirror (M = diag(θ)), or a
      w: mirror             # diagonal polynomial metric: one polynomial per entry, or one
      B: "1 + B[i,j]^2"     # template in the block's indices i, j, k, l
    shared:                 # optional: a block that is another block's weights
      C: A

Inside a template, an index name in brackets (``A[k,i]``) runs over ``for`` (one φ entry per
combination) or over ``sum`` (added up inside each entry). Instead of ``phi``, ``compose`` lists
named models (``model``, ``dims``, ``options``, ``prefix``): φ is then the union of their φ, the
factorisation of a composition of blocks on each activation region (see ``models.blocks.ResidualReLU``).
Every mistake gives a one-line :class:`ConservationLawsError` naming the field.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from typing import Any, Mapping

from ..algebra.parsing import parse_polynomial_exact
from ..algebra.polynomial import Polynomial
from ..errors import ConservationLawsError, check_option, invalid, read_text
from .base import Block, Model
from .registry import make_model

MODEL_FILE_KEYS = ("name", "blocks", "phi", "compose", "metric", "shared")
MAX_PHI_ENTRIES = 20_000
#: Bounds checked before anything is enumerated: parameters of all blocks (counting itself stops
#: far lower, at its memory estimate), and terms of one template (entries × summands).
MAX_FILE_PARAMETERS = 100_000
MAX_TEMPLATE_TERMS = 1_000_000
_INDEX_NAMES = ("i", "j", "k", "l")
_BRACKET = re.compile(r"\[([^\]]*)\]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _error(field: str, why: str) -> ConservationLawsError:
    return ConservationLawsError(f"model file: {field}: {why}")


def _read(source) -> tuple[dict, str]:
    """The parsed mapping and a label for messages, from a path, YAML text or a mapping."""
    import yaml

    if isinstance(source, Mapping):
        return dict(source), "mapping"
    if not isinstance(source, (str, os.PathLike)):
        raise invalid("spec", source, "a model file path, YAML text or a mapping")
    text, label = None, str(source)
    looks_like_yaml = "\n" in label or (":" in label and not os.path.exists(label))
    if isinstance(source, os.PathLike) or not looks_like_yaml:
        text = read_text(source, "spec", "a readable UTF-8 YAML model file")
    else:
        text, label = str(source), "text"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _error("YAML", yaml_problem(exc)) from None
    except RecursionError:
        raise _error("YAML", "it nests too deeply") from None
    if not isinstance(data, dict):
        raise _error("top level", "expected a mapping with keys blocks and phi (or compose)")
    return data, label


def yaml_problem(exc) -> str:
    """A YAML parser error in one line: where, and what (not the parser's multi-line dump)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = getattr(exc, "problem", None) or " ".join(str(exc).split())
    return f"not valid YAML{where} ({what})"


def _shape(name: str, value) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value):
        raise _error(f"blocks.{name}", f"shape {value!r} is not a list of positive integers (use [] for a scalar)")
    if len(value) > 4:
        raise _error(f"blocks.{name}", f"shape {value!r} has more than 4 axes")
    return tuple(value)


def _entry_names(name: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, e))}]" for e in itertools.product(*map(range, shape))]


def _ranges(field: str, value) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and _NAME.fullmatch(k) for k in value):
        raise _error(field, f"{value!r} is not a mapping from index names to ranges, e.g. {{i: 2, j: 3}}")
    for k, n in value.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise _error(f"{field}.{k}", f"range {n!r} is not a positive integer")
    return dict(value)


def _substitute(template: str, values: Mapping[str, int]) -> str:
    """Replace index names inside brackets by their values: A[k,i] → A[1,0]."""
    def repl(m: re.Match) -> str:
        items = [v.strip() for v in m.group(1).split(",")]
        return "[" + ",".join(str(values[v]) if v in values else v for v in items) + "]"

    return _BRACKET.sub(repl, template)


class FileModel(Model):
    """A model read from a model file (:func:`load_model_file`): named blocks, φ, metric, shared weights."""

    name = "spec"
    default_geometry = "mixed"  # the file's own per-block metric

    def __init__(self, data: dict, label: str = "mapping"):
        unknown = sorted(set(data) - set(MODEL_FILE_KEYS), key=repr)
        if unknown:
            raise _error("top level", f"unknown key(s) {unknown}; allowed: {list(MODEL_FILE_KEYS)}")
        self.title = str(data.get("name", label))
        self.label = label
        has_phi, has_compose = "phi" in data, "compose" in data
        if has_phi == has_compose:
            raise _error("phi", "give either phi (polynomials) or compose (named models), exactly one of them")
        if has_compose:
            self._init_compose(data)
        else:
            self._init_blocks(data)
        self._init_metric(data.get("metric"))

    # --- blocks and φ written out -------------------------------------------------------------
    def _init_blocks(self, data: dict) -> None:
        raw = data.get("blocks")
        if not isinstance(raw, dict) or not raw:
            raise _error("blocks", "expected a mapping from block names to shapes, e.g. {U: [2, 3], V: [3, 2]}")
        shapes = {}
        for name, shape in raw.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise _error(f"blocks.{name}", "a block name is a letter followed by letters, digits or _")
            shapes[name] = _shape(name, shape)
        total = sum(math.prod(s) for s in shapes.values())
        if total > MAX_FILE_PARAMETERS:
            raise _error("blocks", f"{total} parameters in all; at most {MAX_FILE_PARAMETERS} in a model file")
        shared = data.get("shared") or {}
        if not isinstance(shared, dict):
            raise _error("shared", f"{shared!r} is not a mapping from a block to the block whose weights it uses")
        alias: dict[str, str] = {}
        for copy, source in shared.items():
            if copy not in shapes:
                raise _error(f"shared.{copy}", f"unknown block {copy!r} (blocks: {', '.join(shapes)})")
            if not isinstance(source, str) or source not in shapes or source in shared:
                raise _error(f"shared.{copy}", f"{source!r} is not a block with its own weights (blocks: {', '.join(shapes)})")
            if shapes[copy] != shapes[source]:
                raise _error(f"shared.{copy}", f"shape mismatch: {list(shapes[copy])} for {copy}, "
                             f"{list(shapes[source])} for {source}")
            alias[copy] = source
        self.shapes, self.alias = shapes, alias
        own = [n for n in shapes if n not in alias]
        blocks = [Block(n, shapes[n]) for n in own]
        self._names = [e for n in own for e in _entry_names(n, shapes[n])]
        super().__init__((len(self._names),), blocks)
        index = {e: i for i, e in enumerate(self._names)}
        for copy, source in alias.items():  # a shared block's entries are its source's variables
            for e_copy, e_src in zip(_entry_names(copy, shapes[copy]), _entry_names(source, shapes[source])):
                index[e_copy] = index[e_src]
        self._index = index
        phi = data.get("phi")
        if not isinstance(phi, list) or not phi:
            raise _error("phi", "expected a list of entries (polynomials, or {entry, for, sum} templates)")
        self._polys: list[Polynomial] = []
        for n, item in enumerate(phi):
            self._polys += self._expand(f"phi[{n}]", item)
            if len(self._polys) > MAX_PHI_ENTRIES:
                raise _error(f"phi[{n}]", f"φ would have more than {MAX_PHI_ENTRIES} entries")

    def _expand(self, field: str, item) -> list[Polynomial]:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if isinstance(item, str):
            return [self._polynomial(field, item)]
        if not isinstance(item, dict) or "entry" not in item:
            raise _error(field, f"{item!r} is neither a polynomial string nor a template {{entry, for, sum}}")
        extra = sorted(set(item) - {"entry", "for", "sum"}, key=repr)
        if extra:
            raise _error(field, f"unknown key(s) {extra}; a template has entry, for, sum")
        template = item["entry"]
        if not isinstance(template, str):
            raise _error(f"{field}.entry", f"{template!r} is not a polynomial string")
        loops, sums = _ranges(f"{field}.for", item.get("for")), _ranges(f"{field}.sum", item.get("sum"))
        both = set(loops) & set(sums)
        if both:
            raise _error(field, f"index {sorted(both)[0]!r} is both in for and in sum")
        if math.prod(loops.values()) > MAX_PHI_ENTRIES:
            raise _error(f"{field}.for", f"it would give more than {MAX_PHI_ENTRIES} entries")
        if math.prod(loops.values()) * math.prod(sums.values()) > MAX_TEMPLATE_TERMS:
            raise _error(f"{field}.sum", f"it would add up more than {MAX_TEMPLATE_TERMS} terms in all")
        out = []
        for combo in itertools.product(*[range(n) for n in loops.values()]):
            values = dict(zip(loops, combo))
            terms = []
            for inner in itertools.product(*[range(n) for n in sums.values()]):
                terms.append("(" + _substitute(template, {**values, **dict(zip(sums, inner))}) + ")")
            out.append(self._polynomial(field, " + ".join(terms)))
        return out

    def _polynomial(self, field: str, text: str) -> Polynomial:
        for m in _BRACKET.finditer(text):
            loose = [v.strip() for v in m.group(1).split(",") if not v.strip().isdigit()]
            if loose:
                raise _error(field, f"index {loose[0]!r} in {text!r} is in neither for nor sum")
        try:
            poly, names = parse_polynomial_exact(text)
        except ConservationLawsError as exc:
            raise _error(field, str(exc).replace("phi=", "", 1)) from None
        for name in names:
            if name in self._index:
                continue
            base = name.partition("[")[0]
            if base not in self.shapes:
                raise _error(field, f"unknown block {base!r} in {text!r} (blocks: {', '.join(self.shapes)})")
            idx = name.partition("[")[2].rstrip("]")
            raise _error(field, f"{name} does not fit the shape {list(self.shapes[base])} of {base} "
                         f"(indices {idx or 'none'}; one per axis, from 0)")
        where = [self._index[n] for n in names]  # straight to the model's coordinates (no sympy)
        return Polynomial({tuple(sorted(where[i] for i in m)): c for m, c in poly.items()})

    # --- compose: the union of named models' φ -------------------------------------------------
    def _init_compose(self, data: dict) -> None:
        parts = data["compose"]
        if not isinstance(parts, list) or not parts:
            raise _error("compose", "expected a list of models, e.g. [{model: attention, dims: [2]}]")
        if "blocks" in data or "shared" in data:
            raise _error("compose", "blocks and shared belong to a written-out phi, not to compose")
        blocks, names, polys, offset = [], [], [], 0
        self.parts: list[Model] = []
        for n, part in enumerate(parts):
            field = f"compose[{n}]"
            if not isinstance(part, dict) or "model" not in part:
                raise _error(field, f"{part!r} is not a mapping with a model name")
            extra = sorted(set(part) - {"model", "dims", "options", "prefix", "bias"}, key=repr)
            if extra:
                raise _error(field, f"unknown key(s) {extra}; allowed: model, dims, options, prefix, bias")
            options = part.get("options") or {}
            if not isinstance(options, dict):
                raise _error(f"{field}.options", f"{options!r} is not a mapping of model options")
            try:
                for key, value in options.items():
                    check_option(str(key), value)
            except ConservationLawsError as exc:
                raise _error(f"{field}.options", str(exc)) from None
            try:
                m = make_model(part["model"], part.get("dims"), bias=bool(part.get("bias", False)), **options)
            except ConservationLawsError as exc:
                raise _error(field, str(exc)) from None
            except TypeError as exc:  # an option the class does not take
                raise _error(f"{field}.options", str(exc).split(") ", 1)[-1]) from None
            prefix = str(part.get("prefix", ""))
            if prefix and not _NAME.fullmatch(prefix):
                raise _error(f"{field}.prefix", f"{prefix!r} is not a name")
            for b in m.blocks:
                blocks.append(Block(prefix + b.name, b.shape))
            new = [prefix + v for v in m.variable_names]
            clash = sorted(set(new) & set(names))
            if clash:
                raise _error(f"{field}.prefix", f"parameter {clash[0]} already exists: give this part a prefix")
            names += new
            polys += [Polynomial({tuple(i + offset for i in mono): c for mono, c in p.items()})
                      for p in m.phi_polynomials()]
            offset += m.D
            self.parts.append(m)
        self.shapes = {b.name: b.shape for b in blocks}
        self.alias = {}
        self._names = names
        self._index = {n: i for i, n in enumerate(names)}
        self._polys = polys
        super().__init__((len(names),), blocks)

    # --- metric -------------------------------------------------------------------------------
    def _init_metric(self, metric) -> None:
        metric = metric or {}
        if not isinstance(metric, dict):
            raise _error("metric", f"{metric!r} is not a mapping from blocks to euclidean, mirror or polynomials")
        self._mirror = [False] * self.D
        self._metric: list[Polynomial] | None = None
        custom: dict[int, Polynomial] = {}
        for name, value in metric.items():
            if name not in self.shapes or name in self.alias:
                raise _error(f"metric.{name}", f"unknown block {name!r} (blocks with weights: "
                             f"{', '.join(b.name for b in self.blocks)})")
            field = f"metric.{name}"
            entries = range(self.offsets[name], self.offsets[name] + math.prod(self.shapes[name]))
            if value is None or value == "euclidean":
                continue
            if value == "mirror":
                for j in entries:
                    self._mirror[j] = True
                continue
            if isinstance(value, str) and _NAME.fullmatch(value.strip()) and value.strip() not in self._index:
                raise _error(field, f"unknown metric {value.strip()!r}: euclidean, mirror, or a polynomial in the "
                             f"entries of the blocks (a template in the block's indices i, j, k, l)")
            if isinstance(value, str):
                shape = self.shapes[name]
                polys = [self._polynomial(field, _substitute(value, dict(zip(_INDEX_NAMES, e))))
                         for e in itertools.product(*map(range, shape))]
            elif isinstance(value, list):
                if len(value) != len(entries):
                    raise _error(field, f"{len(value)} polynomials for a block of {len(entries)} entries "
                                 f"(shape {list(self.shapes[name])}): give one per entry, or one template")
                polys = [self._polynomial(f"{field}[{n}]", str(v)) for n, v in enumerate(value)]
            else:
                raise _error(field, f"{value!r} is not euclidean, mirror, a polynomial template or a list of polynomials")
            custom.update(zip(entries, polys))
        if custom:
            one = Polynomial.constant(1)
            self._metric = [custom.get(j, Polynomial.variable(j) if self._mirror[j] else one) for j in range(self.D)]

    # --- the Model interface --------------------------------------------------------------------
    @property
    def variable_names(self) -> list[str]:
        return self._names

    def phi_polynomials(self) -> list[Polynomial]:
        return list(self._polys)

    def _mixed_mask(self) -> tuple[bool, ...]:
        return tuple(self._mirror)

    def metric_polynomials(self, geometry: str | None = None) -> list[Polynomial] | None:
        """The diagonal polynomial metric M(θ)_jj of the file (None: Euclidean/mirror blocks only, or
        another geometry asked for)."""
        return self._metric if (geometry or self.default_geometry) == "mixed" else None

    def predict(self, theta, x):
        raise invalid("model", self.title, "a model file defines φ, not g: it can be counted (count, laws, sweeps) "
                      "but not simulated; simulate a named model instead")

    def describe(self) -> str:
        return f"model file {self.title!r} (D = {self.D}, {len(self._polys)} entries of φ)"


def load_model_file(source) -> FileModel:
    """Read a model file (path, YAML text or mapping) into a :class:`FileModel`; one-line errors."""
    data, label = _read(source)
    return FileModel(data, label)


def example_model_file() -> str:
    """The README's example model file (a gated bilinear layer), as YAML text."""
    return EXAMPLE


EXAMPLE = """\
# A gated bilinear layer: g(θ, x)_k = w_k (A x)_k (B x)_k, read as a factorisation
# g_k = w_k Σ_ij A[k,i] B[k,j] x_i x_j depends on the symmetrised products only.
name: gated bilinear layer
blocks:
  A: [2, 2]
  B: [2, 2]
  w: [2]
phi:
  - entry: "w[k] * (A[k,i]*B[k,j] + A[k,j]*B[k,i])"
    for: {k: 2, i: 2, j: 2}
"""
