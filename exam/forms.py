"""Forms of the exam administration (blueprints, sessions, extra time). Domain checks live in the operations;
these only parse input."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from certify.forms import labelled

from .models import PAPER_MODES
from .services.assembly import TYPE_LABELS

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class BlueprintRowForm(Form):
    """One stratum (a sub-form: the outer form carries the CSRF token)."""

    category = SelectField("分类", choices=[], validate_choice=False)
    type = SelectField("题型", choices=labelled(TYPE_LABELS.items()))
    difficulty_min = IntegerField("难度下限", default=1, validators=[InputRequired(message="请填写难度下限"),
                                                               NumberRange(1, 5, message="难度须在 1–5 之间")])
    difficulty_max = IntegerField("难度上限", default=5, validators=[InputRequired(message="请填写难度上限"),
                                                               NumberRange(1, 5, message="难度须在 1–5 之间")])
    count = IntegerField("题数", validators=[InputRequired(message="请填写题数"),
                                            NumberRange(1, 500, message="题数须在 1–500 之间")])
    points = DecimalField("每题分值", places=2, validators=[InputRequired(message="请填写每题分值"),
                                                        NumberRange(0.01, 100, message="每题分值须在 0.01–100 之间")])


class BlueprintForm(FlaskForm):
    name = StringField("方案名称", validators=[DataRequired(message="请填写方案名称"), Length(max=200)])
    mode = SelectField("组卷方式", choices=labelled(PAPER_MODES.items()),
                       description="统一试卷：全体考生同一组题目（题序、选项顺序各不相同）；每人随机抽题：按各行条件为每位考生单独抽题")
    rows = FieldList(FormField(BlueprintRowForm), min_entries=1, max_entries=60)
    add_row = SubmitField("增加一行")
    save = SubmitField("保存并检查题库")

    def set_categories(self, categories: list[str]) -> None:
        choices = [("", "任意分类")] + [(c, c) for c in categories]
        for entry in self.rows:
            current = entry.form.category.data
            extra = [(current, current)] if current and current not in categories else []
            entry.form.category.choices = labelled(choices + extra)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SessionForm(FlaskForm):
    name = StringField("场次名称", validators=[DataRequired(message="请填写场次名称"), Length(max=200)])
    blueprint_id = SelectField("组卷方案", coerce=int, validators=[DataRequired(message="请选择组卷方案")])
    opens_at = DateTimeLocalField("开考时间（北京时间）", format=DATETIME_FORMAT,
                                  validators=[DataRequired(message="请填写开考时间")])
    closes_at = DateTimeLocalField("结束时间（北京时间）", format=DATETIME_FORMAT,
                                   validators=[DataRequired(message="请填写结束时间")])
    duration_minutes = IntegerField("考试时长（分钟）", default=60,
                                    validators=[InputRequired(message="请填写考试时长"),
                                                NumberRange(1, 1440, message="考试时长须在 1–1440 分钟之间")])
    late_entry_minutes = IntegerField("开考后允许入场（分钟）", default=30,
                                      validators=[InputRequired(message="请填写迟到入场时限"),
                                                  NumberRange(0, 1440, message="须在 0–1440 分钟之间")])
    place = StringField("考试地点", validators=[Length(max=200, message="考试地点最多 200 个字符")],
                        description="考场名称与地址；线上考试可留空（准考证和通知显示「线上」）")
    instructions = TextAreaField("考试须知", validators=[Length(max=5000)])
    event_warning_threshold = IntegerField("异常行为提醒阈值（次，可留空）", validators=[Optional(),
                                           NumberRange(1, 1000, message="须为 1–1000 之间的整数")])
    seed = IntegerField("随机种子（留空自动生成）", validators=[Optional(),
                        NumberRange(0, 2**31 - 1, message=f"随机种子须为 0–{2**31 - 1} 之间的整数")],
                        description="同一题库、组卷方案、种子和考生名单总能生成完全相同的试卷")
    assign_all = BooleanField("本级别全部考生", default=True)
    candidate_ids = MultiCheckboxField("指定考生", coerce=int, validate_choice=False)
    submit = SubmitField("保存")


class ExtraTimeForm(FlaskForm):
    candidate_id = IntegerField(validators=[InputRequired()])
    minutes = IntegerField("延长（分钟）", validators=[InputRequired(message="请填写延长时间"),
                                                  NumberRange(0, 600, message="延长时间须在 0–600 分钟之间")])
    reason = StringField("理由", validators=[Length(max=500)])


class MakeupForm(FlaskForm):
    """A make-up session (补考) for named candidates of a closed session (``exam.authoring.makeup.create_makeup``)."""

    candidate_ids = MultiCheckboxField("补考考生", coerce=int, choices=[], validate_choice=False)
    name = StringField("补考场次名称（可空：原场次名称加「（补考）」）", validators=[Optional(), Length(max=200)])
    opens_at = DateTimeLocalField("开考时间（北京时间）", format=DATETIME_FORMAT,
                                  validators=[DataRequired(message="请填写开考时间")])
    closes_at = DateTimeLocalField("结束时间（北京时间）", format=DATETIME_FORMAT,
                                   validators=[DataRequired(message="请填写结束时间")])
    duration_minutes = IntegerField("考试时长（分钟）", validators=[
        InputRequired(message="请填写考试时长"), NumberRange(1, 1440, message="考试时长须在 1–1440 分钟之间")])
    reason = TextAreaField("补考理由（记入审计日志）", validators=[DataRequired(message="请填写补考理由"),
                                                           Length(max=1000)])
    submit = SubmitField("建立补考场次（同一组卷方案，重新组卷）")
