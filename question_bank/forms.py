from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from .services.parsing import LETTERS, LEVELS, TYPE_LABELS


class UploadForm(FlaskForm):
    file = FileField("题库文件（.xlsx 或 .csv）", validators=[FileRequired(message="请选择要上传的文件")])
    submit = SubmitField("上传并预览")


class ConfirmForm(FlaskForm):
    fingerprint = HiddenField()
    rows = HiddenField()  # the previewed plan's rows: above BANK_JOB_MIN_ROWS the confirmation queues the job
    submit = SubmitField("确认导入")


class ReasonForm(FlaskForm):
    reason = StringField("原因（可选）", validators=[Optional(), Length(max=200)])
    submit = SubmitField("确定")


class ItemForm(FlaskForm):
    """Edit an item; validated by the same rules as an import row (question_bank.services.parsing)."""
    # Choices are checked by the import-row rules (Chinese messages naming the field), not by WTForms.
    type = SelectField("题型", choices=list(TYPE_LABELS.values()), validate_choice=False)
    stem = TextAreaField("题干")
    option_a = StringField("选项A")
    option_b = StringField("选项B")
    option_c = StringField("选项C")
    option_d = StringField("选项D")
    option_e = StringField("选项E")
    option_f = StringField("选项F")
    option_g = StringField("选项G")
    option_h = StringField("选项H")
    answer = StringField("答案", description="单选/多选填字母，如 B、ACD；判断填 正确 或 错误")
    category = StringField("分类")
    difficulty = SelectField("难度", choices=[str(d) for d in range(1, 6)], validate_choice=False)
    level = SelectField("适用级别", choices=list(LEVELS), validate_choice=False)
    explanation = TextAreaField("解析（可选）")
    submit = SubmitField("保存为新版本")

    OPTION_FIELDS = tuple(f"option_{c.lower()}" for c in LETTERS)

    def values(self) -> dict[str, str]:
        keys = ("type", "stem", *self.OPTION_FIELDS, "answer", "category", "difficulty", "level", "explanation")
        return {k: getattr(self, k).data or "" for k in keys}
