"""audit trail as a hash chain, append-only on PostgreSQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Adds ``prev_hash`` and ``entry_hash`` to ``audit_entries`` and seals the entries already there, oldest first
(the hashing is certify.services.audit_chain, the same the application uses). ``prev_hash`` is unique. On
PostgreSQL a trigger then refuses UPDATE and DELETE of an entry.

"""
import sqlalchemy as sa
from alembic import op

from certify.services import audit_chain

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_entries = sa.table(
    'audit_entries',
    sa.column('id', sa.Integer), sa.column('at', sa.DateTime), sa.column('actor_id', sa.Integer),
    sa.column('actor_name', sa.String), sa.column('round_id', sa.Integer), sa.column('action', sa.String),
    sa.column('target_type', sa.String), sa.column('target_id', sa.String), sa.column('reason', sa.Text),
    sa.column('detail', sa.JSON), sa.column('prev_hash', sa.String), sa.column('entry_hash', sa.String),
)


def upgrade():
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('entry_hash', sa.String(length=64), nullable=True))

    conn = op.get_bind()
    prev = audit_chain.GENESIS
    for row in conn.execute(sa.select(_entries).order_by(_entries.c.id)).mappings().all():
        sealed = dict(row, detail=audit_chain.jsonable(row['detail'] or {}), prev_hash=prev)
        sealed['entry_hash'] = audit_chain.entry_hash(sealed)
        conn.execute(_entries.update().where(_entries.c.id == row['id']).values(
            detail=sealed['detail'], prev_hash=prev, entry_hash=sealed['entry_hash']))
        prev = sealed['entry_hash']

    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('entry_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_entries_prev_hash'), ['prev_hash'])

    if conn.dialect.name == 'postgresql':
        op.execute(audit_chain.PG_APPEND_ONLY_FUNCTION)
        op.execute(audit_chain.PG_APPEND_ONLY_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(audit_chain.PG_DROP_TRIGGER)
        op.execute(audit_chain.PG_DROP_FUNCTION)
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_entries_prev_hash'), type_='unique')
        batch_op.drop_column('entry_hash')
        batch_op.drop_column('prev_hash')
