"""Order status changes. Not implemented yet (issue: order status from every platform).

Until then every record is reported as failed, so SQS keeps it, retries it and finally holds it in
the dead-letter queue, from which it can be replayed once this function is built: nothing is lost.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from commerce_sync.observability import logger

NOT_IMPLEMENTED = "order_status is not implemented yet; records are left for retry and the dead-letter queue"


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    logger.error(NOT_IMPLEMENTED, records=len(records))
    return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in records]}
