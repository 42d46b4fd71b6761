"""agency search by province or city in name order

A handler's search covers a province or a city and lists agencies by name. A range of region
codes cannot be read from the (region_code, name, id) index in name order, so each search had
to gather and sort every agency of the region; these indexes answer an equality on the
province or city digits in name order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_agencies_province_name_id', 'agencies', [sa.text('substr(region_code, 1, 2)'), 'name', 'id'])
    op.create_index('ix_agencies_city_name_id', 'agencies', [sa.text('substr(region_code, 1, 4)'), 'name', 'id'])


def downgrade() -> None:
    op.drop_index('ix_agencies_city_name_id', table_name='agencies')
    op.drop_index('ix_agencies_province_name_id', table_name='agencies')
