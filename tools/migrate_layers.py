"""Rewrite the imports of the layout before issue 20 (flat conservation_laws) to the layered one.

For the integrator: run it on a branch that predates the move, after merging, to fix its imports
(`python tools/migrate_layers.py tests/*.py chapters/*.ipynb ...`; .py, .ipynb code cells, .md).
It can be deleted once every branch is merged.
"""
import json
import re
import sys

MODULES = {  # old module under conservation_laws -> new dotted path (from the package root)
    "polynomial": "conservation_laws.algebra.polynomial",
    "parsing": "conservation_laws.algebra.parsing",
    "spec": "conservation_laws.models.model_file",
    "lie": "conservation_laws.engine.lie",
    "laws": "conservation_laws.engine.laws",
    "darboux": "conservation_laws.engine.darboux",
    "abelian": "conservation_laws.engine.abelian",
    "simulate": "conservation_laws.simulation.simulate",
    "data": "conservation_laws.simulation.data",
    "cases": "conservation_laws.interfaces.cases",
    "cli": "conservation_laws.interfaces.cli",
    "sweep": "conservation_laws.interfaces.sweep",
    "claims": "companion.claims",
    "book": "companion.book",
    "provenance": "companion.provenance",
    "plotting": "companion.plotting",
    "validation": "companion.validation",
}
ORDER = ["companion", "conservation_laws", "conservation_laws.algebra", "conservation_laws.models",
         "conservation_laws.engine", "conservation_laws.simulation", "conservation_laws.interfaces"]

FROM_TOP = re.compile(r"^([ \t]*)from conservation_laws import (?:\(([^)]*)\)|([^\n]*?))([ \t]*#[^\n]*)?$",
                      re.MULTILINE)
FROM_MOD = re.compile(r"\bconservation_laws\.(" + "|".join(MODULES) + r")\b")


def _split_top(m: re.Match) -> str:
    indent, paren, plain, comment = m.group(1), m.group(2), m.group(3), m.group(4) or ""
    names = [n.strip() for n in (paren if paren is not None else plain).replace("\n", " ").split(",")]
    names = [n for n in names if n]
    groups: dict[str, list[str]] = {}
    for n in names:
        base = n.split(" as ")[0].strip()
        target = MODULES.get(base)
        pkg = target.rsplit(".", 1)[0] if target else "conservation_laws"
        groups.setdefault(pkg, []).append(n)
    if list(groups) == ["conservation_laws"]:
        return m.group(0)
    lines = [f"{indent}from {pkg} import {', '.join(groups[pkg])}{comment}" for pkg in ORDER if pkg in groups]
    return "\n".join(lines)


#: Names renamed by the move, replaced where they are unambiguous (the report of issue 20 lists the rest:
#: Model.from_spec, flows.lifted_count, lie._mulmod, lie.save_certificate_log, lie.clear_certificate_log).
TOKENS = [
    (re.compile(r"\bmodels\.exhibited_laws\("), "laws.paper_laws_rank("),
    (re.compile(r"\blie\.certificate_log\(\)"), "book.certificate_log()"),
    (re.compile(r"\blie\.load_certificate_logs\("), "book.load_certificate_logs("),
]
MODEL_FILE_NAMES = [(re.compile(r"\bload_spec\b"), "load_model_file"), (re.compile(r"\bexample_spec\b"), "example_model_file"),
                    (re.compile(r"\bSpecModel\b"), "FileModel")]


def rewrite(text: str) -> str:
    text = FROM_TOP.sub(_split_top, text)
    text = FROM_MOD.sub(lambda m: MODULES[m.group(1)], text)
    for pattern, new in TOKENS:
        text = pattern.sub(new, text)
    if "conservation_laws.models.model_file import" in text and "sweep" not in text:
        for pattern, new in MODEL_FILE_NAMES:
            text = pattern.sub(new, text)
    return text


def main(paths):
    for path in paths:
        if path.endswith(".ipynb"):
            raw = open(path, encoding="utf-8").read()
            nb = json.loads(raw)
            changed = False
            for cell in nb["cells"]:
                if cell["cell_type"] != "code":
                    continue
                src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                new = rewrite(src)
                if new != src:
                    changed = True
                    cell["source"] = new.splitlines(keepends=True) if isinstance(cell["source"], list) else new
            if changed:
                out = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
                open(path, "w", encoding="utf-8").write(out)
                print("rewrote", path)
        else:
            src = open(path, encoding="utf-8").read()
            new = rewrite(src)
            if new != src:
                open(path, "w", encoding="utf-8").write(new)
                print("rewrote", path)


if __name__ == "__main__":
    main(sys.argv[1:])
