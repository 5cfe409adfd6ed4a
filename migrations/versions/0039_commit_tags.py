"""pass_change: on PostgreSQL a purchase's pass change is applied at COMMIT

A purchase that changes its card's pass took the program's next tag in its
statement and held that row lock until COMMIT, one client round trip later.
Every purchase in the program takes that lock, so under load (the tills'
threads waiting for CPU to send COMMIT) the purchases queued behind each other.
Now the purchase inserts a `pass_change` row (pass, new content hash,
Last-Modified, whether to queue a Google sync), and a deferred constraint
trigger applies it when the transaction commits, inside the server: the next
tag, the pass row, the devices' pushes (and the Google sync), in the lock order
of every other path (tag, pass, outbox), and deletes the row. The tag is then
held only for the commit itself. SQLite (one writer at a time) keeps the table
empty and writes the change in the purchase's steps.

Revision ID: 0039_commit_tags
Revises: 0038_tags
"""

import sqlalchemy as sa
from alembic import op

revision = "0039_commit_tags"
down_revision = "0038_tags"
branch_labels = None
depends_on = None

# The rows of services.outbox.enqueue_pass_update_ids, by the database: one per
# channel, topic and token (the highest device id), a queued twin coalesced
# (generation + 1); the Google sync as outbox._row("google", "object", member).
APPLY = """
CREATE FUNCTION apply_pass_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_tag integer;
    v_member integer;
BEGIN
    INSERT INTO program_tag (program_id, last_update_tag)
    VALUES (NEW.program_id, 1)
    ON CONFLICT (program_id) DO UPDATE
    SET last_update_tag = program_tag.last_update_tag + 1
    RETURNING last_update_tag INTO v_tag;
    UPDATE pass SET
        update_tag = v_tag,
        content_hash = NEW.content_hash,
        updated_at = greatest(
            NEW.updated_at, date_trunc('second', pass.updated_at) + interval '1 second'
        )
    WHERE id = NEW.pass_id
    RETURNING member_id INTO v_member;
    INSERT INTO push_delivery (channel, status, device_id, pass_id, campaign_id,
        topic, push_token, pending_key, generation, attempts, next_attempt_at,
        created_at, updated_at)
    SELECT q.channel, 'queued', q.device_id, NEW.pass_id, NULL, q.topic,
        q.push_token, q.channel || ':' || q.topic || ':' || q.push_token, 0, 0,
        NEW.queued_at, NEW.queued_at, NEW.queued_at
    FROM (
        SELECT CASE device.platform WHEN 'apple' THEN 'apns'
                WHEN 'android' THEN 'android' ELSE 'apns' END AS channel,
            max(device.id) AS device_id,
            program.pass_type_identifier AS topic, device.push_token AS push_token
        FROM registration
        JOIN device ON device.id = registration.device_id
        JOIN program ON program.id = NEW.program_id
        WHERE registration.pass_id = NEW.pass_id
        GROUP BY device.platform, program.pass_type_identifier, device.push_token
        UNION ALL
        SELECT 'google', NULL, 'object', v_member::text
        WHERE NEW.google AND EXISTS (
            SELECT 1 FROM google_object
            WHERE member_id = v_member AND state <> 'EXPIRED'
        )
    ) AS q
    ON CONFLICT (pending_key) DO UPDATE SET
        generation = push_delivery.generation + 1,
        pass_id = excluded.pass_id,
        device_id = excluded.device_id,
        campaign_id = coalesce(excluded.campaign_id, push_delivery.campaign_id),
        updated_at = excluded.updated_at;
    DELETE FROM pass_change WHERE id = NEW.id;
    RETURN NULL;
END
$$
"""
TRIGGER = """
CREATE CONSTRAINT TRIGGER pass_change_at_commit AFTER INSERT ON pass_change
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION apply_pass_change()
"""


def upgrade():
    op.create_table(
        "pass_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pass_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("google", sa.Boolean(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPLY)
        op.execute(TRIGGER)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER pass_change_at_commit ON pass_change")
        op.execute("DROP FUNCTION apply_pass_change()")
    op.drop_table("pass_change")
