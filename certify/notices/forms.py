from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length


class ContactForm(FlaskForm):
    username = StringField("账号（考生为准考证号）", validators=[DataRequired(message="请输入账号"), Length(max=64)])
    email = StringField("电子邮箱", validators=[Length(max=200)])
    mobile = StringField("手机号码", validators=[Length(max=40)])
    submit = SubmitField("保存联系方式")
