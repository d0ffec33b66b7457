"""Nightly catalog sync and real-time product events. Not implemented yet (issue: product sync).

Queue records are reported as failed (kept, retried, then dead-lettered for replay); a scheduled run
answers with a clear not-implemented status instead of pretending to have synced anything.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from commerce_sync.observability import logger

NOT_IMPLEMENTED = "product_sync is not implemented yet"


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records")
    if records is not None:
        logger.error(NOT_IMPLEMENTED + "; records are left for retry and the dead-letter queue", records=len(records))
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in records]}
    logger.error(NOT_IMPLEMENTED + "; scheduled catalog sync skipped", trigger=event.get("action"))
    return {"status": "not_implemented", "message": NOT_IMPLEMENTED}
