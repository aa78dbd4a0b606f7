"""The exam area: authoring (blueprints, papers, sessions), delivery (the room, API, monitor, practice), grading and
item analysis, one subpackage each."""


def area():
    from certify.area import Area, Step, nav
    from certify.domain import CANDIDATE, SECRETARIAT, SUPERVISOR

    from . import models  # noqa: F401  (models registers the tables)
    from .analysis.operations import write_items_export
    from .analysis.routes import bp as analysis_bp
    from .authoring.home_panel import sessions_today
    from .authoring.routes import bp as admin_bp
    from .authoring.session_notices import slip_rows
    from .cli import COMMANDS
    from .delivery import api, monitor
    from .delivery import pages as candidate
    from .delivery.events import NAMESPACE, ExamNamespace
    from .delivery.practice import demo_practice
    from .delivery.practice_routes import bp as practice_bp
    from .delivery.practice_routes import device_bp
    from .demo import demo_exam_sessions
    from .grading import routes as errata
    from .grading.exports import export_exam

    return Area(
        name="exam",
        blueprints=[analysis_bp, api.bp, candidate.bp, monitor.bp, errata.bp, admin_bp, practice_bp, device_bp],
        namespaces=[ExamNamespace(NAMESPACE)],
        cli_commands=COMMANDS,
        exports={"items": write_items_export, "exam": export_exam},
        demo_steps=[Step(50, "exam.sessions", demo_exam_sessions), Step(55, "exam.practice", demo_practice)],
        candidate_panels=[Step(20, "exam.sessions", candidate.candidate_panel)],
        slip_rows=[Step(20, "exam.sessions", slip_rows)],
        staff_panels=[Step(10, "exam.today", sessions_today)],
        nav=[nav([SECRETARIAT, SUPERVISOR], "试题分析", "exam_analysis.index"),
             nav([CANDIDATE], "我的考试", "exam.my_sessions"),
             nav([SECRETARIAT, SUPERVISOR], "考试监控", "exam_monitor.index"),
             nav((SECRETARIAT, SUPERVISOR), "笔试", "exam_admin.sessions"),
             nav((SECRETARIAT, SUPERVISOR), "模拟练习", "exam_practice.manage"),
             nav((SECRETARIAT, SUPERVISOR), "设备检测", "exam_device.overview")],
        setup=_setup,
    )


def _setup(app) -> None:
    from .authoring.paper_job import register, register_cli
    from .delivery.setup import setup_delivery
    from .grading.exports import register_exporters

    setup_delivery(app)  # listeners, the exam-sweep command, the sweeper thread
    register()  # paper generation as a background job kind
    register_cli(app)
    register_exporters()  # a large round's exam export as a background job
