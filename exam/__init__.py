"""The exam area: blueprints and papers, sessions, delivery, grading, monitoring."""


def area():
    from certify.area import Area, Step, nav
    from certify.domain import CANDIDATE, SECRETARIAT, SUPERVISOR

    from . import api, candidate, errata, models, monitor  # noqa: F401  (models registers the tables)
    from .admin import bp as admin_bp
    from .analysis import write_items_export
    from .analysis_routes import bp as analysis_bp
    from .demo import demo_exam_sessions
    from .events import NAMESPACE, ExamNamespace
    from .exports import export_exam

    return Area(
        name="exam",
        blueprints=[analysis_bp, api.bp, candidate.bp, monitor.bp, errata.bp, admin_bp],
        namespaces=[ExamNamespace(NAMESPACE)],
        exports={"items": write_items_export, "exam": export_exam},
        demo_steps=[Step(50, "exam.sessions", demo_exam_sessions)],
        candidate_panels=[Step(20, "exam.sessions", candidate.candidate_panel)],
        nav=[nav([SECRETARIAT, SUPERVISOR], "试题分析", "exam_analysis.index"),
             nav([CANDIDATE], "我的考试", "exam.my_sessions"),
             nav([SECRETARIAT, SUPERVISOR], "考试监控", "exam_monitor.index"),
             nav((SECRETARIAT, SUPERVISOR), "笔试", "exam_admin.sessions")],
        setup=_setup,
    )


def _setup(app) -> None:
    from .delivery_setup import setup_delivery
    from .paper_job import register, register_cli

    setup_delivery(app)  # listeners, the exam-sweep command, the sweeper thread
    register()  # paper generation as a background job kind
    register_cli(app)
