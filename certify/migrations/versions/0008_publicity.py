"""publicity notice: the round's issuing body and complaint contact

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

``rounds.publicity_issuer`` (公示发布单位) and ``rounds.publicity_contact`` (投诉受理方式), edited on the round
settings page and printed on the publicity list (公示). ``complaints.late_reason``: why a complaint was recorded
after the publicity period ended (a complaint, and so a revocation, stays possible then, with a reason). Existing
rows get empty strings.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('publicity_issuer', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('publicity_contact', sa.String(length=300), server_default='', nullable=False))
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_reason', sa.Text(), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_column('late_reason')
    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.drop_column('publicity_contact')
        batch_op.drop_column('publicity_issuer')
