"""Model files: the README's example through the command line and the API, and every kind of mistake."""

import json
import re
from pathlib import Path

import pytest

from conservation_laws.engine import laws
from conservation_laws.interfaces import cli
from conservation_laws.errors import ConservationLawsError
from conservation_laws.engine.lie import count_laws
from conservation_laws.models import make_model
from conservation_laws.algebra.parsing import parse_polynomial
from conservation_laws.models.model_file import example_model_file, load_model_file

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def readme_example(tmp_path):
    """The YAML block of the README's section on model files, written to gated.yaml."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(# gated\.yaml\n.*?)```", text, re.S)
    assert block, "the README's model-file example is missing"
    path = tmp_path / "gated.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    return path


def run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_readme_example_counts(readme_example, capsys):
    # φ = (w_k A[k,i] B[k,j]): per k, the rescalings of (A[k,:], B[k,:], w_k) with product 1: 2 laws each
    code, out, _ = run(["count", "--spec", str(readme_example), "--json"], capsys)
    assert code == 0 and json.loads(out)["laws"] == 4
    for flow in ("momentum", "nesterov"):
        code, out, _ = run(["count", "--spec", str(readme_example), "--flow", flow, "--json"], capsys)
        assert code == 0 and json.loads(out)["laws"] == 0


def test_readme_example_laws(readme_example, capsys):
    code, out, _ = run(["laws", "--spec", str(readme_example), "--degree", "2", "--json"], capsys)
    rec = json.loads(out)
    assert code == 0 and rec["complete"] and rec["found"] == 4
    m = load_model_file(readme_example)
    A = lambda k, i: f"A[{k},{i}]**2"  # noqa: E731
    expected = [f"{A(k, 0)} + {A(k, 1)} - B[{k},0]**2 - B[{k},1]**2" for k in range(2)]
    expected += [f"{A(k, 0)} + {A(k, 1)} - w[{k}]**2" for k in range(2)]
    found = [parse_polynomial(e.replace("**", "^"))[0] for e in rec["laws"]]
    assert laws.same_span(found, [parse_polynomial(e)[0] for e in expected], m.symbols)


def test_readme_example_matches_the_library_example(readme_example):
    a, b = load_model_file(readme_example), load_model_file(example_model_file())
    assert a.phi_polynomials() == b.phi_polynomials() and a.variable_names == b.variable_names


def test_batch_line_with_a_spec(readme_example, capsys, tmp_path):
    batch = tmp_path / "cases.jsonl"
    batch.write_text(json.dumps({"spec": str(readme_example), "flow": "gradient"}) + "\n"
                     + json.dumps({"spec": str(tmp_path / "missing.yaml")}) + "\n")
    code, out, _ = run(["count", "--batch", str(batch), "--json", "--no-progress"], capsys)
    lines = [json.loads(t) for t in out.splitlines()]
    assert code == 1 and lines[0]["laws"] == 4 and "missing.yaml" in lines[1]["error"]


def test_template_sum_gives_the_linear_net():
    m = load_model_file({"blocks": {"U": [2, 3], "V": [3, 2]},
                   "phi": [{"entry": "U[i,k]*V[k,j]", "for": {"i": 2, "j": 2}, "sum": {"k": 3}}]})
    assert count_laws(m).laws == count_laws(make_model("nmf", [2, 3, 2]), geometry="euclidean").laws == 6


def test_mirror_metric_gives_nmf_laws():
    m = load_model_file({"blocks": {"U": [2, 2], "V": [2, 2]}, "metric": {"U": "mirror", "V": "mirror"},
                   "phi": [{"entry": "U[i,k]*V[k,j]", "for": {"i": 2, "j": 2}, "sum": {"k": 2}}]})
    assert count_laws(m).laws == count_laws(make_model("nmf", [2, 2, 2])).laws == 2


def test_polynomial_metric_equals_the_mirror_one_when_written_out():
    base = {"blocks": {"x": [2]}, "phi": ["x[0]*x[1]"]}
    mirror = load_model_file({**base, "metric": {"x": "mirror"}})
    written = load_model_file({**base, "metric": {"x": ["x[0]", "x[1]"]}})
    template = load_model_file({**base, "metric": {"x": "x[i]"}})
    assert count_laws(mirror).laws == count_laws(written).laws == count_laws(template).laws == 1
    with pytest.raises(ConservationLawsError, match="gradient flow only"):
        count_laws(written, "momentum")


def test_shared_weights():
    # a tied factorisation U Uᵀ: the shared block is the same parameters (D = 4, not 8)
    m = load_model_file({"blocks": {"U": [2, 2], "W": [2, 2]}, "shared": {"W": "U"},
                   "phi": [{"entry": "U[i,k]*W[j,k]", "for": {"i": 2, "j": 2}, "sum": {"k": 2}}]})
    assert m.D == 4 and m.variable_names == ["U[0,0]", "U[0,1]", "U[1,0]", "U[1,1]"]


def test_compose_is_the_union_of_the_blocks():
    m = load_model_file({"compose": [{"model": "attention", "dims": [2], "options": {"head_width": 1}},
                               {"model": "relu", "dims": [2, 2, 2], "prefix": "m"}]})
    assert m.D == 8 + 8 and count_laws(m).laws == 2 + 2


@pytest.mark.parametrize("text, field", [
    ("blocks: {A: [2, 2]}\nphi: ['C[0,0]*A[0,0]']", r"phi\[0\]: unknown block 'C'"),
    ("blocks: {A: [2, 2]}\nphi: ['A[2,0]']", r"phi\[0\]: A\[2,0\] does not fit the shape \[2, 2\]"),
    ("blocks: {A: [2, 2]}\nphi: ['A[0]']", "does not fit the shape"),
    ("blocks: {A: [2, 0]}\nphi: ['A[0,0]']", "blocks.A: shape"),
    ("blocks: {A: [2, 2]}\nphi: ['exp(A[0,0])']", r"phi\[0\]:.*not a polynomial"),
    ("blocks: {A: [2, 2]}\nphi: ['A[0,0]/A[1,1]']", r"phi\[0\]:.*division"),
    ("blocks: {A: [2, 2]}\nphi: ['A[0,0]']\nmetric: {A: ['1', '2', '3']}", "metric.A: 3 polynomials for a block of 4"),
    ("blocks: {A: [2, 2]}\nphi: ['A[0,0]']\nmetric: {B: mirror}", "metric.B: unknown block"),
    ("blocks: {A: [2, 2]}\nphi: ['A[0,0]']\nmetric: {A: 7}", "metric.A"),
    ("blocks: {A: [2, 2], B: [2]}\nphi: ['A[0,0]']\nshared: {B: A}", "shared.B: shape mismatch"),
    ("blocks: {A: [2, 2]}\nphi: ['A[0,0]']\nshared: {C: A}", "shared.C: unknown block"),
    ("blocks: {A: [2, 2]}\nphi: [{entry: 'A[i,j]', for: {i: 2}}]", r"phi\[0\]: index 'j'"),
    ("blocks: {A: [2, 2]}\nphi: [{entry: 'A[i,i]', for: {i: 0}}]", r"phi\[0\].for.i"),
    ("blocks: {A: [2, 2]}\nphi: []", "phi: expected a list"),
    ("blocks: {A: [2, 2]}\nphi: ['A[0,0]']\nphy: 1", "top level: unknown key"),
    ("blocks: {A: [2, 2]}", "phi: give either phi"),
    ("blocks: {A: [2, 2]\nphi: x", "YAML: not valid YAML at line 2"),
    ("compose: [{model: attention, dims: [2], options: {hedas: 2}}]", r"compose\[0\]:.*hedas"),
    ("compose: [{model: attention, dims: [2]}, {model: attention, dims: [2]}]", r"compose\[1\].prefix"),
])
def test_errors_name_the_field(text, field, tmp_path, capsys):
    with pytest.raises(ConservationLawsError, match=field):
        load_model_file(text)
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(["count", "--spec", str(path)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err


def test_spec_is_alone_on_the_command_line(readme_example, capsys):
    code, _, err = run(["count", "--spec", str(readme_example), "--model", "relu", "--dims", "2,2,2"], capsys)
    assert code == 2 and "spec" in err


def test_a_model_file_cannot_be_simulated(readme_example):
    m = load_model_file(readme_example)
    with pytest.raises(ConservationLawsError, match="not simulated"):
        m.predict(m.random_parameters(), None)
