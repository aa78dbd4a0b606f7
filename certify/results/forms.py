from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    RadioField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from certify.forms import Acknowledgement, labelled


class RecordsImportForm(FlaskForm):
    file = FileField("业绩成果得分文件（.xlsx 或 .csv）", validators=[FileRequired(message="请选择文件")])
    submit = SubmitField("导入")


class ComputeForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form: it only changes what the preview shows

    level = HiddenField()
    ratio = DecimalField("认定比例（0–1）", places=None, validators=[Optional(), NumberRange(
        min=0.0001, max=1, message="认定比例须大于 0 且不超过 1")])
    min_total = DecimalField("最低总分（可空）", places=None, validators=[Optional(), NumberRange(
        min=0, max=100, message="最低总分须在 0 到 100 之间")])
    submit = SubmitField("预览")


class ConfirmForm(Acknowledgement, FlaskForm):
    level = HiddenField(validators=[DataRequired()])
    ratio = HiddenField(validators=[DataRequired()])
    min_total = HiddenField()
    submit = SubmitField("确认并冻结结果")


class AbsentForm(Acknowledgement, FlaskForm):
    level = HiddenField(validators=[DataRequired()])
    submit = SubmitField("标记缺考")


class ReopenForm(FlaskForm):
    level = HiddenField(validators=[DataRequired()])
    reason = TextAreaField("重新开放理由（记入审计日志）", validators=[DataRequired(message="请填写理由"),
                                                             Length(max=1000)])
    submit = SubmitField("重新开放")


class PublishForm(Acknowledgement, FlaskForm):
    start_date = DateField("公示开始日期", validators=[InputRequired(message="请选择开始日期")])
    working_days = IntegerField("公示工作日数", validators=[InputRequired(message="请填写工作日数"),
                                                     NumberRange(min=1, max=60, message="须在 1 到 60 之间")])
    submit = SubmitField("发布公示")


class ComplaintForm(FlaskForm):
    candidate = StringField("被投诉考生（准考证号或证件号）", validators=[DataRequired(message="请填写考生")])
    complainant = StringField("投诉人（可空）", validators=[Optional(), Length(max=100)])
    content = TextAreaField("投诉内容", validators=[DataRequired(message="请填写投诉内容"), Length(max=4000)])
    late_reason = StringField("公示期后登记的理由（公示期结束后必填，记入审计日志）",
                              validators=[Optional(), Length(max=500)])
    submit = SubmitField("登记投诉")


class DecisionForm(FlaskForm):
    status = RadioField("处理结果", choices=labelled([("upheld", "属实（撤销认定）"), ("dismissed", "不属实")]),
                        validators=[DataRequired(message="请选择处理结果")])
    note = TextAreaField("处理意见（记入审计日志）", validators=[DataRequired(message="请填写处理意见"),
                                                         Length(max=2000)])
    submit = SubmitField("记录处理结果")
