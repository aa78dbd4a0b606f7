"""Forms of the defense secretariat pages (Flask-WTF: CSRF on every form)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class PanelistForm(FlaskForm):
    name = StringField("姓名", validators=[DataRequired("请填写姓名"), Length(max=100)])
    work_unit = StringField("工作单位", validators=[DataRequired("请填写工作单位"), Length(max=200)])
    expertise = StringField("专业领域", validators=[Optional(), Length(max=200)])
    phone = StringField("手机", validators=[Optional(), Length(max=40)])


class ImportForm(FlaskForm):
    file = FileField("评审专家名单（.xlsx 或 .csv；回避关系可放在第二个工作表）")
    conflicts = FileField("回避关系文件（可选，.xlsx 或 .csv）")


class ConflictForm(FlaskForm):
    panelist_id = SelectField("专家", coerce=int)
    target = StringField("回避对象（考生证件号 / 准考证号，或工作单位名称）",
                         validators=[DataRequired("请填写回避对象"), Length(max=200)])


class PanelForm(FlaskForm):
    name = StringField("答辩组名称", validators=[DataRequired("请填写答辩组名称"), Length(max=100)])
    room = StringField("答辩地点（教室）", validators=[Optional(), Length(max=200)])
    meeting_link = StringField("线上会议链接", validators=[Optional(), Length(max=500)])
    members = SelectMultipleField("组员（3–5 名）", coerce=int)
    chair_id = SelectField("组长", coerce=int)


class DayForm(FlaskForm):
    day = DateField("日期", validators=[DataRequired("请选择日期")])
    start_time = StringField("开始时间", default="08:30", validators=[DataRequired(), Length(max=5)])
    end_time = StringField("结束时间", default="17:30", validators=[DataRequired(), Length(max=5)])
    slot_minutes = IntegerField("每名考生时长（分钟）", default=20,
                                validators=[DataRequired(), NumberRange(min=5, max=240, message="须在 5–240 分钟之间")])
    breaks = StringField("休息时段（如 12:00-13:30，多个用逗号分隔）", default="12:00-13:30",
                         validators=[Optional(), Length(max=200)])


class MoveForm(FlaskForm):
    candidate_id = HiddenField(validators=[DataRequired()])
    panel_id = SelectField("答辩组", coerce=int)
    slot = SelectField("时段")
    reason = TextAreaField("调整理由（发布后必填）", validators=[Optional(), Length(max=500)])


class ActionForm(FlaskForm):
    """A bare form for POST buttons (run, publish, delete): CSRF only."""
