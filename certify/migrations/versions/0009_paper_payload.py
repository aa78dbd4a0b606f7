"""paper payload: what the candidate sees of a paper, rendered once

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``exam_papers.payload_json``: the candidate-facing items of a paper (stems, options in the paper's order, points; no
key, no explanation), rendered when the paper is generated (``exam.services.paper_payload``), so startAttempt and
getAttempt serve a stored text instead of reading the paper's items and bank versions on every call. Existing papers
keep NULL: the first start on each renders and stores it (``exam.delivery.payload``), so no rendering code runs here.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('exam_papers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload_json', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('exam_papers', schema=None) as batch_op:
        batch_op.drop_column('payload_json')
