"""Creates the template's AWS resources (tables, queues, bus, rules and archive, secrets, buckets) on an AWS
endpoint (moto server) and records each one's Ref and Arn in the Template, as CloudFormation would.

Buckets are created bare: their encryption, public access block, policy and lifecycle are AWS's to
enforce, and moto enforces none of them."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import boto3

from local_runner.template import Template

TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
BUS = "AWS::Events::EventBus"
RULE = "AWS::Events::Rule"
ARCHIVE = "AWS::Events::Archive"
SECRET = "AWS::SecretsManager::Secret"
BUCKET = "AWS::S3::Bucket"


def _clients(endpoint_url: str, region: str) -> dict[str, Any]:
    return {
        service: boto3.client(service, endpoint_url=endpoint_url, region_name=region)
        for service in ("dynamodb", "sqs", "events", "secretsmanager", "s3")
    }


def provision(template: Template, endpoint_url: str, secret_values: dict[str, str] | None = None) -> None:
    """Create every supported resource. `secret_values` overrides a secret's SecretString by logical id."""
    region = template.pseudo["AWS::Region"]
    clients = _clients(endpoint_url, region)
    account = template.pseudo["AWS::AccountId"]
    for logical_id in template.of_type(TABLE):
        template.refs[logical_id] = logical_id
        template.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{region}:{account}:table/{logical_id}"
    for logical_id in template.of_type(QUEUE):
        template.refs[logical_id] = f"{endpoint_url}/{account}/{logical_id}"
        template.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{region}:{account}:{logical_id}"
        template.attributes[(logical_id, "QueueName")] = logical_id
        template.attributes[(logical_id, "QueueUrl")] = template.refs[logical_id]

    _create_tables(template, clients["dynamodb"])
    _create_queues(template, clients["sqs"])
    _create_bus_and_rules(template, clients["events"])
    _create_secrets(template, clients["secretsmanager"], secret_values or {})
    _create_buckets(template, clients["s3"])


def _create_tables(template: Template, dynamodb: Any) -> None:
    for logical_id, resource in template.of_type(TABLE).items():
        properties = template.resolve(resource.get("Properties", {}))
        arguments: dict[str, Any] = {
            "TableName": logical_id,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if properties.get("GlobalSecondaryIndexes"):
            arguments["GlobalSecondaryIndexes"] = [
                {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                for index in properties["GlobalSecondaryIndexes"]
            ]
        try:
            dynamodb.create_table(**arguments)
        except dynamodb.exceptions.ResourceInUseException:
            continue
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=logical_id,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )


def _create_queues(template: Template, sqs: Any) -> None:
    queues = template.of_type(QUEUE)
    # Dead-letter queues first: a redrive policy must name an existing queue.
    ordered = sorted(queues, key=lambda name: "RedrivePolicy" in queues[name].get("Properties", {}))
    for logical_id in ordered:
        properties = template.resolve(queues[logical_id].get("Properties", {}))
        attributes: dict[str, str] = {}
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
        for name in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"):
            if name in properties:
                attributes[name] = str(properties[name])
        sqs.create_queue(QueueName=logical_id, Attributes=attributes)


def _create_bus_and_rules(template: Template, events: Any) -> None:
    region, account = template.pseudo["AWS::Region"], template.pseudo["AWS::AccountId"]
    for logical_id, resource in template.of_type(BUS).items():
        name = str(template.resolve(resource["Properties"]["Name"]))
        template.refs[logical_id] = name
        template.attributes[(logical_id, "Name")] = name
        template.attributes[(logical_id, "Arn")] = f"arn:aws:events:{region}:{account}:event-bus/{name}"
        if resource["Properties"].get("EventSourceName"):
            continue  # a partner bus: moto cannot hold one, local_runner.partner_bus plays it
        with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
            events.create_event_bus(Name=name)
    for logical_id, resource in template.of_type(RULE).items():
        properties = template.resolve(resource["Properties"])
        bus_name = str(properties.get("EventBusName", "default"))
        bus = bus_name.rsplit("/", 1)[-1]
        template.refs[logical_id] = f"{bus}|{logical_id}"
        template.attributes[(logical_id, "Arn")] = f"arn:aws:events:{region}:{account}:rule/{bus}/{logical_id}"
        if "EventPattern" not in properties or bus_name.startswith("aws.partner/"):
            continue  # no pattern, or on a partner bus (local_runner.partner_bus)
        events.put_rule(
            Name=logical_id,
            EventBusName=bus,
            EventPattern=json.dumps(properties["EventPattern"]),
            State=properties.get("State", "ENABLED"),
        )
        targets = [
            {"Id": str(target["Id"]), "Arn": str(target["Arn"])}
            for target in properties.get("Targets", [])
            if str(target["Arn"]).startswith("arn:aws:sqs:")
        ]
        if targets:
            events.put_targets(Rule=logical_id, EventBusName=bus, Targets=targets)
    for logical_id, resource in template.of_type(ARCHIVE).items():
        # Named by its logical id (CloudFormation makes up a name; `Ref` gives it either way).
        properties = template.resolve(resource["Properties"])
        template.refs[logical_id] = logical_id
        template.attributes[(logical_id, "Arn")] = f"arn:aws:events:{region}:{account}:archive/{logical_id}"
        with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
            events.create_archive(
                ArchiveName=logical_id,
                EventSourceArn=str(properties["SourceArn"]),
                RetentionDays=int(properties.get("RetentionDays", 0)),
            )


def _create_secrets(template: Template, secretsmanager: Any, secret_values: dict[str, str]) -> None:
    for logical_id, resource in template.of_type(SECRET).items():
        properties = template.resolve(resource.get("Properties", {}))
        name = str(properties.get("Name") or f"commerce-sync/{logical_id}")
        value = secret_values.get(logical_id, properties.get("SecretString", "{}"))
        try:
            created = secretsmanager.create_secret(Name=name, SecretString=value)
            arn = created["ARN"]
        except secretsmanager.exceptions.ResourceExistsException:
            arn = secretsmanager.put_secret_value(SecretId=name, SecretString=value)["ARN"]
        template.refs[logical_id] = arn
        template.attributes[(logical_id, "Id")] = arn


def bucket_name(template: Template, logical_id: str) -> str:
    """Like CloudFormation's generated names (stack, then logical id), lower-cased as S3 requires."""
    return f"{template.pseudo['AWS::StackName']}-{logical_id}".lower()[:63]


def _create_buckets(template: Template, s3: Any) -> None:
    region = template.pseudo["AWS::Region"]
    for logical_id in template.of_type(BUCKET):
        name = bucket_name(template, logical_id)
        template.refs[logical_id] = name
        template.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
        arguments: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**arguments)
