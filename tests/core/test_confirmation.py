"""The one confirmation pattern for irreversible or mass actions (certify.forms.Acknowledgement,
certify.web.require_confirmation, templates/_confirm.html)."""
from __future__ import annotations

from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from certify.errors import DomainError
from certify.forms import ConfirmActionForm
from certify.web import require_confirmation

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("data", [{}, {"acknowledge": "y"}, {"reason": "理由"}, {"acknowledge": "y", "reason": " \n"}])
def test_refused_without_the_box_and_a_reason(app, data):
    with app.test_request_context(method="POST", data=data):
        form = ConfirmActionForm(formdata=MultiDict(data), meta={"csrf": False})
        with pytest.raises(DomainError) as err:
            require_confirmation(form, "/back")
    assert (err.value.code, err.value.status, err.value.redirect_to) == ("confirmation_required", 400, "/back")


def test_confirmed_returns_the_reason(app):
    data = {"acknowledge": "y", "reason": "  按期发布 "}
    with app.test_request_context(method="POST", data=data):
        form = ConfirmActionForm(formdata=MultiDict(data), meta={"csrf": False})
        assert require_confirmation(form, "/back") == "按期发布"


def test_the_partial_renders_a_required_box_and_reason(app):
    with app.test_request_context():
        html = app.jinja_env.from_string(
            '{% from "_confirm.html" import confirm_form %}'
            '{% call confirm_form(form, "/do", "/back", "返回") %}<input type="hidden" name="x">{% endcall %}'
        ).render(form=ConfirmActionForm(formdata=None))
    assert 'action="/do"' in html and 'name="x"' in html and 'href="/back"' in html
    assert 'type="checkbox"' in html and html.count("required") >= 2 and 'name="reason"' in html


def test_only_one_pattern_renders_the_acknowledgement():
    """Every confirmation page goes through templates/_confirm.html: no template renders the box itself."""
    offenders = [str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")
                 if p.name != "_confirm.html" and ("form.acknowledge" in p.read_text(encoding="utf-8")
                                                   or 'name="acknowledge"' in p.read_text(encoding="utf-8"))]
    assert offenders == []
    users = sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")
                   if p.name != "_confirm.html" and 'import confirm_form' in p.read_text(encoding="utf-8"))
    assert users == ["defense/admin_publish.html", "defense/finalise.html", "exam/admin/confirm_papers.html",
                     "exam/admin/confirm_release.html", "exam/analysis/store_facility.html", "results/absent.html",
                     "results/confirm.html", "results/publish_confirm.html"]
