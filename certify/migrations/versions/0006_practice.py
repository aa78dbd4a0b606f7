"""practice sessions and device checks

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

``exam_sessions.practice``: a practice session (模拟练习), never counted in results, statistics, exports, the
monitor, absentees or item analysis. ``exam_device_checks``: a candidate's device checks and their verdicts.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('practice', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('exam_device_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('user_agent', sa.String(length=400), nullable=False),
    sa.Column('browser', sa.String(length=60), nullable=False),
    sa.Column('browser_version', sa.Integer(), nullable=True),
    sa.Column('clock_offset_ms', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=True),
    sa.Column('websocket_ok', sa.Boolean(), nullable=False),
    sa.Column('storage_ok', sa.Boolean(), nullable=False),
    sa.Column('screen_width', sa.Integer(), nullable=True),
    sa.Column('screen_height', sa.Integer(), nullable=True),
    sa.Column('verdict', sa.String(length=10), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("verdict IN ('pass', 'warn', 'fail')", name=op.f('ck_exam_device_checks_verdict')),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidates.id'],
                            name=op.f('fk_exam_device_checks_candidate_id_candidates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exam_device_checks'))
    )
    with op.batch_alter_table('exam_device_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exam_device_checks_candidate_id'), ['candidate_id'], unique=False)


def downgrade():
    with op.batch_alter_table('exam_device_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exam_device_checks_candidate_id'))
    op.drop_table('exam_device_checks')
    with op.batch_alter_table('exam_sessions', schema=None) as batch_op:
        batch_op.drop_column('practice')
