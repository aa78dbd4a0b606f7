"""no plain-text passwords

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Initial passwords are no longer kept in plain text: a one-time password is shown once when it is generated
(admission-slip batch, reset, panelist creation) and only its hash is stored. Slips already printed keep
working: the accounts' hashes are unchanged. Downgrading brings the columns back empty.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.drop_column('initial_password')
    with op.batch_alter_table('panelists', schema=None) as batch_op:
        batch_op.drop_column('initial_password')


def downgrade():
    with op.batch_alter_table('panelists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('initial_password', sa.String(length=40), nullable=True))
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('initial_password', sa.String(length=40), nullable=True))
