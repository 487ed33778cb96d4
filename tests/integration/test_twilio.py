"""Twilio's webhooks against a real server: requests signed with the official library, TwiML answers,
router commands landing on the Redis stream, and the router's live view (written here) driving the call.

The server runs with a public URL that differs from the address the test reaches it at, as behind a
proxy: Twilio signs the public URL, so that is what the server must check.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import Element, fromstring

import httpx
import pytest
from twilio.request_validator import RequestValidator

from app.core.clock import utcnow
from app.core.db import get_database
from app.core.models import new_id
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.routing import commands, live
from app.routing import schemas as routing_schemas
from app.routing import service as routing
from app.routing.models import Interaction
from app.routing.service import LAST_AGENT_WINDOW_SECONDS
from app.telephony import schemas as telephony_schemas
from app.telephony import service as telephony
from tenants import schemas as tenant_schemas
from tenants import service as tenants
from tests.conftest import LiveServer, Services, free_port, start_process, stop_process, wait_until_up
from tests.factories import OPERATOR, make_agent, make_tenant, provision_number, unique_number

AUTH_TOKEN = "twilio-test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://calls.tenline.example"
ALWAYS_OPEN = {day: [("00:00", "23:59")] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
CALLER = "+14155550123"


@pytest.fixture(scope="module")
def twilio_server(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web server with a Twilio auth token and a public URL other than its own address."""
    port = free_port()
    log = tmp_path_factory.mktemp("twilio") / "server.log"
    env = {
        **services.env,
        "TENLINE_BASE_URL": f"http://127.0.0.1:{port}",
        "TENLINE_PUBLIC_URL": PUBLIC_URL,
        "TENLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }
    process = start_process(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/healthz", process, log)
    yield url
    stop_process(process)


@dataclass
class Answer:
    response: httpx.Response

    @property
    def root(self) -> Element:
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["content-type"].startswith("text/xml")
        root = fromstring(self.response.content)  # noqa: S314 - our own server's answer
        assert root.tag == "Response"
        return root

    def verbs(self) -> list[str]:
        return [verb.tag for verb in self.root]

    def said(self) -> list[str]:
        return [say.text or "" for say in self.root.iter("Say")]

    def one(self, tag: str) -> Element:
        (found,) = self.root.iter(tag)
        return found


class FakeTwilio:
    """Posts webhooks the way Twilio does: form parameters, signed over the public URL."""

    def __init__(self, client: httpx.AsyncClient, server_url: str, token: str = AUTH_TOKEN) -> None:
        self.client = client
        self.server_url = server_url
        self.validator = RequestValidator(token)

    async def post(self, url: str, params: dict[str, str], *, signature: str | None = None) -> Answer:
        """``url`` is public (as TwiML gives it, or a path); the request goes to the test server."""
        public = url if url.startswith("http") else PUBLIC_URL + url
        signed = self.validator.compute_signature(public, params) if signature is None else signature
        local = self.server_url + public.removeprefix(PUBLIC_URL)
        response = await self.client.post(local, data=params, headers={"X-Twilio-Signature": signed})
        return Answer(response)


@pytest.fixture
async def fake_twilio(twilio_server: str) -> AsyncIterator[FakeTwilio]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield FakeTwilio(client, twilio_server)


def call(to: str, **fields: str) -> dict[str, str]:
    """A voice webhook's parameters for one call (a fresh CallSid unless given)."""
    return {
        "CallSid": fields.pop("CallSid", f"CA{uuid.uuid4().hex}"),
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": CALLER,
        "To": to,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        **fields,
    }


# --- the tenant's lines --------------------------------------------------------------------------


@dataclass
class Lines:
    tenant_id: uuid.UUID
    billing: uuid.UUID
    sales: uuid.UUID
    fallback: uuid.UUID
    ivr: str  # through an entry point with a language step and a menu
    direct: str  # straight to the billing queue
    closed: str  # a number of a tenant that is never open, closed message
    callback: str  # same tenant, offering a callback
    entry_point_name: str


async def _as_tenant(tenant_id: uuid.UUID, work: Any) -> Any:
    from app.core.tenancy import acting_as

    with acting_as(OPERATOR.acting_for(tenant_id)):
        async with get_database().session() as session:
            return await work(session)


async def _tenant(hours: dict[str, list[tuple[str, str]]]) -> uuid.UUID:
    tenant = await make_tenant("calls")

    async def open_hours(session: Any) -> None:
        row = await tenants.get_tenant(session, tenant.id, OPERATOR)
        await tenants.update_tenant(
            session,
            row,
            tenant_schemas.TenantUpdate(timezone="Europe/Oslo", business_hours=hours),  # type: ignore[arg-type]
        )

    await _as_tenant(tenant.id, open_hours)
    return tenant.id


async def _map(tenant_id: uuid.UUID, **target: uuid.UUID) -> str:
    number = (await provision_number(tenant_id)).number

    async def mapped(session: Any) -> None:
        await routing.create_phone_number(session, routing_schemas.PhoneNumberCreate(number=number, **target))

    await _as_tenant(tenant_id, mapped)
    return number


@pytest.fixture(scope="module")
async def lines() -> Lines:
    tenant_id = await _tenant(ALWAYS_OPEN)
    closed_tenant = await _tenant({})
    name = f"Main line {uuid.uuid4().hex[:6]}"

    async def configure(session: Any) -> tuple[uuid.UUID, ...]:
        billing, sales, fallback = [
            (await routing.create_queue(session, routing_schemas.QueueCreate(name=n))).id
            for n in ("billing", "sales", "fallback")
        ]
        entry_point = await telephony.create_entry_point(
            session,
            telephony_schemas.EntryPointCreate(
                name=name,
                greeting="Welcome to Fjord Bank.",
                language_options=[
                    telephony_schemas.LanguageOption(digit="1", language="en", prompt="For English, press 1."),
                    telephony_schemas.LanguageOption(digit="2", language="fr", prompt="Pour le français, tapez 2."),
                ],
                menu_options=[
                    telephony_schemas.MenuOption(digit="1", queue_id=billing, prompt="For billing, press 1."),
                    telephony_schemas.MenuOption(digit="2", queue_id=sales, prompt="For sales, press 2."),
                ],
                default_queue_id=fallback,
                max_attempts=2,
            ),
        )
        return billing, sales, fallback, entry_point.id

    billing, sales, fallback, entry_point_id = await _as_tenant(tenant_id, configure)

    async def closed_lines(session: Any) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        queue = await routing.create_queue(session, routing_schemas.QueueCreate(name="after hours"))
        message, callback = [
            await telephony.create_entry_point(
                session,
                telephony_schemas.EntryPointCreate(
                    name=action, default_queue_id=queue.id, closed_action=action, closed_message="We are closed."
                ),
            )
            for action in ("message", "callback")
        ]
        return queue.id, message.id, callback.id

    _, message_id, callback_id = await _as_tenant(closed_tenant, closed_lines)
    return Lines(
        tenant_id=tenant_id,
        billing=billing,
        sales=sales,
        fallback=fallback,
        ivr=await _map(tenant_id, entry_point_id=entry_point_id),
        direct=await _map(tenant_id, queue_id=billing),
        closed=await _map(closed_tenant, entry_point_id=message_id),
        callback=await _map(closed_tenant, entry_point_id=callback_id),
        entry_point_name=name,
    )


# --- what reached the router, and what it says ---------------------------------------------------


async def commands_for(contact_id: uuid.UUID | None = None, call_sid: str | None = None) -> list[Any]:
    """The commands on the pool's stream about one contact, or about the contact(s) of one call."""
    entries = await get_redis().xrange(commands.stream_key(get_settings().router_pool))
    found = [commands.decode(fields[b"c"]) for _, fields in entries]
    if call_sid is not None:
        contacts = {
            c.contact_id
            for c in found
            if isinstance(c, commands.ContactArrive) and c.context.get("call_sid") == call_sid
        }
        return [c for c in found if getattr(c, "contact_id", None) in contacts]
    return [c for c in found if getattr(c, "contact_id", None) == contact_id]


async def publish_view(arrive: commands.ContactArrive, state: str, agent_id: uuid.UUID | None = None) -> None:
    """What the router would publish about the contact (no router runs in these tests)."""
    view = live.ContactView(
        contact_id=arrive.contact_id,
        tenant_id=arrive.tenant_id,
        queue_id=arrive.queue_id,
        channel="voice",
        state=state,  # type: ignore[arg-type]
        agent_id=agent_id,
        arrived_at=0.0,
    )
    await get_redis().set(live.contact_key(arrive.contact_id, get_settings().router_pool), live.encode(view))


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def enqueued(twilio: FakeTwilio, params: dict[str, str], answer: Answer) -> commands.ContactArrive:
    """The arrival the answer's ``<Enqueue>`` stands for, checked against it."""
    enqueue = answer.one("Enqueue")
    assert enqueue.get("waitUrl") == f"{PUBLIC_URL}/telephony/twilio/wait"
    assert enqueue.get("action") == f"{PUBLIC_URL}/telephony/twilio/dequeued"
    (arrive,) = await commands_for(call_sid=params["CallSid"])
    assert isinstance(arrive, commands.ContactArrive)
    assert enqueue.text == str(arrive.contact_id)
    return arrive


# --- signatures ----------------------------------------------------------------------------------


async def test_unsigned_or_badly_signed_requests_are_refused(fake_twilio: FakeTwilio, lines: Lines) -> None:
    params = call(lines.direct)
    url = f"{PUBLIC_URL}/telephony/twilio/voice"
    validator = RequestValidator(AUTH_TOKEN)
    forgeries = {
        "no signature": None,
        "garbage": "bm90IGEgc2lnbmF0dXJl",
        "another token": RequestValidator("some-other-auth-token-0123456789").compute_signature(url, params),
        "the server's own address": validator.compute_signature(
            fake_twilio.server_url + "/telephony/twilio/voice", params
        ),
        "another path": validator.compute_signature(f"{PUBLIC_URL}/telephony/twilio/status", params),
        "other parameters": validator.compute_signature(url, {**params, "From": "+14155550999"}),
    }
    for name, signature in forgeries.items():
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        response = await fake_twilio.client.post(
            fake_twilio.server_url + "/telephony/twilio/voice", data=params, headers=headers
        )
        assert response.status_code == 403, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), name
        assert "X-Twilio-Signature" in response.json()["detail"], name
    # A signed query string is part of the URL: changing it breaks the signature too.
    gather = f"{PUBLIC_URL}/telephony/twilio/gather?step=menu&attempt=1"
    signature = validator.compute_signature(gather, params)
    tampered = fake_twilio.server_url + "/telephony/twilio/gather?step=menu&attempt=2"
    response = await fake_twilio.client.post(tampered, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403, response.text
    assert await commands_for(call_sid=params["CallSid"]) == []
    # The genuine request goes through.
    assert (await fake_twilio.post(url, params)).verbs() == ["Say", "Enqueue"]


async def test_without_an_auth_token_the_routes_answer_503(live_server: LiveServer, lines: Lines) -> None:
    """The shared test server has no TENLINE_TWILIO_AUTH_TOKEN: nothing is accepted, signed or not."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        params = call(lines.direct)
        signature = RequestValidator(AUTH_TOKEN).compute_signature(live_server.url + "/telephony/twilio/voice", params)
        for headers in ({}, {"X-Twilio-Signature": signature}):
            response = await client.post("/telephony/twilio/voice", data=params, headers=headers)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")


# --- the call flow -------------------------------------------------------------------------------


async def test_a_number_nobody_maps_is_not_in_service(fake_twilio: FakeTwilio, lines: Lines) -> None:
    provisioned_unmapped = (await provision_number(lines.tenant_id)).number
    for number in (unique_number(), provisioned_unmapped):
        answer = await fake_twilio.post("/telephony/twilio/voice", call(number))
        assert answer.verbs() == ["Say", "Hangup"] and "not in service" in answer.said()[0]


async def test_closed_plays_the_message_and_hangs_up(fake_twilio: FakeTwilio, lines: Lines) -> None:
    params = call(lines.closed)
    answer = await fake_twilio.post("/telephony/twilio/voice", params)
    assert answer.verbs() == ["Say", "Hangup"] and answer.said() == ["We are closed."]
    assert await commands_for(call_sid=params["CallSid"]) == []


async def test_closed_offers_a_callback_that_keeps_a_place_in_line(fake_twilio: FakeTwilio, lines: Lines) -> None:
    params = call(lines.callback)
    answer = await fake_twilio.post("/telephony/twilio/voice", params)
    gather = answer.one("Gather")
    assert answer.verbs() == ["Gather"] and gather.get("action") == f"{PUBLIC_URL}/telephony/twilio/callback"
    assert answer.said()[0] == "We are closed." and "press 1" in answer.said()[1]

    declined = await fake_twilio.post(gather.get("action", ""), {**params, "Digits": ""})
    assert declined.verbs() == ["Say", "Hangup"]
    withheld = await fake_twilio.post(gather.get("action", ""), {**params, "From": "anonymous", "Digits": "1"})
    assert withheld.verbs() == ["Say", "Hangup"] and "cannot see your number" in withheld.said()[0]
    assert await commands_for(call_sid=params["CallSid"]) == []

    taken = await fake_twilio.post(gather.get("action", ""), {**params, "Digits": "1"})
    assert taken.verbs() == ["Say", "Hangup"] and "call you back" in taken.said()[0]
    (arrive,) = await commands_for(call_sid=params["CallSid"])
    assert isinstance(arrive, commands.ContactArrive)
    assert arrive.callback and arrive.caller == CALLER and arrive.context["entry_point"] == "callback"
    # The caller hangs up after the message: the callback is not abandoned.
    await fake_twilio.post("/telephony/twilio/status", {**params, "CallStatus": "completed"})
    assert await commands_for(arrive.contact_id) == [arrive]


async def test_language_then_menu_to_the_chosen_queue(fake_twilio: FakeTwilio, lines: Lines) -> None:
    params = call(lines.ivr)
    first = await fake_twilio.post("/telephony/twilio/voice", params)
    assert first.verbs() == ["Gather"]
    assert first.said() == ["Welcome to Fjord Bank.", "For English, press 1.", "Pour le français, tapez 2."]
    assert [say.get("language") for say in first.root.iter("Say")][1:] == ["en", "fr"]
    action = first.one("Gather").get("action", "")
    assert query_of(action) == {"step": "language", "attempt": "1"}

    menu = await fake_twilio.post(action, {**params, "Digits": "2"})
    assert menu.said() == ["For billing, press 1.", "For sales, press 2."]
    action = menu.one("Gather").get("action", "")
    assert query_of(action) == {"step": "menu", "attempt": "1", "language": "fr", "pressed": "2"}

    answer = await fake_twilio.post(action, {**params, "Digits": "2"})
    assert answer.verbs() == ["Say", "Enqueue"]
    arrive = await enqueued(fake_twilio, params, answer)
    assert arrive.tenant_id == lines.tenant_id and arrive.queue_id == lines.sales
    assert arrive.required_attributes == frozenset({"language:fr"})
    assert arrive.caller == CALLER and not arrive.callback
    assert arrive.context == {
        "provider": "twilio",
        "call_sid": params["CallSid"],
        "number": lines.ivr,
        "entry_point": lines.entry_point_name,
        "digits": "22",
        "language": "fr",
    }


async def test_no_valid_choice_after_the_tries_goes_to_the_default_queue(fake_twilio: FakeTwilio, lines: Lines) -> None:
    params = call(lines.ivr)
    action = (await fake_twilio.post("/telephony/twilio/voice", params)).one("Gather").get("action", "")
    wrong = await fake_twilio.post(action, {**params, "Digits": "7"})
    assert wrong.said()[0] == "Sorry, that is not one of the options."
    action = wrong.one("Gather").get("action", "")
    assert query_of(action) == {"step": "language", "attempt": "2"}
    assert await commands_for(call_sid=params["CallSid"]) == []

    silent = await fake_twilio.post(action, {**params, "Digits": ""})  # max_attempts is 2
    arrive = await enqueued(fake_twilio, params, silent)
    assert arrive.queue_id == lines.fallback and arrive.required_attributes == frozenset()

    # On the menu step, silence re-prompts with its own apology.
    params = call(lines.ivr)
    action = (await fake_twilio.post("/telephony/twilio/voice", params)).one("Gather").get("action", "")
    action = (await fake_twilio.post(action, {**params, "Digits": "1"})).one("Gather").get("action", "")
    again = await fake_twilio.post(action, {**params, "Digits": ""})
    assert again.said()[0] == "Sorry, we did not get your choice."
    assert query_of(again.one("Gather").get("action", ""))["attempt"] == "2"


async def test_waiting_connecting_and_ending(fake_twilio: FakeTwilio, lines: Lines) -> None:
    params = call(lines.direct)
    arrive = await enqueued(fake_twilio, params, await fake_twilio.post("/telephony/twilio/voice", params))
    assert arrive.queue_id == lines.billing and arrive.context["call_sid"] == params["CallSid"]
    wait = {**params, "QueueSid": "QU123", "QueuePosition": "1", "QueueTime": "0"}

    # The router has not published the contact yet, then it is waiting, then offered: the caller holds.
    assert (await fake_twilio.post("/telephony/twilio/wait", wait)).verbs() == ["Pause"]
    for state in ("waiting", "offered"):
        await publish_view(arrive, state)
        assert (await fake_twilio.post("/telephony/twilio/wait", wait)).verbs() == ["Pause"]

    agent_id = uuid.uuid4()
    await publish_view(arrive, "connected", agent_id)
    assert (await fake_twilio.post("/telephony/twilio/wait", wait)).verbs() == ["Leave"]
    dequeued = await fake_twilio.post("/telephony/twilio/dequeued", {**params, "QueueResult": "leave"})
    assert dequeued.verbs() == ["Dial"] and dequeued.one("Client").text == f"agent-{agent_id}"

    # The conversation ends (the agent's view is gone by now): the call was connected, so it ends.
    await get_redis().delete(live.contact_key(arrive.contact_id, get_settings().router_pool))
    await fake_twilio.post("/telephony/twilio/status", {**params, "CallStatus": "completed"})
    await fake_twilio.post("/telephony/twilio/status", {**params, "CallStatus": "completed"})
    assert await commands_for(arrive.contact_id) == [arrive, commands.ContactEnd(contact_id=arrive.contact_id)]


async def test_hanging_up_in_line_abandons_once(fake_twilio: FakeTwilio, lines: Lines) -> None:
    params = call(lines.direct)
    arrive = await enqueued(fake_twilio, params, await fake_twilio.post("/telephony/twilio/voice", params))
    await publish_view(arrive, "waiting")
    hung_up = await fake_twilio.post("/telephony/twilio/dequeued", {**params, "QueueResult": "hangup"})
    assert hung_up.verbs() == []
    await fake_twilio.post("/telephony/twilio/status", {**params, "CallStatus": "completed"})
    assert await commands_for(arrive.contact_id) == [arrive, commands.ContactAbandon(contact_id=arrive.contact_id)]


@pytest.mark.parametrize("status", ["completed", "no-answer", "canceled", "failed"])
async def test_a_call_over_before_connection_abandons(fake_twilio: FakeTwilio, lines: Lines, status: str) -> None:
    params = call(lines.direct)
    arrive = await enqueued(fake_twilio, params, await fake_twilio.post("/telephony/twilio/voice", params))
    ringing = await fake_twilio.post("/telephony/twilio/status", {**params, "CallStatus": "ringing"})
    assert ringing.verbs() == []
    await fake_twilio.post("/telephony/twilio/status", {**params, "CallStatus": status})
    assert await commands_for(arrive.contact_id) == [arrive, commands.ContactAbandon(contact_id=arrive.contact_id)]


async def test_a_connected_call_that_hangs_up_ends_even_before_the_dial(fake_twilio: FakeTwilio, lines: Lines) -> None:
    """The router connected the contact while the caller hung up: the agent's contact ends, not abandons."""
    params = call(lines.direct)
    arrive = await enqueued(fake_twilio, params, await fake_twilio.post("/telephony/twilio/voice", params))
    await publish_view(arrive, "connected", uuid.uuid4())
    await fake_twilio.post("/telephony/twilio/status", {**params, "CallStatus": "completed"})
    assert await commands_for(arrive.contact_id) == [arrive, commands.ContactEnd(contact_id=arrive.contact_id)]


async def test_taken_out_of_line_apologises_and_sends_nothing_more(fake_twilio: FakeTwilio, lines: Lines) -> None:
    params = call(lines.direct)
    arrive = await enqueued(fake_twilio, params, await fake_twilio.post("/telephony/twilio/voice", params))
    await publish_view(arrive, "removed")
    wait = {**params, "QueueSid": "QU123", "QueueTime": "600"}
    assert (await fake_twilio.post("/telephony/twilio/wait", wait)).verbs() == ["Leave"]
    sorry = await fake_twilio.post("/telephony/twilio/dequeued", {**params, "QueueResult": "leave"})
    assert sorry.verbs() == ["Say", "Hangup"] and "no one can take your call" in sorry.said()[0]
    await fake_twilio.post("/telephony/twilio/status", {**params, "CallStatus": "completed"})
    assert await commands_for(arrive.contact_id) == [arrive]


async def test_a_returning_caller_waits_a_little_for_the_agent_who_last_helped(
    fake_twilio: FakeTwilio, lines: Lines
) -> None:
    caller = f"+4790{uuid.uuid4().int % 10**6:06}"
    first = await enqueued(
        fake_twilio,
        params := call(lines.direct, From=caller),
        await fake_twilio.post("/telephony/twilio/voice", params),
    )
    assert first.preferred_agent is None  # nobody has helped this caller yet
    agent = await make_agent(lines.tenant_id)

    async def answered_earlier(session: Any) -> None:
        # What the router records when the agent answers the first call.
        now = utcnow()
        session.add(
            Interaction(
                id=new_id(),  # an earlier call of the same caller (the session router may record this one)
                queue_id=lines.billing,
                caller=caller,
                state="ended",
                agent_id=agent.id,
                arrived_at=now,
                answered_at=now,
                ended_at=now,
            )
        )

    await _as_tenant(lines.tenant_id, answered_earlier)
    params = call(lines.direct, From=caller)
    again = await enqueued(fake_twilio, params, await fake_twilio.post("/telephony/twilio/voice", params))
    assert again.preferred_agent == agent.id and again.preferred_window_seconds == LAST_AGENT_WINDOW_SECONDS
