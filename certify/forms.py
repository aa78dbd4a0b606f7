from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DecimalField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional, Regexp

from .domain import MC_POLICIES, REGIONS


def labelled(pairs) -> list[SelectChoice]:
    """(value, label) pairs as select choices (WTForms 3.3 deprecates choices given as raw tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


class LoginForm(FlaskForm):
    username = StringField("账号（考生请输入准考证号）", validators=[DataRequired(message="请输入账号")])
    password = PasswordField("密码", validators=[DataRequired(message="请输入密码")])
    submit = SubmitField("登录")


class ChangePasswordForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired(message="请输入当前密码")])
    new = PasswordField("新密码", description="至少 10 位，不能是账号或常见密码",
                        validators=[DataRequired(message="请输入新密码"),
                                    Length(min=10, max=128, message="新密码长度须为 10–128 位")])
    confirm = PasswordField("再次输入新密码", validators=[EqualTo("new", message="两次输入的新密码不一致")])
    submit = SubmitField("修改密码")


class StaffCreateForm(FlaskForm):
    username = StringField("账号", description="2–64 位字母、数字或 _ . @ -", validators=[
        DataRequired(message="请输入账号"),
        Regexp(r"^[A-Za-z0-9_.@-]{2,64}$", message="账号须为 2–64 位字母、数字或 _ . @ -")])
    display_name = StringField("姓名", validators=[Optional(), Length(max=100, message="姓名最多 100 个字符")])
    role = SelectField("角色", choices=labelled([("secretariat", "秘书处"), ("supervisor", "监督委员会"),
                                               ("panelist", "评审专家")]))
    submit = SubmitField("创建账号（生成一次性密码）")


class ConfirmForm(FlaskForm):
    """A confirmation (CSRF-protected POST) with an optional reason for the audit trail."""

    reason = StringField("原因（记入审计日志，可选）",
                         validators=[Optional(), Length(max=200, message="原因最多 200 个字符")])
    submit = SubmitField("确认")


class Acknowledgement:
    """The second step of an irreversible or mass action (the one confirmation pattern, see ``templates/_confirm.html``
    and ``certify.web.require_confirmation``): a ticked box and a reason for the audit trail. The view checks it after
    the action's own refusals, so a refused action still says why it is refused."""

    acknowledge = BooleanField("我已核对以上变更，确认执行（不可直接撤销）")
    reason = TextAreaField("理由（记入审计日志）", validators=[Optional(), Length(max=1000)])

    def acknowledged(self) -> bool:
        return bool(self.acknowledge.data) and bool((self.reason.data or "").strip())


class ConfirmActionForm(Acknowledgement, FlaskForm):
    """An irreversible action with nothing to post but the confirmation itself."""

    submit = SubmitField("确认执行")


# ---------------------------------------------------------------- rounds, schemes, roster


class NumberField(DecimalField):
    """A decimal input (at most two decimal places) with Chinese messages; shown as entered (no padding)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("places", None)
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip():
            try:
                value = Decimal(valuelist[0].strip())
            except InvalidOperation:
                value = None
            if value is None or not value.is_finite():
                self.data = None
                raise ValueError(f"「{valuelist[0]}」不是有效的数字")
            if value.as_tuple().exponent < -2 and value != value.quantize(Decimal("0.01")):
                self.data = None
                raise ValueError("最多保留两位小数")
            self.data = value
        else:
            self.data = None


class WholeField(IntegerField):
    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip():
            try:
                self.data = int(valuelist[0].strip())
            except ValueError:
                self.data = None
                raise ValueError(f"「{valuelist[0]}」不是有效的整数") from None
        else:
            self.data = None


class RoundCreateForm(FlaskForm):
    code = StringField("轮次代码", description="字母、数字、- 或 _，如 2025-cq",
                       validators=[DataRequired(message="请输入轮次代码"),
                                   Regexp(r"^[A-Za-z0-9_-]{2,40}$", message="轮次代码须为 2–40 位字母、数字、- 或 _")])
    region = SelectField("地区", choices=labelled((r, r) for r in REGIONS))
    year = WholeField("年份", validators=[InputRequired(message="请输入年份"),
                                          NumberRange(2000, 2100, message="年份须在 2000–2100 之间")])
    name = StringField("名称（可选）", validators=[Optional(), Length(max=200, message="名称最多 200 个字符")])
    submit = SubmitField("新建轮次")


class RoundSettingsForm(FlaskForm):
    name = StringField("名称", validators=[Optional(), Length(max=200, message="名称最多 200 个字符")])
    mc_policy = SelectField("多选题计分规则", choices=labelled(MC_POLICIES.items()))
    publicity_working_days = WholeField("公示期（工作日）", validators=[
        InputRequired(message="请输入公示工作日"), NumberRange(1, 30, message="公示工作日须在 1 到 30 之间")])
    publicity_issuer = StringField("公示发布单位", validators=[
        Optional(), Length(max=200, message="公示发布单位最多 200 个字符")],
        description="印在公示名单上，如「重庆市科学技术协会」")
    publicity_contact = StringField("投诉受理方式", validators=[
        Optional(), Length(max=300, message="投诉受理方式最多 300 个字符")],
        description="公示期内及公示后受理异议的部门、电话或地址")
    submit = SubmitField("保存轮次设置")


class SchemeForm(FlaskForm):
    exam_weight = NumberField("笔试权重（%）", validators=[
        NumberRange(0, 100, message="笔试权重须在 0 到 100 之间")])
    defense_weight = NumberField("答辩权重（%）", validators=[
        NumberRange(0, 100, message="答辩权重须在 0 到 100 之间")])
    record_weight = NumberField("业绩成果权重（%）", validators=[
        NumberRange(0, 100, message="业绩成果权重须在 0 到 100 之间")])
    ratio_percent = NumberField("认定比例（%）", validators=[
        NumberRange(min=0.01, max=100, message="认定比例须大于 0 且不超过 100")])
    min_total = NumberField("最低总分（可选）", validators=[
        Optional(), NumberRange(0, 100, message="最低总分须在 0 到 100 之间")])
    submit = SubmitField("保存方案")


class RosterUploadForm(FlaskForm):
    file = FileField("考生名单文件（.xlsx 或 .csv）", validators=[
        FileRequired(message="请选择要上传的文件"),
        FileAllowed(["xlsx", "csv"], message="只支持 .xlsx 或 .csv 文件")])
    submit = SubmitField("导入名单")


class StagedConfirmForm(FlaskForm):
    """Confirms the background import of a staged large file (roster, work-record scores, panelists)."""
    token = HiddenField(validators=[DataRequired(), Length(max=64)])
    submit = SubmitField("确认导入（后台任务）")


RosterConfirmForm = StagedConfirmForm
