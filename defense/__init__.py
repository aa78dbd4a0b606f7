"""The defense area: panels, scheduling and publication (schedule/) and live panel scoring (scoring/)."""


def area():
    from certify.area import Area, Step, nav
    from certify.domain import PANELIST, SECRETARIAT, SUPERVISOR

    from . import models  # noqa: F401  (registers the tables)
    from .cli import COMMANDS
    from .schedule.home_panel import next_slot, panels_live
    from .schedule.job import register as register_schedule_job
    from .schedule.notices import slip_rows
    from .schedule.panelist_job import register as register_panelist_job
    from .schedule.reports import write_schedule_export
    from .schedule.routes import bp as admin_bp
    from .schedule.setup import candidate_slot_panel, demo_panels
    from .scoring import models as scoring_models  # noqa: F401  (live scoring tables)
    from .scoring.events import NAMESPACE, DefenseNamespace
    from .scoring.reports import register_exporters, write_defense_export
    from .scoring.routes import bp as room_bp
    from .scoring.setup import demo_rubric

    return Area(
        name="defense",
        blueprints=[room_bp, admin_bp],
        namespaces=[DefenseNamespace(NAMESPACE)],
        cli_commands=COMMANDS,
        exports={"defense": write_defense_export, "schedule": write_schedule_export},
        demo_steps=[Step(40, "defense.panels", demo_panels), Step(60, "defense.rubric", demo_rubric)],
        candidate_panels=[Step(30, "defense.slot", candidate_slot_panel)],
        slip_rows=[Step(30, "defense.slot", slip_rows)],
        staff_panels=[Step(20, "defense.live", panels_live), Step(25, "defense.next_slot", next_slot)],
        nav=[nav([PANELIST], "答辩评分", "defense_room.my_panels"),
             nav([SECRETARIAT, SUPERVISOR], "答辩成绩", "defense_room.cases"),
             nav([SECRETARIAT, SUPERVISOR], "评审质量", "defense_room.quality"),
             nav([SECRETARIAT, SUPERVISOR], "答辩安排", "defense_admin.index"),
             nav([PANELIST], "我的答辩安排", "defense_room.my_schedule")],
        # the background job kinds: the CP-SAT scheduler, the panelist import, large rounds' exports
        setup=lambda app: (register_schedule_job(), register_panelist_job(), register_exporters()),
    )
