"""Areas are declared once (``certify.area.Area``) and installed per app: the CLI, the demo, the navigation,
the candidate's home page and the role homes read the declarations, not module globals."""
from __future__ import annotations

import click
import pytest
from flask import Blueprint, Flask

from certify import registry
from certify.area import Area, AreaConflict, InstalledAreas, Step, install_area, nav
from certify.cli import export_command


def test_every_area_is_installed_in_order_and_its_entries_resolve(app):
    installed = registry.installed(app)
    assert [a.name for a in installed.areas] == ["core", "jobs", "notices", "question_bank", "exam", "defense",
                                                   "results"]
    assert sorted(registry.exports(app)) == ["defense", "exam", "items", "publicity", "results", "schedule"]
    steps = registry.demo_steps(app)
    assert [s.order for s in steps] == sorted(s.order for s in steps) and steps[0].name == "core.accounts"
    assert [p.name for p in registry.candidate_panels(app)] == ["exam.sessions", "defense.slot", "results"]
    assert [p.name for p in installed.slip_rows] == ["exam.sessions", "defense.slot"]
    for role, entries in installed.nav.items():
        for _label, endpoint in entries:
            assert endpoint in app.view_functions, (role, endpoint)
    for role in ("secretariat", "supervisor", "candidate", "panelist"):
        assert registry.home_endpoint(role, app) in app.view_functions
    assert [p.name for p in registry.staff_panels(app)] == ["exam.today", "defense.live", "defense.next_slot",
                                                            "question_bank.imports", "results.complaints",
                                                            "jobs.pending"]
    assert {"import-bank", "results", "schedule", "exam-sweep", "create-round", "notices"} <= set(app.cli.commands)


def test_two_areas_may_not_claim_the_same_thing():
    installed = InstalledAreas()
    installed.add(Area("a", exports={"x": print}, demo_steps=[Step(1, "a.demo", print)], home={"candidate": "a.home"}))
    for clash in (Area("a"), Area("b", exports={"x": print}), Area("c", demo_steps=[Step(2, "a.demo", print)]),
                  Area("d", home={"candidate": "d.home"})):
        with pytest.raises(AreaConflict):
            installed.add(clash)
    installed.add(Area("e", exports={"y": print}))
    assert sorted(installed.exports) == ["x", "y"]


def test_an_area_installs_on_its_own_app_only():
    bp = Blueprint("demo_area", __name__)
    bp.add_url_rule("/hello", "hello", lambda: "hi")
    calls = []

    @click.command("hello-cmd")
    def hello_cmd():
        pass

    first, second = Flask("first"), Flask("second")
    install_area(first, Area("demo", blueprints=[bp], cli_commands=[hello_cmd], setup=calls.append,
                             nav=[nav(["candidate"], "你好", "demo_area.hello")]))
    assert first.test_client().get("/hello").data == b"hi" and "hello-cmd" in first.cli.commands
    assert calls == [first]
    assert registry.installed(first).nav == {"candidate": [("你好", "demo_area.hello")]}
    assert registry.installed(second).areas == [] and second.test_client().get("/hello").status_code == 404


def test_export_command_offers_the_installed_kinds(app, ctx, tmp_path):
    result = app.test_cli_runner().invoke(export_command, ["nope", "--round", "2024-cq", str(tmp_path / "a.csv")])
    assert result.exit_code == 1
    assert "未知的导出类型「nope」，可选：defense, exam, items, publicity, results, schedule" in result.output


def test_the_navigation_shown_comes_from_the_areas(app, client, login_as):
    login_as("secretariat")
    html = client.get("/rounds/").get_data(as_text=True)
    labels = [label for label, _ in registry.installed(app).nav["secretariat"]]
    assert labels[0] == "认证轮次" and "审计日志" in labels
    positions = [html.index(f">{label}</a>") for label in labels]
    assert positions == sorted(positions)


def test_results_cli_refuses_a_ratio_that_is_not_a_finite_number(app, ctx, make_round):
    from certify.results.cli import results_command

    make_round("2024-cq")
    result = app.test_cli_runner().invoke(results_command, ["--round", "2024-cq", "--ratio", "NaN"])
    assert result.exit_code == 1 and "认定比例「NaN」不是数字" in result.output
