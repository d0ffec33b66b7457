"""The HTTP API dispatcher of the webhooks and connect functions: a request reaches the handler of its route key with
its path parameters, an unknown route is a JSON 404, a known exception becomes its handler's answer (the closest
class's), any other is raised, and answers have the payload 2.0 shape the Event Handler gave them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from commerce_sync.aws.http_api import HttpApi, HttpRequest, HttpResponse


def event(route_key: str, path_parameters: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    """A payload 2.0 event as API Gateway sends it for `route_key` (only what the dispatcher reads, and a little)."""
    method, _, path = route_key.partition(" ")
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "headers": {"content-type": "application/json"},
        "requestContext": {"domainName": "abc.execute-api.eu-west-1.amazonaws.com", "http": {"method": method}},
        **({"pathParameters": path_parameters} if path_parameters is not None else {}),
        **fields,
    }


class Refused(Exception):
    pass


class RefusedHarder(Refused):
    pass


class Unavailable(Exception):
    pass


class Gone(Exception):
    pass


def api() -> HttpApi:
    app = HttpApi()

    @app.route("POST /webhooks/{platform}")
    def receive(request: HttpRequest, platform: str) -> HttpResponse:
        return HttpResponse(202, {"platform": platform, "body": request.body, "base64": request.is_base64_encoded})

    @app.route("GET /webhooks/mailchimp/{store_id}")
    def audience(request: HttpRequest, store_id: str) -> HttpResponse:
        return HttpResponse(200, {"store_id": store_id, "key": request.query.get("key")})

    @app.route("GET /stores/{store_id}/items/{item_id}")
    def item(request: HttpRequest, store_id: str, item_id: str) -> HttpResponse:
        return HttpResponse(200, f"{store_id}/{item_id}", content_type="text/plain; charset=utf-8")

    @app.route("GET /callback")
    def callback(request: HttpRequest) -> HttpResponse:
        kind = request.query.get("raise")
        if kind == "refused":
            raise Refused("not you")
        if kind == "harder":
            raise RefusedHarder("really not you")
        if kind == "unavailable":
            raise Unavailable("later")
        if kind == "gone":
            raise Gone("gone")
        if kind == "other":
            raise RuntimeError("a bug")
        return HttpResponse(
            302, "", content_type="text/plain; charset=utf-8", headers={"Location": "https://example.com/next"}
        )

    @app.exception_handler(Refused)
    def refused(request: HttpRequest, error: Refused) -> HttpResponse:
        return HttpResponse(403, {"message": str(error), "route": request.route_key})

    @app.exception_handler(RefusedHarder)
    def refused_harder(request: HttpRequest, error: RefusedHarder) -> HttpResponse:
        return HttpResponse(401, {"message": str(error)})

    @app.exception_handler(Unavailable, Gone)
    def unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
        return HttpResponse(503, {"message": str(error)})

    return app


def test_a_request_reaches_its_route_keys_handler_with_its_path_parameters() -> None:
    app = api()
    answer = app.resolve(event("POST /webhooks/{platform}", {"platform": "shopify"}, body='{"id":1}'))
    assert answer["statusCode"] == 202
    assert json.loads(answer["body"]) == {"platform": "shopify", "body": '{"id":1}', "base64": False}

    audience = app.resolve(
        event("GET /webhooks/mailchimp/{store_id}", {"store_id": "store-1"}, queryStringParameters={"key": "k"})
    )
    assert json.loads(audience["body"]) == {"store_id": "store-1", "key": "k"}

    item = app.resolve(event("GET /stores/{store_id}/items/{item_id}", {"store_id": "s", "item_id": "i"}))
    assert (item["statusCode"], item["body"]) == (200, "s/i")


def test_the_route_key_chooses_the_handler_not_the_path() -> None:
    """API Gateway has matched the route already: the same path under another method is another route."""
    answer = api().resolve(event("GET /webhooks/{platform}", {"platform": "shopify"}))
    assert answer["statusCode"] == 404


def test_a_route_without_path_parameters_is_called_with_the_request_only() -> None:
    answer = api().resolve(event("GET /callback"))
    assert answer["statusCode"] == 302
    assert answer["headers"] == {"Content-Type": "text/plain; charset=utf-8", "Location": "https://example.com/next"}
    assert answer["body"] == ""


@pytest.mark.parametrize("route_key", ["POST /nowhere", "GET /webhooks/mailchimp", "", "$default"])
def test_an_unknown_route_is_a_json_404_as_the_event_handler_answered(route_key: str) -> None:
    answer = api().resolve(event(route_key))
    assert answer == {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json"},
        "body": '{"statusCode":404,"message":"Not found"}',
        "isBase64Encoded": False,
    }


def test_an_event_without_a_route_key_is_not_found() -> None:
    assert api().resolve({"version": "2.0", "rawPath": "/webhooks/shopify"})["statusCode"] == 404


def test_a_known_exception_is_its_handlers_answer() -> None:
    answer = api().resolve(event("GET /callback", queryStringParameters={"raise": "refused"}))
    assert answer["statusCode"] == 403
    assert json.loads(answer["body"]) == {"message": "not you", "route": "GET /callback"}


def test_the_closest_class_handler_answers_a_subclass() -> None:
    answer = api().resolve(event("GET /callback", queryStringParameters={"raise": "harder"}))
    assert (answer["statusCode"], json.loads(answer["body"])) == (401, {"message": "really not you"})


@pytest.mark.parametrize("kind", ["unavailable", "gone"])
def test_one_handler_may_answer_several_exceptions(kind: str) -> None:
    answer = api().resolve(event("GET /callback", queryStringParameters={"raise": kind}))
    assert answer["statusCode"] == 503


def test_an_exception_without_a_handler_is_raised() -> None:
    """The Lambda invocation fails and API Gateway answers 500, as with the Event Handler."""
    with pytest.raises(RuntimeError, match="a bug"):
        api().resolve(event("GET /callback", queryStringParameters={"raise": "other"}))


def test_a_base64_body_is_given_as_it_came_with_its_flag() -> None:
    encoded = base64.b64encode(b"\x00\xffbinary").decode()
    answer = api().resolve(
        event("POST /webhooks/{platform}", {"platform": "woocommerce"}, body=encoded, isBase64Encoded=True)
    )
    assert json.loads(answer["body"]) == {"platform": "woocommerce", "body": encoded, "base64": True}


def test_the_request_view_reads_the_event() -> None:
    request = HttpRequest(
        event(
            "GET /connect/mailchimp/{store_id}",
            {"store_id": "s"},
            headers={"X-Forwarded-Proto": "http", "host": "h"},
            queryStringParameters={"invite": "abc"},
        )
    )
    assert request.route_key == "GET /connect/mailchimp/{store_id}"
    # Lower case, as API Gateway sends them and as the Event Handler's headers were read.
    assert request.headers == {"x-forwarded-proto": "http", "host": "h"}
    assert request.query == {"invite": "abc"}
    assert request.path_parameters == {"store_id": "s"}
    assert request.domain_name == "abc.execute-api.eu-west-1.amazonaws.com"
    assert request.body is None
    assert request.is_base64_encoded is False


def test_a_request_without_optional_fields_reads_empty() -> None:
    request = HttpRequest({"routeKey": "GET /callback", "headers": None, "queryStringParameters": None})
    assert (request.headers, request.query, request.path_parameters, request.domain_name) == ({}, {}, {}, "")


def test_a_json_body_is_compact_and_a_text_body_is_sent_as_it_is() -> None:
    json_answer = HttpResponse(200, {"status": "accepted", "event_ids": ["a", "b"], "name": "Zoë"}).proxy_result()
    assert json_answer == {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": '{"status":"accepted","event_ids":["a","b"],"name":"Zo\\u00eb"}',
        "isBase64Encoded": False,
    }
    text_answer = HttpResponse(400, "No.\n", content_type="text/plain; charset=utf-8").proxy_result()
    assert text_answer["body"] == "No.\n"
    assert text_answer["headers"] == {"Content-Type": "text/plain; charset=utf-8"}


def test_a_header_may_override_the_content_type() -> None:
    answer = HttpResponse(200, "<x/>", headers={"Content-Type": "application/xml"}).proxy_result()
    assert answer["headers"] == {"Content-Type": "application/xml"}


@pytest.mark.parametrize(
    "route_key", ["/webhooks/{platform}", "post /webhooks/{platform}", "POST /webhooks/<platform>"]
)
def test_a_route_is_registered_by_its_http_api_route_key(route_key: str) -> None:
    with pytest.raises(ValueError, match="route key"):
        HttpApi().route(route_key)


def test_a_route_has_one_handler() -> None:
    app = api()
    with pytest.raises(ValueError, match="has a handler already"):
        app.route("GET /callback")
