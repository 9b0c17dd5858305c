#!/usr/bin/env python3
"""Writes docs/openapi.json, the OpenAPI 3 description of `ledgersync api`.

The document is built here from small helpers so that every route states every status it
answers and every schema once. After editing, run:

  scripts/openapi.py && scripts/embed-sql.py    (or `make generate`)

`scripts/embed-sql.py --check` (CI) fails when Sources/API/Generated/OpenAPIDocument.swift
is stale; `scripts/api-fuzz.sh` holds the running server to this document (schemathesis).
"""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

STATES = ["available", "running", "retryable", "completed", "failed", "cancelled"]
MAPPING_KINDS = ["fallback_item", "default_item", "item", "tax", "currency", "custom_field"]
OBJECT_TYPES = ["customer", "invoice", "sales_order", "credit_memo", "payment"]
EVENT_TYPES = ["customer.accounting_provider_error", "integration.provider_error", "invoice.paid_in_provider", "reconciliation.completed"]
# Change events read back from the provider (docs/changes.md).
EVENT_TYPES += [f"{t}.changed_in_provider" for t in ["customer", "invoice", "sales_order", "credit_memo", "payment"]]
# Success events (docs/sync-status.md): sent only to endpoints that list them.
EVENT_TYPES += ["customer.accounting_provider_created"] + [
    f"{t}.accounting_provider_synced" for t in ["customer", "invoice", "sales_order", "credit_note", "payment"]
] + ["invoice.accounting_provider_voided", "credit_note.accounting_provider_voided"]
REFERENCE_KINDS = ["items", "taxes", "accounts", "subsidiaries", "currencies", "locations"]
READ_CHANGES = ["paid_invoices", "customer", "invoice", "sales_order", "credit_memo", "payment"]
# Something other than white space: the server refuses blank strings.
NOT_BLANK = r"\S"
# What the stores accept as a URL: lower-case http(s) scheme, then a host.
HTTP_URL = r"^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s]*)?$"

# What each scope opens (docs/api.md has the table). `admin` includes every other scope.
SCOPES = {
    "read": "Read jobs, stats, metrics and external refs.",
    "enqueue": "Enqueue jobs (one and batch); kinds Ledgersync enqueues itself (webhook.deliver, inbound.*, maintenance.*) are refused to every token.",
    "operate": "Retry and cancel jobs, one or by filter.",
    "admin": "Connections and their secrets, mappings, webhook endpoints, inbound secrets, tokens; includes every other scope.",
}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


PROVIDER_NAME = "^[a-z][a-z0-9_]{0,39}$"


def string(max_length=None, nullable=False, **extra):
    schema = {"type": "string", **extra}
    if max_length:
        schema["maxLength"] = max_length
    if nullable:
        schema["nullable"] = True
    return schema


def text(max_length=10000, pattern=NOT_BLANK, **extra):
    """A non-blank input string. Query parameters have no length limit (max_length None)."""
    return string(max_length, minLength=1, pattern=pattern, **extra)


def integer(minimum=None, maximum=None, nullable=False):
    schema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if nullable:
        schema["nullable"] = True
    return schema


def date_time(nullable=False):
    """RFC 3339; as input, from 1900 to 9999 (422 otherwise: the schema cannot say so)."""
    return string(format="date-time", nullable=nullable)


def obj(properties, required=None, additional=False, **extra):
    schema = {"type": "object", "properties": properties, "additionalProperties": additional, **extra}
    schema["required"] = list(properties) if required is None else required
    if not schema["required"]:
        del schema["required"]
    return schema


def json_response(description, schema):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description):
    return json_response(description, ref("Error"))


ERRORS = {
    "400": error("The body is not JSON (malformed, trailing data, duplicate keys, empty)."),
    "401": error("No valid bearer token: missing, unknown or revoked (`unauthorized`), or past its expiry (`token_expired`)."),
    "403": error("The token lacks the scope this operation needs (`insufficient_scope`, naming it; see `x-scopes`)."),
    "404": error("No such resource (the `field` names the id)."),
    "409": error("The job is not in a state this action applies to."),
    "413": error("The body is larger than 1 MiB."),
    "422": error("Well-formed JSON with a wrong type, a missing or unknown field, or a value the server cannot accept; `field` names it."),
    "503": error("The database cannot be reached (`database_unavailable`), every API database connection stayed busy past the wait bound (`database_busy`), or a statement ran past the API's statement_timeout (`database_timeout`). Nothing was changed unless the answer says so; retry after `Retry-After`."),
}


def errors(*codes):
    return {code: ERRORS[code] for code in codes}


def body(schema_name):
    return {"required": True, "content": {"application/json": {"schema": ref(schema_name)}}}


def query(name, schema, description, required=False, **extra):
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description, **extra}


def path_param(name, schema, description):
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


JOB_ID = path_param("id", integer(1, 9223372036854775807), "The job id.")
UUID_ID = path_param("id", string(format="uuid"), "The connection or endpoint id.")
REF_PATH = [
    UUID_ID,
    path_param("object_type", string(enum=OBJECT_TYPES), "The billing object's type."),
    path_param("billing_id", string(255, minLength=1), "The billing system's id of the object (Lago's lago_id), percent-encoded."),
]

RECORD_TYPE = path_param("record_type", string(100, pattern="^[A-Za-z][A-Za-z0-9_]*$"), "The provider's record type (`contact`, `customrecord_project`).")
RECORD_ID = path_param("record_id", string(205, pattern="^([0-9]{1,20}|eid:[A-Za-z0-9_-]{1,200})$"), "An internal id (digits), or `eid:` and the external id.")
WAIT = query("wait", integer(1, 30), "Wait up to this many seconds for the job's result: 200 with it, or 202 when the time ran out first.")
RECORD_ACTION_DOC = "Enqueues a `record.action` job under the connection's limit key (it shares the account's concurrency limit and rate windows with the sync jobs); 202 with the job, or with `wait` the result. The result is also sent as a signed `record.action_completed` or `record.action_failed` webhook. docs/record-actions.md."

SCHEMAS = {
    "Error": obj({"error": obj({"code": string(), "message": string(), "field": string(nullable=True)})}),
    "JobError": obj({
        "at": date_time(), "attempt": integer(0), "class": string(), "message": string(),
        "code": string(nullable=True), "worker": string(nullable=True), "retry_in": {"type": "number", "nullable": True},
    }),
    "Job": obj({
        "id": integer(1), "state": string(enum=STATES), "kind": string(), "queue": string(), "priority": integer(0, 9),
        "attempt": integer(0), "max_attempts": integer(1), "run_at": date_time(), "created_at": date_time(),
        "attempted_at": date_time(True), "finalized_at": date_time(True), "locked_by": string(nullable=True),
        "unique_key": string(nullable=True), "serial_key": string(nullable=True), "limit_key": string(nullable=True),
        "args": {"type": "object", "additionalProperties": True},
        "billing_object": {"allOf": [ref("BillingObject")], "nullable": True, "description": "The billing document a sync job is about, read from its args; null for other kinds."},
        "errors": {"type": "array", "items": ref("JobError"), "description": "Every attempt that did not complete, oldest first."},
        "last_error": {"allOf": [ref("JobError")], "nullable": True, "description": "The newest of `errors`; null for a completed job (its earlier errors stay in `errors`)."},
    }),
    "BillingObject": obj({
        "document": string(description="customer, invoice, sales_order, credit_note or payment"),
        "billing_id": string(nullable=True, description="The billing system's id (lago_id)."),
        "number": string(nullable=True, description="The document's number in the billing system, when it has one."),
        "customer_id": string(nullable=True, description="The billing customer's lago_id."),
    }),
    "EnqueueRequest": obj({
        "kind": text(200, description="A job kind a worker runs: the sync kinds, diag.* when the server runs with --diagnostic-kinds, or any kind a worker has published. Others are refused (422): nobody would run them. Kinds Ledgersync enqueues itself (webhook.deliver and any webhook.*, inbound.*, maintenance.*, system.*) are refused to every token (403 system_kind)."),
        "args": {"type": "object", "additionalProperties": True, "description": "The job's arguments, stored exactly as sent. Sync kinds need connection_id, the UUID of an existing connection. Bounded (422 naming the value, e.g. args.invoice.total_cents): at most 262144 bytes, 32 levels of nesting, 65536 characters a string or member name, 30 digits before and 30 after a number's decimal point; no U+0000."},
        "queue": text(200, default="default"),
        "priority": integer(0, 9),
        "run_at": date_time(),
        "max_attempts": integer(1, 1000),
        "unique_key": text(1000, description="While a job with this key is unfinished, enqueueing again returns it (200, created false) instead of a new job."),
        "serial_key": text(1000), "limit_key": text(1000),
    }, required=["kind"]),
    "EnqueueResponse": obj({"job": ref("Job"), "created": {"type": "boolean"}, "message": string()}),
    "BatchRequest": obj({"jobs": {"type": "array", "items": ref("EnqueueRequest"), "minItems": 1, "maxItems": 1000}}),
    "BatchResponse": obj({
        "jobs": {"type": "array", "items": obj({"id": integer(1), "created": {"type": "boolean"}})},
        "created": integer(0), "existing": integer(0),
    }),
    "JobList": obj({"jobs": {"type": "array", "items": ref("Job")}, "next_cursor": string(nullable=True, description="Pass as `cursor` for the next page; null on the last.")}),
    "JobEnvelope": obj({"job": ref("Job")}),
    "JobDetailEnvelope": obj({"job": ref("JobDetail")}),
    "WaitingFor": obj({
        "object_type": string(description="customer or invoice"),
        "billing_id": string(description="Its billing id (lago_id)."),
        "job_id": {**integer(1, nullable=True), "description": "The unfinished job that will create it; null when none is queued (the job waits until --dependency-timeout)."},
        "job_kind": string(nullable=True, description="customer.sync or invoice.push; null with job_id."),
        "since": date_time(),
        "parked": {"type": "boolean", "description": "True while the job is parked: it holds no place in its customer's lane and runs as soon as what it waits for is synced."},
    }),
    "JobWarning": obj({
        "code": string(description="What the warning is about: fallback_item (lines put on the connection's fallback item, which someone must re-class)."),
        "message": string(description="E.g. \"2 lines on the fallback item 900 (Billing (fallback)): storage_gb (Storage), api_calls\"."),
        "count": {**integer(1), "description": "How many lines (or things) it is about."},
        "created_at": date_time(),
        "updated_at": {**date_time(), "description": "When a re-run of the job last wrote it."},
    }),
    "JobFilter": obj({
        "state": {"oneOf": [
            {"type": "array", "items": string(enum=STATES), "minItems": 1, "maxItems": 6},
            string(pattern="^(available|running|retryable|completed|failed|cancelled)(,(available|running|retryable|completed|failed|cancelled))*$", description="Comma-separated states."),
        ]},
        "kind": text(200), "queue": text(200), "connection_id": string(format="uuid"),
        "created_after": date_time(), "created_before": date_time(), "limit": integer(1, 10000),
    }, required=[], description="At least one of state, kind, queue, connection_id, created_after, created_before (else 422). Retry takes failed, cancelled and retryable jobs; cancel takes available, retryable and running ones.",
        anyOf=[{"required": [name]} for name in ["state", "kind", "queue", "connection_id", "created_after", "created_before"]]),
    "BulkResult": obj({"ids": {"type": "array", "items": integer(1)}, "count": integer(0)}),
    "Stats": obj({
        "by_state": obj({state: integer(0) for state in STATES}),
        "by_kind": {"type": "object", "additionalProperties": integer(0)},
        "by_queue": {"type": "object", "additionalProperties": integer(0)},
        "groups": {"type": "array", "items": obj({
            "queue": string(), "kind": string(), "state": string(enum=STATES), "jobs": integer(0),
            "oldest_runnable_seconds": {"type": "number", "nullable": True},
        })},
        "oldest_available_age_seconds": {"type": "number", "nullable": True, "description": "Age of the oldest job that could run now."},
        "completed_last_minute": integer(0), "completed_last_hour": integer(0),
    }),
    "ConnectionSettings": obj({
        "objects_to_sync": {"type": "array", "items": string(enum=OBJECT_TYPES)},
        "base_url": string(nullable=True), "concurrency_limit": integer(1),
        "read_changes": {"type": "array", "items": string(enum=READ_CHANGES), "description": "What the connection reads back from the provider (docs/changes.md); absent: nothing."},
        "poll_interval": {"type": "number", "description": "Seconds between two change polls of one record type; absent: 60."},
    }, required=["objects_to_sync", "base_url", "concurrency_limit"], additional=string(), description="The common settings, then the provider's own as strings (NetSuite: default_subsidiary, default_location)."),
    "Connection": obj({
        "id": string(format="uuid"), "provider": string(pattern=PROVIDER_NAME), "name": string(), "account_id": string(),
        "settings": ref("ConnectionSettings"), "limit_key": string(),
        "secret_hints": obj({}, additional=string(), description="What the provider's driver shows of the credentials: the auth kind and the first 6 characters of ids (NetSuite TBA: auth, consumer_key, token_id; OAuth 2.0: auth, client_id, certificate_id). The secrets themselves are never returned."),
        "created_at": date_time(True), "updated_at": date_time(True),
    }),
    "ConnectionSettingsInput": obj({
        "objects_to_sync": {"type": "array", "items": string(enum=OBJECT_TYPES), "maxItems": 20},
        "base_url": text(10000, nullable=True, pattern=HTTP_URL, description="http:// or https:// URL of the provider's API root (a simulator)."),
        "concurrency_limit": integer(1, 1000),
        "read_changes": {"type": "array", "items": string(enum=READ_CHANGES), "maxItems": 10, "nullable": True,
                         "description": "paid_invoices (invoice.paid_in_provider webhooks) and record types whose changes at the provider become change events (docs/changes.md). Absent or null: nothing is read back."},
        "poll_interval": {"type": "number", "minimum": 0.2, "maximum": 86400, "nullable": True, "description": "Seconds between two change polls of one record type (default 60)."},
    }, required=[], additional=text(10000, nullable=True),
        description="The common settings, and the provider's own as strings, checked by its driver (NetSuite: default_subsidiary, default_location: internal ids). In an update, members left out keep their value and null clears an optional one."),
    "ConnectionSecrets": obj({}, additional=string(20000, minLength=1), maxProperties=20,
        description="The provider's credential fields, checked by its driver (docs/connections.md). NetSuite token-based authentication: consumer_key, consumer_secret, token_id, token_secret; NetSuite OAuth 2.0 client credentials: client_id, certificate_id, private_key (PEM). Write-only: sealed at rest and never returned; an update replaces them whole (which is how a connection changes its auth kind)."),
    "ConnectionCreate": obj({
        "provider": string(40, pattern=PROVIDER_NAME, description="A provider this installation knows: netsuite."), "name": text(200),
        "account_id": text(100, description="The provider's account id, e.g. NetSuite's 1234567 or 1234567_SB1"),
        "settings": ref("ConnectionSettingsInput"), "secrets": ref("ConnectionSecrets"),
    }, required=["provider", "name", "account_id", "secrets"]),
    "ReferenceDataList": obj({
        "connection_id": string(format="uuid"), "provider": string(description="The connection's provider (`netsuite`, `zoho_books`)."),
        "kind": string(enum=REFERENCE_KINDS),
        "records": {"type": "array", "items": obj({
            "id": string(description="The provider's id: what a mapping's `provider_id` takes."),
            "code": string(nullable=True, description="An item's number or SKU, an account number, a currency's ISO code, a tax code; null when the record has none besides its name."),
            "name": string(), "inactive": {"type": "boolean", "description": "The provider marks it inactive."},
        })},
    }),
    "ConnectionCheckResult": obj({
        "ok": {"type": "boolean", "description": "No check failed."},
        "checks": {"type": "array", "items": obj({
            "name": string(description="reachability, account_id, credentials, concurrency_limit, … (the provider's checks, in order)"),
            "outcome": string(enum=["passed", "failed", "skipped"]),
            "detail": string(description="What was found, or what is wrong and what to check; never a secret."),
        })},
    }),
    "Reconciliation": obj({
        "id": integer(), "job_id": integer(nullable=True), "since": date_time(nullable=True),
        "started_at": date_time(), "finished_at": date_time(), "drift": {"type": "boolean", "description": "Something is missing, changed, extra or unlinked."},
        "counts": obj({name: integer(0) for name in ["checked", "matched", "missing", "changed", "changed_fields", "extra", "unlinked", "in_flight"]}),
        "drift_truncated": {"type": "boolean", "description": "More than 1000 drift rows were found; the first 1000 are kept (the counts are complete)."},
        "findings": {"type": "array", "items": obj({
            "kind": string(enum=["missing", "changed", "extra", "unlinked"]), "object_type": string(enum=OBJECT_TYPES),
            "billing_id": string(nullable=True), "document_number": string(nullable=True), "provider_id": string(nullable=True),
            "field": string(nullable=True, description="For changed: total, tax, lines, lines[N].amount, lines[N].item, applied, amount_due, status, customer, name, currency."),
            "expected": string(nullable=True), "actual": string(nullable=True),
            "expected_minor": integer(nullable=True), "actual_minor": integer(nullable=True),
            "repairable": {"type": "boolean", "description": "`ledgersync reconcile --repair` fixes it by re-pushing the last document synced."},
            "action": string(description="What to do about it."),
        })},
    }, description="A stored reconciliation run (docs/reconciliation.md)."),
    "ReconciliationEnvelope": obj({"reconciliation": {**ref("Reconciliation"), "nullable": True}}),
    "ConnectionUpdate": obj({"name": text(200), "settings": ref("ConnectionSettingsInput"), "secrets": ref("ConnectionSecrets")}, required=[]),
    "ConnectionEnvelope": obj({"connection": ref("Connection")}),
    "ConnectionList": obj({"connections": {"type": "array", "items": ref("Connection")}}),
    "Mapping": obj({
        "connection_id": string(format="uuid"), "kind": string(enum=MAPPING_KINDS), "billing_key": string(),
        "record_type": string(nullable=True), "provider_id": string(), "provider_name": string(nullable=True),
        "account_code": string(nullable=True), "details": {"type": "object", "additionalProperties": string()},
    }),
    "MappingSet": obj({
        "kind": string(enum=MAPPING_KINDS), "billing_key": string(500, description="Empty for fallback_item."),
        "record_type": text(200, description="Only for custom_field."), "provider_id": text(500),
        "provider_name": text(500), "account_code": text(200),
        "details": {"type": "object", "additionalProperties": string(), "description": "For tax: nexus, tax_type and tax_code (SuiteTax), or legacy_tax_item."},
    }, required=["kind", "provider_id"]),
    "MappingEnvelope": obj({"mapping": ref("Mapping")}),
    "MappingList": obj({"mappings": {"type": "array", "items": ref("Mapping")}}),
    "WebhookEndpoint": obj({
        "id": string(format="uuid"), "url": string(), "event_types": {"type": "array", "items": string(), "nullable": True, "description": "null: every event."},
        "disabled": {"type": "boolean"}, "created_at": date_time(),
    }),
    "WebhookEndpointCreate": obj({
        "url": text(2000, pattern=HTTP_URL, description="http:// or https://"), "secret": text(500, description="The signing secret; generated (and returned once) when left out."),
        "event_types": {"type": "array", "items": string(enum=EVENT_TYPES), "minItems": 1, "maxItems": 20},
        "disabled": {"type": "boolean"},
    }, required=["url"]),
    "WebhookEndpointCreated": obj({
        "webhook_endpoint": ref("WebhookEndpoint"),
        "secret": string(nullable=True, description="The generated signing secret, shown this once; null when the client gave one."),
    }),
    "WebhookEndpointEnvelope": obj({"webhook_endpoint": ref("WebhookEndpoint")}),
    "WebhookSecretRotation": obj({
        "overlap_seconds": integer(0, 30 * 86400),
        "secret": text(500, description="The new signing secret; generated (and returned once) when left out."),
    }, required=[]),
    "WebhookSecretRotated": obj({
        "webhook_endpoint": ref("WebhookEndpoint"),
        "secret": string(nullable=True, description="The generated signing secret, shown this once; null when the client gave one."),
        "previous_secret_expires_at": {**date_time(), "nullable": True, "description": "Until when the previous secret signs beside the new one; null when it was retired at once."},
    }),
    "WebhookEndpointList": obj({"webhook_endpoints": {"type": "array", "items": ref("WebhookEndpoint")}}),
    "PingResult": obj({"job_id": integer(1), "event_id": string(), "event_type": string(enum=["webhook.ping"])}),
    "ExternalRef": obj({
        "connection_id": string(format="uuid"), "object_type": string(enum=OBJECT_TYPES), "billing_id": string(),
        "provider_id": string(), "customer_billing_id": string(nullable=True), "synced_at": date_time(),
        "linked_at": {**date_time(), "nullable": True, "description": "When a person linked the object to an existing provider record (PUT /v1/connections/{id}/refs/…); null for refs the workers recorded. A linked object is written by its internal id and a sync never replaces the link."},
    }),
    "ExternalRefEnvelope": obj({"external_ref": ref("ExternalRef")}),
    "RecordActionAnswer": obj({
        "job": ref("Job"),
        "succeeded": {"type": "boolean", "description": "Present once the job finished."},
        "result": {"type": "object", "additionalProperties": True, "description": "What the provider answered: `id`; `found` and `record` for get; `rows`, `has_more`, `total_results` for a query. Present when succeeded."},
        "error": string(description="Why the action failed, when it did."),
    }, required=["job"]),
    "RecordBody": {"type": "object", "additionalProperties": True, "description": "The record's fields as the provider's REST API takes them; numbers are passed on exactly as written."},
    "RecordQuery": obj({
        "query": string(100000, description="The query in the provider's language (SuiteQL for NetSuite)."),
        "limit": integer(1, 1000), "offset": integer(0, 2147483647),
    }, required=["query"]),
    "RefLink": obj({"provider_id": string(18, pattern="^[0-9]{1,18}$", description="The provider's internal id of the existing record.")}),
    "ExternalRefList": obj({"external_refs": {"type": "array", "items": ref("ExternalRef")}}),
    "ChangeEvent": obj({
        "id": integer(1), "object_type": string(enum=OBJECT_TYPES), "change": string(enum=["created", "updated"]),
        "provider_id": string(), "external_id": string(nullable=True),
        "billing_id": string(nullable=True, description="The billing id when the record is one Ledgersync synced (a person edited it)."),
        "modified_at": date_time(), "number": string(nullable=True),
        "amount": string(nullable=True, description="Decimal text as the provider wrote it."), "currency": string(nullable=True),
        "applications": {"type": "array", "items": obj({"provider_id": string(), "billing_id": string(nullable=True), "amount": string(nullable=True)})},
        "created_at": date_time(),
        "record": {"type": "object", "nullable": True, "description": "The record as the provider answered (body fields)."},
    }),
    "ChangeEventList": obj({
        "changes": {"type": "array", "items": ref("ChangeEvent")},
        "next_since": {"type": "integer", "minimum": 0, "description": "The since of the next page (the last id, or the since given when the page is empty)."},
    }),
    "InboundSecret": obj({
        "connection_id": string(format="uuid"),
        "secret": string(description="Shown this once (whsec_…). Sign each inbound message the Standard Webhooks way under it; the previous secret stops working."),
        "signature_header": string(enum=["webhook-signature"]),
        "signature_scheme": string(enum=["standard-webhooks-v1"]),
    }),
    "InboundPayment": obj({
        "payment_id": text(200, description="NetSuite's internal id of the customer payment."),
        "invoice_id": text(200, description="NetSuite's internal id of the invoice it pays (one Ledgersync synced)."),
        "amount": string(40, pattern=r"^-?[0-9]+(\.[0-9]+)?$", description="A decimal string, e.g. \"129.00\"."),
        "currency": string(3, pattern="^[A-Z]{3}$"),
        "paid_at": date_time(),
    }, required=["payment_id", "invoice_id"]),
    "InboundAccepted": obj({
        "event_id": string(), "event_type": string(enum=["invoice.paid_in_provider"]),
        "invoice_id": string(description="The billing system's invoice id."),
        "job_ids": {"type": "array", "items": integer(1), "description": "One webhook.deliver job per endpoint that receives the event."},
    }),
    "Token": obj({
        "id": integer(1), "name": string(), "hint": string(description="The token's first characters, to tell tokens apart; never the token."),
        "scopes": {"type": "array", "items": string(enum=list(SCOPES))},
        "expires_at": date_time(True), "created_at": date_time(), "last_used_at": date_time(True), "revoked_at": date_time(True),
    }),
    "TokenList": obj({"tokens": {"type": "array", "items": ref("Token")}}),
    "TokenCreate": obj({
        "name": text(200, description="Who or what holds the token."),
        "scopes": {"type": "array", "items": string(enum=list(SCOPES)), "minItems": 1, "maxItems": 4},
        "expires_at": date_time(),
    }, required=["name", "scopes"]),
    "TokenCreated": obj({"token": string(description="The token, shown this once; only its SHA-256 is stored."), "record": ref("Token")}),
    "RateWindowList": obj({"rate_windows": {"type": "array", "items": obj({
        "limit_key": string(), "window": string(description="STARTS/LENGTH, e.g. 100/60s or 1000/1d (`ledgersync limits set --window`)."),
        "seconds": integer(1), "max_starts": integer(1),
        "used": integer(0), "left": integer(0),
        "turns_in_seconds": {"type": "number", "description": "Seconds until `left` next rises: until a start frees when none is left, else until the oldest counted start leaves the window (windows slide: at most max_starts starts in any span of `seconds`)."},
    })}}),
    "Health": obj({"status": string(enum=["ok"])}),
    "Ready": obj({
        "status": string(enum=["ready", "not_ready"]), "reason": string(nullable=True),
        "migrations": {"type": "array", "items": obj({"line": string(), "applied": integer(0), "known": integer(0), "current": {"type": "boolean"}})},
    }),
}

# GET /v1/jobs/{id}: a job with what it waits for (sync migrations 007, 009).
SCHEMAS["JobDetail"] = obj({
    **SCHEMAS["Job"]["properties"],
    "waiting_for": {"allOf": [ref("WaitingFor")], "nullable": True, "description": "What this available or retryable sync job waits for (its customer or invoice); null when it waits for nothing."},
    "warnings": {"type": "array", "items": ref("JobWarning"), "description": "What this sync job, having written to the provider, left for a person to look at (sync migration 012); empty when nothing. A later job writing the same object replaces or removes it."},
})


# The scope each operation needs, by operationId: the authorization table of the API. The
# server enforces exactly this (`x-scopes`, read by Sources/API/Server/Authorization.swift)
# and refuses an operation that has none to every token.
OPERATION_SCOPES = {
    "metrics": "read", "listRateWindows": "read", "listJobs": "read", "getJob": "read", "stats": "read", "listExternalRefs": "read",
    "enqueueJob": "enqueue", "enqueueJobs": "enqueue",
    "retryJobs": "operate", "cancelJobs": "operate", "retryJob": "operate", "cancelJob": "operate",
    "createConnection": "admin", "listConnections": "admin", "getConnection": "admin", "updateConnection": "admin", "testConnection": "admin", "getReconciliation": "read",
    "rotateInboundSecret": "admin", "listMappings": "admin", "listReferenceData": "admin", "setMapping": "admin", "removeMapping": "admin",
    "createWebhookEndpoint": "admin", "listWebhookEndpoints": "admin", "getWebhookEndpoint": "admin",
    "removeWebhookEndpoint": "admin", "pingWebhookEndpoint": "admin", "rotateWebhookSecret": "admin",
    "listTokens": "admin", "createToken": "admin", "revokeToken": "admin",
    "linkRef": "admin", "unlinkRef": "admin",
    "listSyncStatus": "read", "getSyncStatus": "read",
    "createRecord": "admin", "getRecord": "admin", "updateRecord": "admin", "upsertRecord": "admin", "deleteRecord": "admin",
    "queryRecords": "admin",
    "listChanges": "read",
}


def operation(summary, operation_id, responses, parameters=None, request=None, public=False, tag="jobs", description=None):
    """One operation; every non-public one needs the scope OPERATION_SCOPES gives it."""
    op = {"summary": summary, "operationId": operation_id, "tags": [tag], "responses": responses}
    scope = OPERATION_SCOPES.get(operation_id)
    if public:
        assert scope is None, operation_id
    else:
        assert scope in SCOPES, f"{operation_id}: give it a scope in OPERATION_SCOPES"
        needs = f"Needs scope `{scope}`" + (" (or `admin`)." if scope != "admin" else ".")
        description = needs + (" " + description if description else "")
        op["x-scopes"] = [scope]
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if request:
        op["requestBody"] = body(request)
    if public:
        op["security"] = []
    else:
        # A route's own 503 (one that calls a provider says more) is kept.
        responses.update({code: ERRORS[code] for code in ("401", "403", "503") if code not in responses})
    return op


def ok(description, schema_name, status="200"):
    return {status: json_response(description, ref(schema_name))}


LIST_PARAMETERS = [
    query("state", {"type": "array", "items": string(enum=STATES), "minItems": 1}, "Only jobs in these states (comma-separated).", style="form", explode=False),
    query("kind", text(None), "Only jobs of this kind."),
    query("queue", text(None), "Only jobs of this queue."),
    query("connection_id", string(format="uuid"), "Only jobs whose args name this connection."),
    query("created_after", date_time(), "Only jobs created after this instant."),
    query("created_before", date_time(), "Only jobs created before this instant."),
    query("limit", integer(1, 500), "Page size (default 50)."),
    query("cursor", string(pattern="^[1-9][0-9]{0,18}$"), "The next_cursor of the previous page."),
]

PATHS = {
    "/healthz": {"get": operation("The process is up", "healthz", ok("Up.", "Health"), public=True, tag="operations")},
    "/readyz": {"get": operation(
        "The database answers and its schema is the one this binary knows", "readyz",
        {**ok("Ready.", "Ready"), "503": json_response("Not ready: the database cannot be reached, or a migration line is behind or ahead.", ref("Ready"))},
        public=True, tag="operations")},
    "/openapi.json": {"get": operation(
        "This document", "openapi", {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}},
        public=True, tag="operations")},
    "/metrics": {"get": operation(
        "Prometheus metrics", "metrics",
        {"200": {"description": "Prometheus text format 0.0.4: job counts by state, kind and queue read from the database at scrape time, oldest runnable job age per queue, throughput, run-time quantiles and error counts of the last hour, and the API's own request metrics.",
                 "content": {"text/plain": {"schema": {"type": "string"}}}}},
        tag="operations")},
    "/v1/jobs": {
        "post": operation(
            "Enqueue one job", "enqueueJob",
            {**ok("A job with this unique_key was already unfinished: that job, nothing enqueued.", "EnqueueResponse"),
             **ok("Enqueued.", "EnqueueResponse", "201"), **errors("400", "413", "422")},
            request="EnqueueRequest"),
        "get": operation("List jobs, newest first", "listJobs", {**ok("A page of jobs.", "JobList"), **errors("422")}, parameters=LIST_PARAMETERS),
    },
    "/v1/jobs/batch": {"post": operation(
        "Enqueue many jobs in one transaction", "enqueueJobs",
        {**ok("Nothing new: every job's unique_key was held.", "BatchResponse"), **ok("Enqueued.", "BatchResponse", "201"), **errors("400", "413", "422")},
        request="BatchRequest", description="All or nothing: one bad job (422, `field` like `jobs[3].kind`) enqueues none.")},
    "/v1/jobs/retry": {"post": operation(
        "Retry every job matching a filter", "retryJobs", {**ok("The ids moved to available.", "BulkResult"), **errors("400", "413", "422")}, request="JobFilter")},
    "/v1/jobs/cancel": {"post": operation(
        "Cancel every job matching a filter", "cancelJobs", {**ok("The ids cancelled.", "BulkResult"), **errors("400", "413", "422")}, request="JobFilter")},
    "/v1/jobs/{id}": {"get": operation(
        "One job with its args, attempts, every error and what it waits for", "getJob", {**ok("The job.", "JobDetailEnvelope"), **errors("404", "422")}, parameters=[JOB_ID])},
    "/v1/jobs/{id}/retry": {"post": operation(
        "Run a failed, cancelled or retryable job again now", "retryJob", {**ok("The job, now available.", "JobEnvelope"), **errors("404", "409", "422")},
        parameters=[JOB_ID], description="A job that used up its attempts gets one more; its error history is kept. 409 when the job is in another state, or another unfinished job holds its unique key.")},
    "/v1/jobs/{id}/cancel": {"post": operation(
        "Cancel an available, retryable or running job", "cancelJob", {**ok("The job, now cancelled.", "JobEnvelope"), **errors("404", "409", "422")},
        parameters=[JOB_ID])},
    "/v1/rate-windows": {"get": operation("Rate windows of every limit key: starts used in the last window length and left", "listRateWindows", ok("The rate windows.", "RateWindowList"))},
    "/v1/stats": {"get": operation("Counts by state, kind and queue; oldest runnable job; throughput", "stats", ok("The statistics.", "Stats"))},
    "/v1/connections": {
        "post": operation(
            "Add a connection", "createConnection", {**ok("Created.", "ConnectionEnvelope", "201"), **errors("400", "413", "422")},
            request="ConnectionCreate", tag="connections", description="Also sets the queue's concurrency limit of the connection's limit key."),
        "get": operation("List connections (no secrets)", "listConnections", ok("Every connection.", "ConnectionList"), tag="connections"),
    },
    "/v1/connections/{id}": {
        "get": operation("One connection (no secrets)", "getConnection", {**ok("The connection.", "ConnectionEnvelope"), **errors("404", "422")}, parameters=[UUID_ID], tag="connections"),
        "patch": operation(
            "Change a connection's name, settings or credentials", "updateConnection",
            {**ok("The updated connection.", "ConnectionEnvelope"), **errors("400", "404", "413", "422")},
            parameters=[UUID_ID], request="ConnectionUpdate", tag="connections"),
    },
    "/v1/connections/{id}/test": {"post": operation(
        "Check a connection against its provider", "testConnection",
        {**ok("The checks, one per line of `ledgersync connections test`; ok is false when one failed.", "ConnectionCheckResult"), **errors("404", "422")},
        parameters=[UUID_ID], tag="connections",
        description="Reachability, the account id, the credentials and, where the role allows it, the account's concurrency limit; only reads are sent to the provider. A failed check is a 200 with ok false: the request itself worked.")},
    "/v1/connections/{id}/reconciliation": {"get": operation(
        "The connection's last reconciliation: counts and drift rows", "getReconciliation",
        {**ok("The last stored run; reconciliation is null when none was stored.", "ReconciliationEnvelope"), **errors("404", "422")},
        parameters=[UUID_ID], tag="connections",
        description="Stored by the reconcile.run job and by `ledgersync reconcile --store` (the last 10 runs per connection are kept, at most 1000 drift rows each).")},
    "/v1/connections/{id}/reference-data/{kind}": {"get": operation(
        "A connection's items, taxes, accounts, subsidiaries, currencies or locations, read from its provider", "listReferenceData",
        {**ok("Every record of the kind at the provider: what a mapping's `provider_id` can point at.", "ReferenceDataList"), **errors("404"),
         "422": error("`kind` is not one of the kinds (`invalid_field`), the provider has no such kind or refused the read (`provider_refused`, with its words), or this provider lists no reference data (`not_supported`)."),
         "503": error("The provider did not answer after 3 attempts (`provider_unavailable`: a 5xx, a dropped connection or its rate limit), or the database is unavailable (`database_unavailable`, `database_busy`, `database_timeout`); retry after `Retry-After`.")},
        parameters=[UUID_ID, path_param("kind", string(enum=REFERENCE_KINDS), "The kind of reference data.")], tag="mappings",
        description="What `ledgersync provider list <kind>` prints. Sends only reads, and only to the connection's provider; a read that fails for a moment is tried again up to 3 times in all. Zoho Books has no subsidiaries (422 `provider_refused`).")},
    "/v1/connections/{id}/mappings": {
        "get": operation(
            "A connection's mappings", "listMappings", {**ok("The mappings.", "MappingList"), **errors("404", "422")},
            parameters=[UUID_ID, query("kind", string(enum=MAPPING_KINDS), "Only mappings of this kind.")], tag="mappings"),
        "put": operation(
            "Create a mapping, or replace the one with the same kind, key and record type", "setMapping",
            {**ok("The mapping.", "MappingEnvelope"), **errors("400", "404", "413", "422")}, parameters=[UUID_ID], request="MappingSet", tag="mappings"),
        "delete": operation(
            "Remove one mapping", "removeMapping", {"204": {"description": "Removed."}, **errors("404", "422")},
            parameters=[UUID_ID, query("kind", string(enum=MAPPING_KINDS), "The mapping's kind.", required=True),
                        query("billing_key", text(None), "The billing key (none for fallback_item)."),
                        query("record_type", text(None), "The record type (custom_field only).")],
            tag="mappings"),
    },
    "/v1/connections/{id}/records/{record_type}": {"post": operation(
        "Create a record of any type at the provider", "createRecord",
        {**ok("The result (with `wait`).", "RecordActionAnswer"), **ok("Enqueued; the job's id is in the answer.", "RecordActionAnswer", "202"), **errors("400", "404", "413", "422")},
        parameters=[UUID_ID, RECORD_TYPE, WAIT], request="RecordBody", tag="records", description=RECORD_ACTION_DOC + " A create is attempted once (a POST that timed out may have created the record).")},
    "/v1/connections/{id}/records/{record_type}/{record_id}": {
        "get": operation(
            "Read a record of any type from the provider", "getRecord",
            {**ok("The result (with `wait`).", "RecordActionAnswer"), **ok("Enqueued.", "RecordActionAnswer", "202"), **errors("404", "422")},
            parameters=[UUID_ID, RECORD_TYPE, RECORD_ID, WAIT], tag="records", description=RECORD_ACTION_DOC),
        "patch": operation(
            "Update a record of any type at the provider", "updateRecord",
            {**ok("The result (with `wait`).", "RecordActionAnswer"), **ok("Enqueued.", "RecordActionAnswer", "202"), **errors("400", "404", "413", "422")},
            parameters=[UUID_ID, RECORD_TYPE, RECORD_ID, WAIT], request="RecordBody", tag="records", description=RECORD_ACTION_DOC),
        "put": operation(
            "Create or update a record by external id (`eid:…`)", "upsertRecord",
            {**ok("The result (with `wait`).", "RecordActionAnswer"), **ok("Enqueued.", "RecordActionAnswer", "202"), **errors("400", "404", "413", "422")},
            parameters=[UUID_ID, RECORD_TYPE, RECORD_ID, WAIT], request="RecordBody", tag="records", description=RECORD_ACTION_DOC),
        "delete": operation(
            "Delete a record of any type at the provider", "deleteRecord",
            {**ok("The result (with `wait`).", "RecordActionAnswer"), **ok("Enqueued.", "RecordActionAnswer", "202"), **errors("404", "422")},
            parameters=[UUID_ID, RECORD_TYPE, RECORD_ID, WAIT], tag="records", description=RECORD_ACTION_DOC),
    },
    "/v1/connections/{id}/query": {"post": operation(
        "Run a query at the provider (SuiteQL for NetSuite)", "queryRecords",
        {**ok("The result (with `wait`).", "RecordActionAnswer"), **ok("Enqueued.", "RecordActionAnswer", "202"), **errors("400", "404", "413", "422")},
        parameters=[UUID_ID, WAIT], request="RecordQuery", tag="records", description=RECORD_ACTION_DOC + " One page: `limit` rows (default 1000) from `offset`.")},
    "/v1/connections/{id}/refs/{object_type}/{billing_id}": {
        "put": operation(
            "Link a billing object to an existing provider record", "linkRef",
            {**ok("The ref, linked.", "ExternalRefEnvelope"), **errors("400", "404", "413", "422"),
             "409": error("Another billing object of the connection and type already has that provider record; unlink it first.")},
            parameters=REF_PATH, request="RefLink", tag="refs",
            description="Later syncs of the object update that record by its internal id (PATCH) and never create another; a sync never replaces the link. 409 when another billing object of the connection and type already has the record. The record's existence is not checked here (`ledgersync refs link` checks it). docs/linking.md."),
        "delete": operation(
            "Remove the link of a billing object", "unlinkRef", {"204": {"description": "Unlinked."}, **errors("404", "422")},
            parameters=REF_PATH, tag="refs",
            description="404 when the object has no link (a ref the workers recorded is not a link and stays). Its next sync writes by external id again."),
    },
    "/v1/webhook-endpoints": {
        "post": operation(
            "Add a webhook endpoint", "createWebhookEndpoint", {**ok("Created.", "WebhookEndpointCreated", "201"), **errors("400", "413", "422")},
            request="WebhookEndpointCreate", tag="webhooks"),
        "get": operation("List webhook endpoints (no secrets)", "listWebhookEndpoints", ok("Every endpoint.", "WebhookEndpointList"), tag="webhooks"),
    },
    "/v1/webhook-endpoints/{id}": {
        "get": operation("One webhook endpoint (no secret)", "getWebhookEndpoint", {**ok("The endpoint.", "WebhookEndpointEnvelope"), **errors("404", "422")}, parameters=[UUID_ID], tag="webhooks"),
        "delete": operation("Remove a webhook endpoint", "removeWebhookEndpoint", {"204": {"description": "Removed."}, **errors("404", "422")}, parameters=[UUID_ID], tag="webhooks"),
    },
    "/v1/webhook-endpoints/{id}/ping": {"post": operation(
        "Enqueue a signed test delivery (webhook.ping) to this endpoint", "pingWebhookEndpoint",
        {**ok("The delivery job was enqueued.", "PingResult", "202"), **errors("404", "422")}, parameters=[UUID_ID], tag="webhooks",
        description="Sent whatever event types the endpoint subscribed to; a worker delivers it like any webhook.")},
    "/v1/webhook-endpoints/{id}/rotate-secret": {"post": {
        **operation(
            "Give the endpoint a new signing secret; the old one keeps signing beside it for the overlap", "rotateWebhookSecret",
            {**ok("The endpoint and its new secret.", "WebhookSecretRotated"), **errors("400", "404", "413", "422")},
            parameters=[UUID_ID], tag="webhooks",
            description="During the overlap (overlap_seconds, default 86400; 0 retires the old secret at once) every delivery carries two "
                        "signatures in webhook-signature, one per secret, so the receiver can switch at any moment."),
        "requestBody": {"required": False, "content": {"application/json": {"schema": ref("WebhookSecretRotation")}}},
    }},
    "/v1/connections/{id}/inbound-secret": {"post": operation(
        "Set a new inbound secret for the connection's provider events", "rotateInboundSecret",
        {**ok("The new secret, shown once.", "InboundSecret", "201"), **errors("404", "422")}, parameters=[UUID_ID], tag="sync")},
    "/v1/inbound/{provider}/{connection_id}/{event}": {"post": {
        "summary": "An event from the provider: a payment recorded on a synced invoice", "operationId": "inboundProviderEvent", "tags": ["sync"],
        "description": "Not authenticated by a bearer token: the message must be signed the Standard Webhooks way under the connection's "
                       "inbound secret (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>); the "
                       "signature is checked first, a timestamp more than 5 minutes off and an id already accepted are refused. Sends a signed invoice.paid_in_provider webhook naming the billing invoice to every "
                       "endpoint that receives it. The same payment reported again while its delivery is pending sends nothing new.",
        "security": [],
        "parameters": [
            path_param("provider", string(40, pattern=PROVIDER_NAME), "The connection's provider (netsuite); another provider's name is 404."),
            path_param("connection_id", string(format="uuid"), "The connection the event comes from."),
            path_param("event", string(40), "The event, as the provider's driver names it (NetSuite: payments)."),
            {"name": "webhook-id", "in": "header", "required": True, "schema": string(200), "description": "The message id; an id already accepted on the connection is refused (409)."},
            {"name": "webhook-timestamp", "in": "header", "required": True, "schema": string(12, pattern="^[0-9]+$"), "description": "Unix seconds; within 5 minutes of the server's clock."},
            {"name": "webhook-signature", "in": "header", "required": True, "schema": string(), "description": "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>, space-separated if several."},
        ],
        "requestBody": body("InboundPayment"),
        "responses": {
            **ok("Accepted: the deliveries are enqueued.", "InboundAccepted", "202"),
            "401": error("No signature, a wrong one, an unknown connection, or one without an inbound secret (the same answer for each, code unauthorized); "
                         "or a signed message more than 5 minutes old or ahead (code stale_message)."),
            "409": error("A message with this webhook-id was already accepted on this connection (code replayed)."),
            **errors("400", "413", "422"),
        },
    }},
    "/v1/tokens": {
        "get": operation("List tokens (never the tokens themselves)", "listTokens", ok("Every token, revoked and expired ones included.", "TokenList"), tag="tokens"),
        "post": operation(
            "Create a token", "createToken", {**ok("Created; the token is in the answer this once.", "TokenCreated", "201"), **errors("400", "413", "422")},
            request="TokenCreate", tag="tokens"),
    },
    "/v1/tokens/{id}": {"delete": operation(
        "Revoke a token", "revokeToken", {"204": {"description": "Revoked; its dashboard sessions end too."}, **errors("404", "409", "422")},
        parameters=[path_param("id", integer(1, 9223372036854775807), "The token id.")], tag="tokens",
        description="409 for the token making the request: revoke that one with another admin token or the CLI.")},
    "/v1/connections/{id}/changes": {"get": operation(
        "Records created or changed at the provider, read back", "listChanges", {**ok("The change events after since, id ascending.", "ChangeEventList"), **errors("404", "422")},
        parameters=[path_param("id", string(format="uuid"), "The connection."),
                    query("since", integer(0, 9223372036854775807), "Only events after this event id (default 0)."),
                    query("object_type", string(enum=OBJECT_TYPES), "Only events of this record type."),
                    query("limit", integer(1, 1000), "At most this many (default 100).")],
        tag="sync", description="Filled by the connection's change polls (settings.read_changes; docs/changes.md).")},
    "/v1/external-refs": {"get": operation(
        "Which provider record a billing object became", "listExternalRefs", {**ok("The refs, most recently synced first.", "ExternalRefList"), **errors("422")},
        parameters=[query("connection_id", string(format="uuid"), "The connection.", required=True),
                    query("object_type", string(enum=OBJECT_TYPES), "Only refs of this object type."),
                    query("billing_id", text(None), "Only the ref of this billing id."),
                    query("limit", integer(1, 1000), "At most this many (default 100).")],
        tag="sync")},
}

# The sync status of billing objects (sync migration 016, docs/sync-status.md).
SYNC_STATES = ["pending", "synced", "failed", "needs_action"]
SCHEMAS["SyncStatus"] = obj({
    "connection_id": string(format="uuid"), "connection_name": string(), "provider": string(),
    "object_type": string(enum=OBJECT_TYPES), "billing_id": string(),
    "document_number": string(nullable=True, description="The document's number in the billing system; a customer's external id."),
    "customer_billing_id": string(nullable=True, description="The billing customer the object belongs to (its own id for a customer)."),
    "state": string(enum=SYNC_STATES, description="pending: a job for it is queued, running or waiting (last_error says for what); synced: the last write succeeded; failed: the latest job failed for good; needs_action: it failed on something a person must fix (a missing mapping, a closed period, a locked record), then retry the job."),
    "provider_id": string(nullable=True), "provider_link": string(nullable=True, description="The record in the provider's web UI."),
    "last_job_id": integer(1, nullable=True), "last_job_kind": string(nullable=True),
    "last_error": string(nullable=True), "last_error_code": string(nullable=True),
    "document_digest": string(nullable=True, description="SHA-256 (hex) of the last document written."),
    "synced_at": date_time(nullable=True), "updated_at": date_time(),
})
SCHEMAS["SyncStatusList"] = obj({
    "sync_status": {"type": "array", "items": ref("SyncStatus")},
    "next_cursor": string(nullable=True, description="Pass as `cursor` for the next page; null on the last."),
})
SCHEMAS["SyncStatusDetail"] = obj({
    **SCHEMAS["SyncStatus"]["properties"],
    "document": {"type": "object", "nullable": True, "description": "The last document written to the provider (bare, without its envelope); null before the first write recorded with it."},
    "jobs": {"type": "array", "items": ref("Job"), "description": "The object's jobs, newest first (at most 20): enqueued through enqueue_sync, run, or that synced it, while retention keeps them."},
})
SCHEMAS["SyncStatusEnvelope"] = obj({"sync_status": ref("SyncStatusDetail")})
PATHS["/v1/sync-status"] = {"get": operation(
    "The sync status of billing objects", "listSyncStatus", {**ok("A page of statuses, in key order (connection, object type, billing id).", "SyncStatusList"), **errors("422")},
    parameters=[query("billing_id", text(255), "Only this billing id."),
                query("document_number", text(255), "Only this document number (an invoice's INV-…, a customer's external id)."),
                query("customer", text(255), "Only the objects of this billing customer."),
                query("state", {"type": "array", "items": string(enum=SYNC_STATES), "minItems": 1}, "Only these states (comma-separated).", style="form", explode=False),
                query("connection_id", string(format="uuid"), "Only this connection."),
                query("object_type", string(enum=OBJECT_TYPES), "Only this object type."),
                query("limit", integer(1, 500), "Page size (default 50)."),
                query("cursor", string(), "The next_cursor of the previous page.")],
    tag="sync")}
PATHS["/v1/sync-status/{connection_id}/{object_type}/{billing_id}"] = {"get": operation(
    "One billing object's sync status, its last document written and its jobs", "getSyncStatus",
    {**ok("The status.", "SyncStatusEnvelope"), **errors("404", "422")},
    parameters=[path_param("connection_id", string(format="uuid"), "The connection."),
                path_param("object_type", string(enum=OBJECT_TYPES), "The object type."),
                path_param("billing_id", string(), "The billing id (percent-encoded).")],
    tag="sync")}


DOCUMENT = {
    "openapi": "3.0.3",
    "info": {
        "title": "Ledgersync API",
        "version": "1",
        "description": "Enqueue and inspect jobs, replay failures, and configure the NetSuite sync. Every error is "
                       "`{\"error\": {\"code\", \"message\", \"field\"}}` and a refused request changes nothing. See docs/api.md.",
    },
    "servers": [{"url": "http://127.0.0.1:8080"}],
    "security": [{"bearerAuth": []}],
    "tags": [{"name": name} for name in ["jobs", "connections", "mappings", "refs", "records", "webhooks", "sync", "tokens", "operations"]],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearerAuth": {
            "type": "http", "scheme": "bearer",
            "description": "A token from `ledgersync tokens create --scope …` (or `POST /v1/tokens`). Each operation names the scope it needs in `x-scopes`; "
                           + " ".join(f"`{name}`: {text}" for name, text in SCOPES.items())
                           + " A dashboard session cookie is never accepted here.",
        }},
        "schemas": SCHEMAS,
    },
}

if __name__ == "__main__":
    import sys

    target = ROOT / "docs" / "openapi.json"
    text = json.dumps(DOCUMENT, indent=2, ensure_ascii=False) + "\n"
    if "--check" in sys.argv[1:]:
        if target.read_text() != text:
            sys.exit("docs/openapi.json is stale: run scripts/openapi.py (make generate)")
    else:
        target.write_text(text)
