"""``gateway_append_group``: a group of log entries, and the access-log entries of the reads they
answer, appended in one call under the log's lock, if the chain still ends where the caller says.

PostgreSQL only (the group-commit writer, ``moyai.gateway.server.pg``). Called alone it is the whole
transaction, so the gateway appends a group in one round trip; inside a transaction that already
holds the lock it is the slow path's insert. The head is read after the lock is held (each
statement of a volatile PL/pgSQL function takes a new snapshot), as the synchronous store does.
When the head differs from ``p_prev_seq``/``p_prev_hash`` (another process or the synchronous
store appended meanwhile) nothing is written and it returns false; true when the group was written.
"""

from typing import Any

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION gateway_append_group(
    p_log_id text, p_lock bigint, p_prev_seq bigint, p_prev_hash text,
    l_seq bigint[], l_time timestamptz[], l_requester text[], l_provider text[], l_affair text[], l_subject text[],
    l_outcome text[], l_disclose_after date[], l_prev_hash text[], l_entry_hash text[], l_canonical text[],
    e_tenant text[], e_id bigint[], e_at timestamptz[], e_actor text[], e_actor_kind text[], e_operation text[],
    e_purpose text[], e_outcome text[], e_request_id text[], e_terminal text[], e_subject_count integer[],
    e_individual_number boolean[], e_detail jsonb[],
    s_tenant text[], s_atena text[], s_log bigint[], s_at timestamptz[])
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head_seq bigint;
    head_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock);
    SELECT g.seq, g.entry_hash INTO head_seq, head_hash FROM gateway_logentry g
        WHERE g.log_id = p_log_id ORDER BY g.seq DESC LIMIT 1;
    IF head_seq IS DISTINCT FROM p_prev_seq OR head_hash IS DISTINCT FROM p_prev_hash THEN
        RETURN false;
    END IF;
    INSERT INTO gateway_logentry (log_id, seq, time, requester, provider, affair, subject, outcome,
                                  disclose_after, prev_hash, entry_hash, canonical)
    SELECT p_log_id, * FROM unnest(l_seq, l_time, l_requester, l_provider, l_affair, l_subject, l_outcome,
                                   l_disclose_after, l_prev_hash, l_entry_hash, l_canonical);
    IF cardinality(e_tenant) > 0 THEN
        PERFORM audit_record_entries(e_tenant, e_id, e_at, e_actor, e_actor_kind, e_operation, e_purpose,
                                     e_outcome, e_request_id, e_terminal, e_subject_count, e_individual_number,
                                     e_detail, s_tenant, s_atena, s_log, s_at);
    END IF;
    RETURN true;
END $$
"""

SIGNATURE = ("gateway_append_group(text, bigint, bigint, text, bigint[], timestamptz[], text[], text[], text[], "
             "text[], text[], date[], text[], text[], text[], text[], bigint[], timestamptz[], text[], text[], "
             "text[], text[], text[], text[], text[], integer[], boolean[], jsonb[], text[], text[], bigint[], "
             "timestamptz[])")


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")


class Migration(migrations.Migration):

    dependencies = [
        ('gateway', '0001_initial'),
        ('audit', '0005_record_entries_function'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
