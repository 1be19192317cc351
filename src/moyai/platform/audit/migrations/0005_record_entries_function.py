"""``audit_record_entries``: many access-log entries and their subjects, of one or more 団体, in one call.

PostgreSQL only (on SQLite the gateway's asynchronous path does not run). Each 団体's rows are
inserted with the transaction's scope set to that 団体, so row-level security checks every row as
it would for an insert made in that scope; the scope the caller had is set again at the end.
"""

from typing import Any

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_record_entries(
    e_tenant text[], e_id bigint[], e_at timestamptz[], e_actor text[], e_actor_kind text[], e_operation text[],
    e_purpose text[], e_outcome text[], e_request_id text[], e_terminal text[], e_subject_count integer[],
    e_individual_number boolean[], e_detail jsonb[],
    s_tenant text[], s_atena text[], s_log bigint[], s_at timestamptz[]) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    t text;
    caller_scope text := current_setting('moyai.tenant', true);
    stored integer := 0;
    n integer;
BEGIN
    IF array_position(e_tenant, NULL) IS NOT NULL OR array_position(s_tenant, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = 'audit_record_entries: an entry without its tenant',
                              ERRCODE = 'not_null_violation';
    END IF;
    FOR t IN SELECT DISTINCT x FROM unnest(e_tenant || s_tenant) AS x ORDER BY 1 LOOP
        PERFORM set_config('moyai.tenant', t, true);
        INSERT INTO audit_accesslog (tenant_code, id, at, actor, actor_kind, operation, purpose, outcome,
                                     request_id, terminal, subject_count, individual_number, detail)
        SELECT * FROM unnest(e_tenant, e_id, e_at, e_actor, e_actor_kind, e_operation, e_purpose, e_outcome,
                             e_request_id, e_terminal, e_subject_count, e_individual_number, e_detail)
            AS e (tenant_code, id, at, actor, actor_kind, operation, purpose, outcome, request_id, terminal,
                  subject_count, individual_number, detail)
        WHERE e.tenant_code = t;
        GET DIAGNOSTICS n = ROW_COUNT;
        stored := stored + n;
        INSERT INTO audit_accesslogsubject (tenant_code, atena_no, log_id, at)
        SELECT * FROM unnest(s_tenant, s_atena, s_log, s_at) AS s (tenant_code, atena_no, log_id, at)
        WHERE s.tenant_code = t;
    END LOOP;
    PERFORM set_config('moyai.tenant', coalesce(caller_scope, ''), true);
    RETURN stored;
END $$
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_record_entries(text[], bigint[], timestamptz[], text[], "
                              "text[], text[], text[], text[], text[], text[], integer[], boolean[], jsonb[], text[], "
                              "text[], bigint[], timestamptz[])")


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0004_accesslog_at_default'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
