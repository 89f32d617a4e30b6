"""The regenerated validation set: the authors' draw rules, the book's additions, the closed forms."""

from fractions import Fraction

import numpy as np
import pytest

from conservation_laws.errors import ConservationLawsError
from conservation_laws.engine.lie import count_laws
from companion.validation import rerun as validation_rerun
from companion.validation import summarise
from companion.validation import (AUTHORS, BOOK, BOOK_TAUS, authors_validation_set, book_additions,
                                          closed_form_count, count_arguments, expected_count,
                                          protocol_rows)


def _by_block(cases):
    blocks = {}
    for c in cases:
        blocks.setdefault(c["block"], []).append(c)
    return blocks


def test_first_case_of_each_block_is_the_authors_own():
    """Their cells' literal calls on numpy's global generator give the same first configuration."""
    blocks = _by_block(authors_validation_set(0))
    np.random.seed(0)
    depth = np.random.randint(2, 4)
    dims = [int(np.random.randint(1, 4)) for _ in range(depth + 1)]
    assert blocks["linear MF"][0]["dims"] == dims
    np.random.seed(0)
    assert blocks["NMF GF"][0]["dims"] == [int(np.random.randint(1, 8)) for _ in range(3)]
    np.random.seed(0)
    dims = [int(np.random.randint(1, 6)) for _ in range(3)]
    coin = np.random.random() < 0.5
    assert blocks["ICNN GF"][0]["dims"] == dims and blocks["ICNN GF"][0]["bias"] == coin


def test_authors_distributions():
    cases = authors_validation_set(0)
    assert len(cases) == 120 and len({c["id"] for c in cases}) == 120
    assert cases == authors_validation_set(0) and cases != authors_validation_set(1)
    blocks = _by_block(cases)
    for label in ("linear MF", "ReLU MF"):
        assert {len(c["dims"]) for c in blocks[label]} == {3, 4}  # depth 2 or 3
        assert {w for c in blocks[label] for w in c["dims"]} == {1, 2, 3}
    relu = blocks["ReLU MF"]
    assert {c["tau"] for c in relu} == {0, 1} and not any(c["bias"] for c in relu)  # swapped arguments
    for label in ("linear MF", "NMF MF", "ICNN MF"):
        assert {c["tau"] for c in blocks[label]} == {0}  # randint(0, 1)
    assert max(w for c in blocks["NMF GF"] for w in c["dims"]) > 5
    assert all(1 <= w <= 5 for label in ("NMF MF", "ICNN GF", "ICNN MF") for c in blocks[label] for w in c["dims"])
    assert {c["bias"] for c in blocks["ICNN GF"]} == {False, True}
    assert {c["geometry"] for c in blocks["ICNN MF"]} == {"mixed-position"}
    assert {c["origin"] for c in cases} == {AUTHORS}


def test_book_additions():
    cases = authors_validation_set(0, per_block=4)
    extra = book_additions(cases)
    assert {c["origin"] for c in extra} == {BOOK}
    assert all(c["tau"] in BOOK_TAUS for c in extra if c["id"].endswith("-tau"))
    assert {c["flow"] for c in extra} == {"momentum", "nesterov"}
    assert {c["geometry"] for c in extra if c["model"] == "icnn"} == {"mixed", "mixed-position"}
    assert not any(c["flow"] == "gradient" for c in extra)
    rows = protocol_rows(cases + extra)
    assert ("ReLU MF", AUTHORS) in {(r[0], r[1]) for r in rows}
    relu_authors = next(r for r in rows if r[:2] == ("ReLU MF", AUTHORS))
    assert relu_authors[5] == "off"


def test_counts_match_closed_forms_small():
    cases = authors_validation_set(0, per_block=3)
    cases += book_additions(cases)
    for case in cases:
        expected = expected_count(case)
        if expected is not None:
            assert count_laws(**count_arguments(case)).laws == expected, case


def test_closed_form_unknown_cases():
    assert closed_form_count({"model": "linear", "dims": [2, 2, 2, 2], "flow": "gradient"}) is None
    assert closed_form_count({"model": "nmf", "dims": [2, 2, 2], "flow": "gradient", "geometry": "euclidean"}) is None
    assert closed_form_count({"model": "product", "dims": [3], "flow": "momentum"}) is None
    assert closed_form_count({"model": "product", "dims": [3], "flow": "gradient"}) == 2
    assert expected_count({"model": "icnn", "dims": [2, 2, 2], "flow": "momentum",
                              "geometry": "mixed-position"}) == 0
    assert expected_count({"model": "linear", "dims": [2, 2, 2], "flow": "natural"}) == 3


@pytest.mark.parametrize("kwargs", [{"per_block": 0}, {"per_block": True}, {"seed": -1}])
def test_validation_bad_input(kwargs):
    with pytest.raises(ConservationLawsError):
        authors_validation_set(**kwargs)


def test_tau_values_are_exact():
    assert all(isinstance(c["tau"], Fraction) for c in authors_validation_set(0, per_block=2))


def test_rerun_and_summary():
    cases = authors_validation_set(0, per_block=1)
    records = validation_rerun(cases)
    assert len(records) == len(cases)
    for r in records:
        assert r["laws"] == r["N"] - r["K"]
        if r["expected"] is not None:
            assert r["laws"] == r["expected"]
    rows = summarise(records)
    assert sum(row[2] for row in rows) == len(cases)
    assert all(row[3] == row[2] for row in rows)  # every case agrees or is certified
