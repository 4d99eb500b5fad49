"""What a pipeline's setup may have created that nothing removes once the pipeline is forgotten.

``pipelines delete --force`` (and ``DELETE /pipelines/{id}?force=true``) forget a pipeline without
its teardown; both list these so the operator can remove them by hand.
"""

from __future__ import annotations

from sync_platform.pipelines.model import Pipeline


def leftovers(pipeline: Pipeline) -> list[str]:
    """One line per thing the pipeline's connectors may have left behind (none once torn down)."""
    if pipeline.torn_down_at is not None:
        return []
    items = []
    source, destination = pipeline.source, pipeline.destination
    if source.type == "stripe" and source.config.get("webhook_url"):
        items.append(f"the Stripe webhook endpoint for {source.config['webhook_url']}")
    if destination.type == "postgres":
        items.append(f"PostgreSQL schema {destination.config.get('schema', 'stripe')!r} and its tables")
    elif destination.type == "google_sheets" and destination.config.get("spreadsheet_id"):
        items.append(f"spreadsheet {destination.config['spreadsheet_id']} (its tabs)")
    else:
        items.append(f"whatever the {destination.type} destination created")
    return items
