"""Twilio-compatible voice adapter: signed webhooks in, TwiML out, router commands in between.

Every webhook must carry ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the account's auth token,
of the full URL Twilio requested (the public URL: behind a proxy the request's own URL differs) followed
by each POST parameter's name and value, sorted by name. A call then goes:

1. ``voice``: the dialled number's line (``service.resolve_line``). Not in service: a message, hang up.
   Straight to a queue: enqueue. Through an entry point: closed (outside the tenant's hours, or a
   holiday) plays the closed message and hangs up, or offers a callback (``callback``: pressing 1
   submits a ``ContactArrive`` with ``callback=True`` and the caller's number, which keeps its place in
   line without holding the line); open: the greeting, then the language and menu ``<Gather>`` steps.
2. ``gather``: a valid key moves on; no key or a wrong one prompts again, up to the entry point's
   ``max_attempts``, then the call goes to the default queue. The steps' state travels in the action
   URL's query, which the signature covers.
3. Enqueue: a ``ContactArrive`` (a new contact id, the language as the hard attribute ``language:<tag>``)
   and ``<Enqueue>`` in a Twilio queue named by the contact id. The call's record (CallSid -> contact)
   is kept in Redis so later webhooks find the contact.
4. ``wait`` (the Enqueue's wait URL, requested again each time its document ends): hold music or a short
   pause while the router's view of the contact is waiting or offered; ``<Leave/>`` once it is not.
5. ``dequeued`` (the Enqueue's action URL): connected to an agent: ``<Dial><Client>agent-<id></Client>``;
   the caller hung up while queued: ``ContactAbandon``; taken out of line: an apology, hang up.
6. ``status`` (the number's status callback): a call that is over sends ``ContactEnd`` when it was
   connected, ``ContactAbandon`` before that. Taking the call's record off Redis (GETDEL) makes exactly
   one of ``dequeued`` and ``status`` report the end. The router drops a command that no longer fits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit
from xml.etree.ElementTree import Element

import msgspec
import phonenumbers
import redis.asyncio as aioredis
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.clock import utcnow
from app.core.models import new_id
from app.core.tenancy import acting_as, system_principal
from app.routing.commands import Command, ContactAbandon, ContactArrive, ContactEnd, submit
from app.routing.live import ContactView, contact_view
from app.routing.models import attribute_token
from app.routing.service import LAST_AGENT_WINDOW_SECONDS, last_agent_of
from app.telephony import twiml
from app.telephony.hours import is_open
from app.telephony.models import ClosedAction, EntryPoint
from app.telephony.service import Line, resolve_line

PROVIDER = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
PATH = "/telephony/twilio"
VOICE_PATH, GATHER_PATH, CALLBACK_PATH = f"{PATH}/voice", f"{PATH}/gather", f"{PATH}/callback"
WAIT_PATH, DEQUEUED_PATH, STATUS_PATH = f"{PATH}/wait", f"{PATH}/dequeued", f"{PATH}/status"

# A waiting caller's line asks this often (without hold music) whether an agent has the call.
WAIT_PAUSE_SECONDS = 2
# Longer than any call waits and talks: the record only has to outlive the call.
CALL_RECORD_TTL_SECONDS = 12 * 3600
# Statuses of a call that is over (Twilio's CallStatus).
CALL_OVER = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})
FINISHED = frozenset({"ended", "abandoned", "removed"})
CALLBACK_DIGIT = "1"

Step = Literal["language", "menu"]

NOT_IN_SERVICE = "Sorry, this number is not in service."
NO_INPUT = "Sorry, we did not get your choice."
NOT_AN_OPTION = "Sorry, that is not one of the options."
PLEASE_HOLD = "Thank you. Please hold: the next available agent will take your call."
CALLBACK_OFFER = f"To be called back as soon as we can, press {CALLBACK_DIGIT}."
CALLBACK_TAKEN = "Thank you. We will call you back at this number. Goodbye."
NO_CALLER_NUMBER = "Sorry, we cannot see your number to call you back. Please call again later. Goodbye."
GOODBYE = "Goodbye."
NO_AGENT = "Sorry, no one can take your call at the moment. Please call again later. Goodbye."


# --- request signatures --------------------------------------------------------------------------


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's signature of a request: the URL, then each parameter name with each of its values, sorted."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    payload = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _with_and_without_default_port(url: str) -> set[str]:
    """Twilio signs the URL as it was configured, with or without the scheme's port: both are accepted."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    default_port = 443 if parts.scheme == "https" else 80
    netlocs = {host, f"{host}:{parts.port or default_port}"} if parts.port in (None, default_port) else {parts.netloc}
    return {urlunsplit(parts._replace(netloc=netloc)) for netloc in netlocs}


def signature_valid(auth_token: str, url: str, params: Sequence[tuple[str, str]], signature: str) -> bool:
    sent = signature.encode()
    return any(
        hmac.compare_digest(compute_signature(auth_token, candidate, params).encode(), sent)
        for candidate in _with_and_without_default_port(url)
    )


# --- what Twilio posts ---------------------------------------------------------------------------


class CallParams(msgspec.Struct, kw_only=True):
    """The fields of Twilio's voice webhooks this adapter reads (others are ignored)."""

    call_sid: str = msgspec.field(name="CallSid")
    caller: str = msgspec.field(name="From", default="")
    called: str = msgspec.field(name="To", default="")
    digits: str = msgspec.field(name="Digits", default="")
    call_status: str = msgspec.field(name="CallStatus", default="")
    queue_result: str = msgspec.field(name="QueueResult", default="")


class CallRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What later webhooks of a queued call need: its contact, and whether it reached an agent."""

    contact_id: uuid.UUID
    tenant_id: uuid.UUID
    connected: bool = False


_record_decoder = msgspec.msgpack.Decoder(CallRecord)


def call_key(call_sid: str) -> str:
    return f"tenline:telephony:{PROVIDER}:call:{call_sid}"


def agent_identity(agent_id: uuid.UUID) -> str:
    """The Twilio Client identity of an agent's softphone."""
    return f"agent-{agent_id}"


def _callable(number: str) -> bool:
    """Whether a caller id is a number we can call back (withheld numbers come as 'anonymous' or junk)."""
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


# --- the call flow -------------------------------------------------------------------------------


class TwilioVoice:
    """One webhook's work: reads the line and the router's live view, submits commands, answers TwiML.

    ``public_url`` is where Twilio reaches this server, without a trailing slash: the TwiML's links.
    """

    def __init__(
        self,
        session: AsyncSession,
        redis: aioredis.Redis,
        *,
        public_url: str,
        pool: str,
        hold_music_url: str | None = None,
    ) -> None:
        self.session = session
        self.redis = redis
        self.base = public_url
        self.pool = pool
        self.hold_music_url = hold_music_url

    def _url(self, path: str, **query: str | int | None) -> str:
        given = {name: value for name, value in query.items() if value is not None}
        return self.base + path + ("?" + urlencode(given) if given else "")

    async def _line(self, call: CallParams) -> Line | None:
        return await resolve_line(self.session, call.called, provider=PROVIDER)

    async def inbound(self, call: CallParams) -> bytes:
        line = await self._line(call)
        if line is None:
            return _not_in_service()
        entry_point = line.entry_point
        if entry_point is None:
            return await self._enqueue(call, line, line.queue_id)
        if not is_open(utcnow(), timezone=line.timezone, business_hours=line.business_hours, holidays=line.holidays):
            return self._closed(line, entry_point)
        intro = [twiml.say(entry_point.greeting, line.locale)] if entry_point.greeting else []
        first = _next_step(entry_point, after=None)
        if first is None:
            return await self._enqueue(call, line, entry_point.default_queue_id, intro=intro)
        return self._prompt(line, entry_point, first, attempt=1, language=None, pressed="", intro=intro)

    async def gathered(
        self, call: CallParams, *, step: Step, attempt: int, language: str | None, pressed: str
    ) -> bytes:
        line = await self._line(call)
        if line is None:
            return _not_in_service()
        entry_point = line.entry_point
        if entry_point is None:  # the number was pointed straight at a queue meanwhile
            return await self._enqueue(call, line, line.queue_id)
        options = entry_point.language_options if step == "language" else entry_point.menu_options
        chosen = next((option for option in options if call.digits and option["digit"] == call.digits), None)
        if chosen is None:
            if attempt < entry_point.max_attempts:
                sorry = twiml.say(NOT_AN_OPTION if call.digits else NO_INPUT, line.locale)
                return self._prompt(line, entry_point, step, attempt + 1, language, pressed, intro=[sorry])
            return await self._enqueue(call, line, entry_point.default_queue_id, language=language, pressed=pressed)
        pressed += call.digits
        if step == "menu":
            return await self._enqueue(call, line, uuid.UUID(chosen["queue_id"]), language=language, pressed=pressed)
        following = _next_step(entry_point, after=step)
        if following is None:
            return await self._enqueue(
                call, line, entry_point.default_queue_id, language=chosen["language"], pressed=pressed
            )
        return self._prompt(line, entry_point, following, 1, chosen["language"], pressed)

    async def callback_choice(self, call: CallParams) -> bytes:
        line = await self._line(call)
        if line is None or line.entry_point is None:
            return _not_in_service()
        if call.digits != CALLBACK_DIGIT:
            return twiml.document(twiml.say(GOODBYE, line.locale), twiml.hangup())
        if not _callable(call.caller):
            return twiml.document(twiml.say(NO_CALLER_NUMBER, line.locale), twiml.hangup())
        arrive = ContactArrive(
            contact_id=new_id(),
            tenant_id=line.tenant_id,
            queue_id=line.entry_point.default_queue_id,
            caller=call.caller,
            context=self._context(call, line, language=None, pressed=call.digits),
            callback=True,
        )
        await self._submit(arrive)
        return twiml.document(twiml.say(CALLBACK_TAKEN, line.locale), twiml.hangup())

    async def wait(self, call: CallParams) -> bytes:
        record = await self._record(call.call_sid)
        if record is not None:
            view = await self._view(record)
            # No view yet: the router has not taken the arrival in (or is failing over); the caller holds.
            if view is None or view.state in ("waiting", "offered"):
                hold = twiml.play(self.hold_music_url) if self.hold_music_url else twiml.pause(WAIT_PAUSE_SECONDS)
                return twiml.document(hold)
        # Connected or finished: out of the Twilio queue, on to the action URL.
        return twiml.document(twiml.leave())

    async def dequeued(self, call: CallParams) -> bytes:
        record = await self._record(call.call_sid)
        if record is None:
            return twiml.document(twiml.hangup())
        view = await self._view(record)
        if call.queue_result == "leave" and view is not None and view.state == "connected" and view.agent_id:
            connected = msgspec.structs.replace(record, connected=True)
            await self.redis.set(call_key(call.call_sid), msgspec.msgpack.encode(connected), ex=CALL_RECORD_TTL_SECONDS)
            return twiml.document(twiml.dial_client(agent_identity(view.agent_id)))
        await self.call_over(call)
        if call.queue_result == "hangup":
            return twiml.document()
        return twiml.document(twiml.say(NO_AGENT), twiml.hangup())

    async def status(self, call: CallParams) -> bytes:
        if call.call_status in CALL_OVER:
            await self.call_over(call)
        return twiml.document()

    async def call_over(self, call: CallParams) -> None:
        """The caller is gone: ends a connected contact, abandons a waiting one (once per call)."""
        # The client returns bytes (no decode_responses); its stubs say bytes or str.
        raw: bytes | None = await self.redis.getdel(call_key(call.call_sid))  # type: ignore[assignment]
        if raw is None:
            return
        record = _record_decoder.decode(raw)
        view = await self._view(record)
        if view is not None and view.state in FINISHED:
            return
        connected = record.connected or (view is not None and view.state == "connected")
        command: Command = (
            ContactEnd(contact_id=record.contact_id) if connected else ContactAbandon(contact_id=record.contact_id)
        )
        await self._submit(command)

    # --- steps ---

    def _closed(self, line: Line, entry_point: EntryPoint) -> bytes:
        message = twiml.say(entry_point.closed_message, line.locale)
        if entry_point.closed_action == ClosedAction.CALLBACK:
            offer = twiml.say(CALLBACK_OFFER, line.locale)
            return twiml.document(twiml.gather(self._url(CALLBACK_PATH), message, offer))
        return twiml.document(message, twiml.hangup())

    def _prompt(
        self,
        line: Line,
        entry_point: EntryPoint,
        step: Step,
        attempt: int,
        language: str | None,
        pressed: str,
        intro: Sequence[Element] = (),
    ) -> bytes:
        if step == "language":
            prompts = [twiml.say(o["prompt"], o["language"]) for o in entry_point.language_options]
        else:
            prompts = [twiml.say(o["prompt"], line.locale) for o in entry_point.menu_options]
        action = self._url(GATHER_PATH, step=step, attempt=attempt, language=language, pressed=pressed or None)
        return twiml.document(twiml.gather(action, *intro, *prompts))

    async def _enqueue(
        self,
        call: CallParams,
        line: Line,
        queue_id: uuid.UUID | None,
        *,
        language: str | None = None,
        pressed: str = "",
        intro: Sequence[Element] = (),
    ) -> bytes:
        if queue_id is None:
            return _not_in_service()
        contact_id = new_id()
        with acting_as(system_principal(line.tenant_id)):
            last_agent = await last_agent_of(self.session, call.caller)
        record = CallRecord(contact_id=contact_id, tenant_id=line.tenant_id)
        # The record first: a hang-up reported right after the arrival must find its contact.
        await self.redis.set(call_key(call.call_sid), msgspec.msgpack.encode(record), ex=CALL_RECORD_TTL_SECONDS)
        await self._submit(
            ContactArrive(
                contact_id=contact_id,
                tenant_id=line.tenant_id,
                queue_id=queue_id,
                caller=call.caller,
                context=self._context(call, line, language=language, pressed=pressed),
                required_attributes=frozenset({attribute_token("language", language)}) if language else frozenset(),
                # A returning caller waits a little for the agent who last helped them.
                preferred_agent=last_agent,
                preferred_window_seconds=LAST_AGENT_WINDOW_SECONDS if last_agent else 0.0,
            )
        )
        return twiml.document(
            *intro,
            twiml.say(PLEASE_HOLD, line.locale),
            twiml.enqueue(str(contact_id), wait_url=self._url(WAIT_PATH), action=self._url(DEQUEUED_PATH)),
        )

    def _context(self, call: CallParams, line: Line, *, language: str | None, pressed: str) -> dict[str, Any]:
        """What the agent and the records see of the call: its reference, the number, the caller's choices."""
        context: dict[str, Any] = {"provider": PROVIDER, "call_sid": call.call_sid, "number": call.called}
        if line.entry_point is not None:
            context["entry_point"] = line.entry_point.name
        if pressed:
            context["digits"] = pressed
        if language:
            context["language"] = language
        return context

    async def _submit(self, command: Command) -> None:
        await submit(self.redis, command, pool=self.pool)

    async def _record(self, call_sid: str) -> CallRecord | None:
        raw: bytes | None = await self.redis.get(call_key(call_sid))  # type: ignore[assignment]
        return _record_decoder.decode(raw) if raw else None

    async def _view(self, record: CallRecord) -> ContactView | None:
        return await contact_view(self.redis, record.contact_id, self.pool)


def _next_step(entry_point: EntryPoint, *, after: Step | None) -> Step | None:
    """The IVR's steps in order, each only when the entry point has options for it."""
    steps: list[Step] = []
    if entry_point.language_options:
        steps.append("language")
    if entry_point.menu_options:
        steps.append("menu")
    following = steps if after is None else steps[steps.index(after) + 1 :]
    return following[0] if following else None


def _not_in_service() -> bytes:
    return twiml.document(twiml.say(NOT_IN_SERVICE), twiml.hangup())
