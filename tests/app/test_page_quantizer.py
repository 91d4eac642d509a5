"""The quantizer deciding, on the pages: Overview shows the decision at the clicked code
(its distances, the choice, the loss terms) and Codebook shows what the straight-through
estimator passes back at the same position."""

from __future__ import annotations

from conftest import dashboard_on
from vqvae.dashboard.quantizer_view import POSITION


def app_on(monkeypatch, tmp_path, model: str = "mnist-ema"):
    return dashboard_on(monkeypatch, tmp_path, model)


def latex(app) -> str:
    return "\n".join(element.value for element in app.get("latex"))


def test_overview_shows_the_decision_at_the_clicked_code(monkeypatch, tmp_path):
    app = app_on(monkeypatch, tmp_path)
    assert any(h.value == "The quantizer deciding: row 3, column 3" for h in app.subheader)  # the centre at first
    assert r"k^* = \arg\min_k d_k" in latex(app) and "commitment" in latex(app) and "gamma" in latex(app)
    app.session_state["overview-map"] = {"selection": {"points": [{"x": 5, "y": 1}]}}  # a click on row 1, column 5
    app.run()
    assert not app.exception, app.exception
    assert any(h.value == "The quantizer deciding: row 1, column 5" for h in app.subheader)
    assert app.session_state[POSITION][1:] == (1, 5)


def test_fsq_shows_its_rounding_and_no_losses(monkeypatch, tmp_path):
    app = app_on(monkeypatch, tmp_path, "mnist-compare-fsq")
    assert r"\mathrm{round}" in latex(app) and "commitment" not in latex(app)
    assert list(app.dataframe[-1].value.columns) == ["dimension", "levels L", "bounded", "rounded"]


def test_codebook_shows_the_straight_through_gradient_at_the_same_position(monkeypatch, tmp_path):
    app = app_on(monkeypatch, tmp_path)
    app.session_state["overview-map"] = {"selection": {"points": [{"x": 2, "y": 4}]}}
    app.run()
    app.switch_page("pages/codebook.py").run()
    assert not app.exception, app.exception
    assert any("row 4, column 2" in m.value for m in app.markdown)
    assert r"\frac{\partial L}{\partial z_e} = \frac{\partial L}{\partial z_q}" in latex(app)
    assert any("Largest difference between the two: 0.00e+00" in c.value for c in app.caption)
