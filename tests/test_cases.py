"""One case type, one validator, one size guard (cases.make_case), shared by the CLI, batches and sweeps."""

from fractions import Fraction

import pytest

from conservation_laws import ConservationLawsError, models
from conservation_laws.interfaces import cli, sweep
from conservation_laws.interfaces.cases import CASE_FIELDS, MAX_OUTPUTS, Case, make_case, make_cases


def test_make_case_normalises_and_counts():
    case = make_case(model="linear", dims="2,3,2", flow="momentum", tau="1/2")
    assert isinstance(case, Case) and case.dims == (2, 3, 2) and case.tau == Fraction(1, 2)
    assert case.count().laws == make_case(model="linear", dims=[2, 3, 2], flow="momentum", tau=0.5).count().laws
    assert case.canonical() == {"model": "linear", "dims": [2, 3, 2], "bias": False, "flow": "momentum",
                                "tau": 0.5, "geometry": None, "seed": 0, "repeats": 1}
    # τ as every record writes it (json_number): exact, a number when its decimal is exact
    third = make_case(model="linear", dims=[2, 2, 2], flow="momentum", tau="1/3").canonical()["tau"]
    assert third == "1/3" and make_case(model="linear", dims=[2, 2, 2], flow="momentum", tau=third).tau == Fraction(1, 3)
    assert set(case.as_dict()) == set(CASE_FIELDS)


def test_the_set_of_models_with_biases_has_one_home():
    assert models.bias_models() == ("relu", "icnn")
    assert all(models._model_classes()[m].has_bias for m in models.bias_models())
    for name in ("linear", "nmf", "product"):
        with pytest.raises(ConservationLawsError, match="biases exist for relu and icnn only"):
            make_case(model=name, dims=[2, 2, 2] if name != "product" else [3], bias=True)


@pytest.mark.parametrize("fields,bad", [
    (dict(model="linear", dims=[2, 0, 2]), "dims"),
    (dict(model="resnet", dims=[2, 2]), "model"),
    (dict(model="linear", dims=[2, 2, 2], flow="adam"), "flow"),
    (dict(model="linear", dims=[2, 2, 2], flow="momentum", tau=-1), "tau"),
    (dict(model="linear", dims=[2, 2, 2], tau=True), "tau"),
    (dict(model="linear", dims=[2, 2, 2], weight_decay=-1), "weight_decay"),
    (dict(model="linear", dims=[2, 2, 2], seed=-1), "seed"),
    (dict(model="linear", dims=[2, 2, 2], repeats=0), "repeats"),
    (dict(model="linear", dims=[2, 2, 2], geometry="hyperbolic"), "geometry"),
    (dict(model="linear", dims=[2, 2, 2], options={"width": 3}), "options"),
    (dict(model="nmf", dims=[2, 2, 2, 2]), "dims"),  # make_model's own check (NMF has three widths)
    (dict(phi=["x"], bias=True), "bias"),
    (dict(model="linear", dims=[1, 40000, 1]), "dims"),  # the memory estimate (N = 80000: about 600 GiB)
])
def test_make_case_rejects_with_the_field_name(fields, bad):
    with pytest.raises(ConservationLawsError, match=f"^{bad}="):
        make_case(**fields)


def test_size_guard_applies_to_sweeps_too():
    with pytest.raises(ConservationLawsError, match="at most"):
        sweep.expand_spec({"model": "relu", "dims": [10, 10, 10, 10, 10], "flow": "gradient"})
    with pytest.raises(ConservationLawsError, match=str(MAX_OUTPUTS)):
        make_case(model="relu", dims=[10, 10, 10, 10, 10])


def test_geometry_mismatch_is_found_when_the_fields_are_built():
    case = make_case(model="linear", dims=[2, 2, 2], geometry="mixed")  # valid fields...
    with pytest.raises(ConservationLawsError, match="mixed"):
        case.family()  # ...but no mixed metric for a linear net: a sweep records it as failed


def test_weight_decay_goes_to_the_flow_only_when_set(monkeypatch):
    assert make_case(model="linear", dims=[2, 2, 2]).weight_decay == 0
    try:
        case = make_case(model="linear", dims=[2, 2, 2], weight_decay=Fraction(1, 10))
    except ConservationLawsError as exc:  # this version's Flow has no weight decay
        assert "weight_decay" in str(exc)
    else:
        assert case.build_flow().weight_decay == Fraction(1, 10)
        assert case.canonical()["weight_decay"] == 0.1  # its decimal, read back exactly
        assert make_case(model="linear", dims=[2, 2, 2], weight_decay=0.1).weight_decay == Fraction(1, 10)


def test_batch_lines_and_sweeps_share_the_validator():
    rec = {"model": "icnn", "dims": [2, 3, 3], "flow": "gradient", "bias": True}
    line_case, _ = cli._parse_batch_line(__import__("json").dumps(rec))
    assert line_case == make_case(**rec)
    [swept] = sweep.expand_spec(rec)
    assert make_case(**swept) == line_case
    with pytest.raises(ConservationLawsError, match="colour"):
        make_cases([{"model": "linear", "dims": [1, 1, 1], "colour": "red"}])
