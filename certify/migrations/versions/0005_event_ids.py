"""integrity events: client event ids, the attempt's tab and concurrent-session episodes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

``exam_attempt_events.client_event_id`` with a unique (attempt_id, client_event_id): a browser resending an
event it already sent is ignored. ``exam_attempts.client_tab``: the browser tab holding the attempt's token
(a reload of that tab resumes, another tab takes over). ``exam_attempts.concurrent_seen_at``: the last time two
live tabs were seen on one attempt (one ``concurrent_session`` event per episode).

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('exam_attempt_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_event_id', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_exam_attempt_events_attempt_id_client_event_id'),
                                          ['attempt_id', 'client_event_id'])
    with op.batch_alter_table('exam_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_tab', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('concurrent_seen_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('exam_attempts', schema=None) as batch_op:
        batch_op.drop_column('concurrent_seen_at')
        batch_op.drop_column('client_tab')
    with op.batch_alter_table('exam_attempt_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_exam_attempt_events_attempt_id_client_event_id'), type_='unique')
        batch_op.drop_column('client_event_id')
