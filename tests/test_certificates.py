"""The book's certificate tally: a collector sees every count while installed, the engine keeps nothing."""

import logging

import pytest

from companion import book, certificates, claims
from conservation_laws.engine import lie
from conservation_laws.engine.laws import polynomial_laws
from conservation_laws.flows import vector_fields
from conservation_laws.models import make_model


def test_collector_sees_counts_only_while_installed():
    lie.count_laws("product", "gradient", dims=[3])  # before: not seen
    with certificates.CertificateCollector() as seen:
        results = [lie.count_laws("product", "gradient", dims=[3]),
                   lie.count_laws("relu", "momentum", tau=1, dims=[1, 2, 1]),
                   lie.count_laws("linear", "momentum", tau=1, dims=[2, 2, 2], max_depth=1)]
    lie.count_laws("product", "gradient", dims=[3])  # after: not seen
    records = seen.records()
    assert [r["certificate"] for r in records] == [r.certificate for r in results]
    assert [r["laws"] for r in records] == [r.laws for r in results]
    assert records[1]["flow"] == "momentum" and records[1]["model"] == "relu [1, 2, 1]"
    assert set(records[0]) == set(certificates.RECORD_KEYS)
    assert lie.summarise_certificates(records) == lie.summarise_certificates(results)
    assert seen not in logging.getLogger(lie.COUNT_LOGGER).handlers


def test_a_count_proved_later_shows_as_proved():
    fam = vector_fields(make_model("linear", [2, 2, 2]), "gradient")
    with certificates.CertificateCollector() as seen:
        res = lie.count_laws(fam)
        assert seen.records()[-1]["certificate"] == "probabilistic"
        found = polynomial_laws(fam, lie=res)
    # the caller's count is not changed; the collector swapped it for the proved copy (one record)
    assert res.certificate == "probabilistic" and found.lie.certificate == "proved"
    assert len(seen.records()) == 1 and seen.records()[-1]["certificate"] == "proved"


def test_logger_level_is_restored():
    logger = logging.getLogger(lie.COUNT_LOGGER)
    before = logger.level
    with certificates.CertificateCollector():
        assert logger.isEnabledFor(logging.INFO)
    assert logger.level == before


def test_save_and_load_round_trip(tmp_path):
    with certificates.CertificateCollector() as seen:
        lie.count_laws("product", "gradient", dims=[3])  # one generator: proved
        lie.count_laws("relu", "momentum", tau=1, dims=[1, 2, 1])  # full rank: proved
        lie.count_laws("linear", "gradient", dims=[2, 2, 2])  # probabilistic
    path = seen.save("00_test", tmp_path)
    assert path == tmp_path / "certificates" / "00_test.json"
    assert seen.save("00_test", tmp_path) == path  # idempotent
    logs = certificates.load_logs(tmp_path)
    assert list(logs) == ["00_test"]
    summary = lie.summarise_certificates(logs["00_test"])
    assert summary["proved"] == 2 and summary["probabilistic"] == 1
    assert 0 < summary["summed_bound"] <= lie.TARGET_BOUND
    assert logs["00_test"][0]["how"].startswith("one generator")


def test_book_start_collects_and_finish_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONSERVATION_LAWS_PROVENANCE_DIR", str(tmp_path / "prov"))
    monkeypatch.setenv("CONSERVATION_LAWS_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setattr("IPython.display.display", lambda obj: None)
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "chapters").mkdir()
    nb = ('{"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "seed = 0\\n",'
          ' "outputs": [], "execution_count": null}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    (tmp_path / "chapters" / "12_x.ipynb").write_text(nb)
    try:
        book.start("12_x", {"seed": 0})
        lie.count_laws("product", "gradient", dims=[3])
        assert [r["certificate"] for r in book.certificate_log()] == ["proved"]
        book.start("12_x", {"seed": 0})  # a fresh start forgets the counts before it
        assert book.certificate_log() == []
        lie.count_laws("linear", "gradient", dims=[2, 2, 2])
        book.finish()
        r = 2  # linear [2, r, 2] under gradient flow: the r(r + 1)/2 entries of UᵀU − VᵀV
        assert [rec["laws"] for rec in book.load_certificate_logs()["12_x"]] == [r * (r + 1) // 2]
    finally:
        claims.set_chapter(None)


def test_certificate_log_needs_a_started_chapter(monkeypatch):
    monkeypatch.setattr(book, "_collector", None)
    with pytest.raises(Exception, match="book.start"):
        book.certificate_log()
