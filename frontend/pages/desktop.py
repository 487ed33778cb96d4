"""The agent desktop: presence, offers with a countdown, the contacts in hand, transfer, wrap-up.

Everything shown comes from the router's live views (``app.routing.live``), named with what the agent's
tenants hold (``app.routing.service.desk_tenants``: tenant names, queue names and scripts, colleagues'
aliases). A contact of a tenant with a CRM lookup gets a panel that loads the CRM's answer in a request of
its own (``crm``), so neither routing nor the offer waits for the CRM. Actions are commands to the router. Each action first checks the agent's live view (an offer
that is gone, a contact that is not the agent's are refused with a readable message before anything is
sent), then sends the command and waits briefly for the router to show its effect, so the fragment it
answers with is the new state. The desktop also follows the router over server-sent events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.response import ServerSentEvent
from redis.asyncio.client import PubSub
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import get_database
from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.core.tenancy import Principal, acting_as
from app.integrations import crm
from app.routing import commands as cmd
from app.routing import live
from app.routing import service as routing
from frontend.streams import Painter, Snapshot, key_of, live_stream, notice, subscribed
from frontend.web import flash, fragment, is_htmx, person_of, redirect, render
from tenants.auth import requires
from tenants.permissions import Permission

PATH = "/agent"
BREAK_REASONS = (("lunch", "Lunch"), ("training", "Training"), ("personal", "Personal"), ("meeting", "Meeting"))
CHOICES: dict[str, Any] = {"break_reasons": BREAK_REASONS}
# How long an action waits for the router to show its effect before answering with the state as it is.
CONFIRM_SECONDS = 3.0
NOT_YOURS = "that contact is not on your desktop (it may have ended or moved on)"
UNCONFIRMED = "Routing has not confirmed this yet; the desktop updates when it does."


def _pool() -> str:
    return get_settings().router_pool


# --- what the router shows --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeskState:
    """The agent's live view and the views of every contact it names."""

    view: live.AgentView | None
    contacts: Mapping[uuid.UUID, live.ContactView]

    @property
    def key(self) -> bytes:
        return key_of(self.view, sorted(self.contacts.values(), key=lambda c: c.contact_id))

    def shown(self, contact_id: uuid.UUID) -> live.ContactView:
        """The contact on offer to the agent or in the agent's hands, or refused (as for anyone else's)."""
        offered = self.view is not None and self.view.offer is not None and self.view.offer.contact_id == contact_id
        if offered and (contact := self.contacts.get(contact_id)) is not None:
            return contact
        return self.connected(contact_id)

    def connected(self, contact_id: uuid.UUID) -> live.ContactView:
        """A contact the agent holds now, or refused (the same answer for anyone else's)."""
        contact = self.contacts.get(contact_id)
        if self.view is None or contact_id not in self.view.contacts or contact is None:
            raise NotFoundError(NOT_YOURS)
        return contact


async def read_state(agent_id: uuid.UUID) -> DeskState:
    redis, pool = get_redis(), _pool()
    view = await live.agent_view(redis, agent_id, pool)
    if view is None:
        return DeskState(None, {})
    named = [*view.contacts, *view.pending_dispositions]
    if view.offer is not None:
        named.append(view.offer.contact_id)
    contacts = await live.contact_views(redis, list(dict.fromkeys(named)), pool)
    return DeskState(view, {contact.contact_id: contact for contact in contacts})


# --- what the agent sees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Which tenant and queue a contact is for, by name (the tenant always shows: agents serve several)."""

    tenant: str
    queue: str
    script: str


@dataclass(frozen=True)
class OfferCard:
    contact_id: uuid.UUID
    place: Place
    caller: str
    channel: str
    seconds_left: float
    crm: bool  # the tenant looks callers up in its CRM: the card loads the answer


@dataclass(frozen=True)
class ContactCard:
    contact_id: uuid.UUID
    place: Place
    caller: str
    channel: str
    crm: bool
    context: list[tuple[str, str]]
    connected_seconds: float
    on_hold: bool
    queues: list[tuple[uuid.UUID, str]]  # where it may be transferred: the tenant's other queues
    colleagues: list[tuple[uuid.UUID, str]]  # ... or the tenant's other agents, by alias


@dataclass(frozen=True)
class WrapUpCard:
    contact_id: uuid.UUID
    place: Place
    caller: str
    # The active disposition codes of the contact's tenant, (code, label); none: the agent no longer works
    # for it, and the wrap-up closes without a code.
    dispositions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Desk:
    known: bool  # the router has a view of this agent (it has none before the agent's first presence)
    presence: str
    requested: str  # what the agent asked for: available, break or offline (it waits for the contacts in hand)
    reason: str
    since: float | None  # epoch seconds
    since_seconds: float
    offer: OfferCard | None
    contacts: list[ContactCard]
    wrap_ups: list[WrapUpCard]
    wrap_up_seconds_left: float | None


UNKNOWN_TENANT = Place("A tenant you no longer work for", "", "")


def _place(tenant_id: uuid.UUID, queue_id: uuid.UUID, tenants: Mapping[uuid.UUID, routing.DeskTenant]) -> Place:
    tenant = tenants.get(tenant_id)
    if tenant is None:
        return UNKNOWN_TENANT
    queue = tenant.queues.get(queue_id)
    return Place(tenant.name, queue.name if queue else "", queue.script if queue else "")


@dataclass(frozen=True)
class DeskTenants:
    """The agent's tenants by id, and those of them that look callers up in their CRM."""

    names: Mapping[uuid.UUID, routing.DeskTenant]
    with_crm: frozenset[uuid.UUID]

    def crm_for(self, contact: live.ContactView | None) -> bool:
        return contact is not None and bool(contact.caller) and contact.tenant_id in self.with_crm


async def desk_tenants(session: AsyncSession, me: Me) -> DeskTenants:
    names = await routing.desk_tenants(session, me.user_id, me.agent_id)
    return DeskTenants(names, await crm.tenants_with_lookup(session, list(names)))


def build_desk(state: DeskState, known: DeskTenants, now: float) -> Desk:
    tenants = known.names
    view = state.view
    if view is None:
        return Desk(
            known=False,
            presence="offline",
            requested="offline",
            reason="",
            since=None,
            since_seconds=0.0,
            offer=None,
            contacts=[],
            wrap_ups=[],
            wrap_up_seconds_left=None,
        )
    offer = None
    if view.offer is not None:
        contact = state.contacts.get(view.offer.contact_id)
        offer = OfferCard(
            contact_id=view.offer.contact_id,
            place=_place(view.offer.tenant_id, view.offer.queue_id, tenants),
            caller=contact.caller if contact else "",
            channel=contact.channel if contact else "",
            seconds_left=max(0.0, view.offer.expires_at - now),
            crm=known.crm_for(contact),
        )
    cards = []
    for contact_id in view.contacts:
        contact = state.contacts.get(contact_id)
        if contact is None:
            continue
        tenant = tenants.get(contact.tenant_id)
        cards.append(
            ContactCard(
                contact_id=contact_id,
                place=_place(contact.tenant_id, contact.queue_id, tenants),
                caller=contact.caller,
                channel=contact.channel,
                crm=known.crm_for(contact),
                context=[(str(key), str(value)) for key, value in contact.context.items()],
                connected_seconds=max(0.0, now - (contact.answered_at or now)),
                on_hold=contact.on_hold,
                queues=_transfer_queues(tenant, contact),
                colleagues=sorted(tenant.colleagues.items(), key=lambda item: item[1].lower()) if tenant else [],
            )
        )
    wrap_ups = []
    for contact_id in view.pending_dispositions:
        contact = state.contacts.get(contact_id)
        if contact is not None:
            tenant = tenants.get(contact.tenant_id)
            codes = tenant.dispositions if tenant else ()
            wrap_ups.append(
                WrapUpCard(contact_id, _place(contact.tenant_id, contact.queue_id, tenants), contact.caller, codes)
            )
    return Desk(
        known=True,
        presence=view.presence,
        requested=view.requested,
        reason=view.reason,
        since=view.since or None,
        since_seconds=max(0.0, now - view.since) if view.since else 0.0,
        offer=offer,
        contacts=cards,
        wrap_ups=wrap_ups,
        wrap_up_seconds_left=max(0.0, view.wrap_up_until - now) if view.wrap_up_until is not None else None,
    )


def _transfer_queues(tenant: routing.DeskTenant | None, contact: live.ContactView) -> list[tuple[uuid.UUID, str]]:
    if tenant is None:
        return []
    return [
        (queue_id, queue.name)
        for queue_id, queue in tenant.queues.items()
        if queue.is_active and queue.channel == contact.channel and queue_id != contact.queue_id
    ]


# --- the pages --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Me:
    user_id: uuid.UUID
    agent_id: uuid.UUID


async def _me(request: Request[Principal, Any, Any], session: AsyncSession) -> Me:
    user_id = person_of(request.user)
    agent_id = await routing.agent_of_user(session, user_id)
    if agent_id is None:
        raise NotFoundError("you are not an active agent of the pool")
    return Me(user_id, agent_id)


def _form_id(form: FormMultiDict, name: str) -> uuid.UUID:
    """A contact named by a form: one that is not a valid id is not on the desktop either."""
    try:
        return uuid.UUID(str(form.get(name, "")))
    except ValueError:
        raise NotFoundError(NOT_YOURS) from None


Check = Callable[[DeskState, Mapping[uuid.UUID, routing.DeskTenant]], cmd.Command | None]


class DesktopPages(Controller):
    path = PATH
    guards = [requires(Permission.WORK_CONTACTS)]

    @get("/")
    async def desktop(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        me = await _me(request, session)
        tenants = await desk_tenants(session, me)
        desk = build_desk(await read_state(me.agent_id), tenants, time.time())
        assignments = sorted(((t.name, t.alias) for t in tenants.names.values()), key=lambda row: row[0].lower())
        return render(request, "desktop/page.html", desk=desk, assignments=assignments, **CHOICES)

    @get("/events")
    async def events(self, request: Request[Principal, Any, Any], session: AsyncSession) -> ServerSentEvent:
        me = await _me(request, session)
        principal = request.user
        paint = Painter(request)

        async def read() -> Snapshot:
            state = await read_state(me.agent_id)

            async def draw() -> str:
                with acting_as(principal):
                    async with get_database().session() as own:
                        tenants = await desk_tenants(own, me)
                return paint("desktop/desk.html", desk=build_desk(state, tenants, time.time()), **CHOICES)

            return Snapshot(state.key, draw)

        return live_stream(request, [live.agent_channel(me.agent_id, _pool())], read, event="desk")

    @get("/crm/{contact_id:uuid}")
    async def crm_panel(
        self, request: Request[Principal, Any, Any], session: AsyncSession, contact_id: uuid.UUID
    ) -> Response[Any]:
        """The CRM's answer about the caller of a contact on offer to the agent or in the agent's hands."""
        me = await _me(request, session)
        contact = (await read_state(me.agent_id)).shown(contact_id)
        asked = await crm.lookup_request(
            session,
            crm.Contact(
                interaction_id=contact.contact_id,
                tenant_id=contact.tenant_id,
                queue_id=contact.queue_id,
                caller=contact.caller,
                ivr=dict(contact.context),
            ),
        )
        await session.commit()  # nothing to write: the connection goes back to the pool while the CRM answers
        answer = await crm.look_up(*asked) if asked is not None and contact.caller else None
        return fragment(request, "desktop/crm.html", contact_id=contact_id, answer=answer)

    @post("/presence")
    async def presence(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        state, reason = str(form.get("state", "")), str(form.get("reason", ""))
        if state not in ("available", "break", "offline"):
            raise InvalidInputError("choose Available, Break or Offline")
        if state == "break" and reason not in dict(BREAK_REASONS):
            raise InvalidInputError("choose a reason for the break")
        reason = reason if state == "break" else ""
        me = await _me(request, session)

        def check(desk: DeskState, _: Mapping[uuid.UUID, routing.DeskTenant]) -> cmd.Command | None:
            current = desk.view.requested if desk.view else "offline"
            already = state == current and (desk.view.reason if desk.view else "") == reason
            return None if already else cmd.AgentPresence(agent_id=me.agent_id, state=state, reason=reason)  # type: ignore[arg-type]

        return await _carry_out(request, session, me, check)

    @post("/offer")
    async def offer(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        answer = str(form.get("answer", ""))
        if answer not in ("accept", "reject"):
            raise InvalidInputError("accept or reject the offer")
        contact_id = _form_id(form, "contact_id")
        me = await _me(request, session)

        def check(desk: DeskState, _: Mapping[uuid.UUID, routing.DeskTenant]) -> cmd.Command:
            offer = desk.view.offer if desk.view else None
            if offer is None or offer.contact_id != contact_id or offer.expires_at <= time.time():
                raise ConflictError("that offer is no longer available: it ran out or was withdrawn")
            if answer == "accept":
                return cmd.OfferAccept(agent_id=me.agent_id, contact_id=contact_id)
            return cmd.OfferReject(agent_id=me.agent_id, contact_id=contact_id)

        return await _carry_out(request, session, me, check)

    @post("/hold")
    async def hold(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        contact_id = _form_id(form, "contact_id")
        on_hold = form.get("on_hold") == "true"
        me = await _me(request, session)

        def check(desk: DeskState, _: Mapping[uuid.UUID, routing.DeskTenant]) -> cmd.Command | None:
            if desk.connected(contact_id).on_hold == on_hold:
                return None
            return cmd.ContactHold(agent_id=me.agent_id, contact_id=contact_id, on_hold=on_hold)

        return await _carry_out(request, session, me, check)

    @post("/transfer")
    async def transfer(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        contact_id = _form_id(form, "contact_id")
        kind, _, target = str(form.get("target", "")).partition(":")
        me = await _me(request, session)

        def check(desk: DeskState, tenants: Mapping[uuid.UUID, routing.DeskTenant]) -> cmd.Command:
            contact = desk.connected(contact_id)
            tenant = tenants.get(contact.tenant_id)
            if tenant is None:
                raise NotFoundError(NOT_YOURS)
            queues = {str(queue_id) for queue_id, _ in _transfer_queues(tenant, contact)}
            if kind == "queue" and target in queues:
                return cmd.ContactTransfer(agent_id=me.agent_id, contact_id=contact_id, to_queue=uuid.UUID(target))
            if kind == "agent" and target in {str(agent_id) for agent_id in tenant.colleagues}:
                return cmd.ContactTransfer(agent_id=me.agent_id, contact_id=contact_id, to_agent=uuid.UUID(target))
            raise InvalidInputError(f"choose a queue or an agent of {tenant.name}")

        return await _carry_out(request, session, me, check)

    @post("/end")
    async def end(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        contact_id = _form_id(await request.form(), "contact_id")
        me = await _me(request, session)

        def check(desk: DeskState, _: Mapping[uuid.UUID, routing.DeskTenant]) -> cmd.Command:
            desk.connected(contact_id)
            return cmd.ContactEnd(agent_id=me.agent_id, contact_id=contact_id)

        return await _carry_out(request, session, me, check)

    @post("/wrap-up")
    async def wrap_up(self, request: Request[Principal, Any, Any], session: AsyncSession) -> Response[Any]:
        form = await request.form()
        contact_id = _form_id(form, "contact_id")
        disposition = str(form.get("disposition", "")).strip()
        me = await _me(request, session)

        def check(desk: DeskState, tenants: Mapping[uuid.UUID, routing.DeskTenant]) -> cmd.Command:
            contact = desk.contacts.get(contact_id)
            if desk.view is None or contact_id not in desk.view.pending_dispositions or contact is None:
                raise NotFoundError("that contact has no disposition to record on your desktop")
            tenant = tenants.get(contact.tenant_id)
            if tenant is None:  # no longer the agent's tenant: its codes are not the agent's to see
                disposition_given = ""
            elif disposition not in dict(tenant.dispositions):
                # Nothing is sent: the contact stays in wrap-up, and the desk shows the tenant's codes as they are.
                chosen = (
                    f" “{disposition}” is not one of {tenant.name}'s active disposition codes." if disposition else ""
                )
                raise InvalidInputError(f"choose how the contact ended.{chosen}")
            else:
                disposition_given = disposition
            return cmd.WrapUpFinish(agent_id=me.agent_id, contact_id=contact_id, disposition=disposition_given)

        return await _carry_out(request, session, me, check)


async def _carry_out(
    request: Request[Principal, Any, Any], session: AsyncSession, me: Me, check: Check
) -> Response[Any]:
    """Checks the action against the live view, sends it, and answers with the desk once the router shows it.

    It listens on the agent's channel and its tenants' (a hold changes only the contact's view) from before
    it reads the view, so the router's answer cannot slip by unseen.
    """
    tenants = await desk_tenants(session, me)
    await session.commit()  # nothing to write: the connection goes back to the pool while the router works
    pool = _pool()
    channels = [live.agent_channel(me.agent_id, pool), *(live.tenant_channel(t, pool) for t in tenants.names)]
    confirmed = True
    async with subscribed(channels) as pubsub:
        state = await read_state(me.agent_id)
        command = check(state, tenants.names)
        if command is not None:
            await cmd.submit(get_redis(), command, pool=pool)
            confirmed, state = await _changed(pubsub, me.agent_id, state.key)
    warning = None if confirmed else UNCONFIRMED
    if not is_htmx(request):
        if warning:
            flash(request, warning, "warning")
        return redirect(request, PATH)
    desk = build_desk(state, tenants, time.time())
    return fragment(request, "desktop/answer.html", desk=desk, warning=warning, **CHOICES)


async def _changed(pubsub: PubSub, agent_id: uuid.UUID, before: bytes) -> tuple[bool, DeskState]:
    """Waits for the agent's desk to differ from ``before``: (whether it did in time, the desk as it is)."""
    deadline = time.monotonic() + CONFIRM_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        if await notice(pubsub, left):
            state = await read_state(agent_id)
            if state.key != before:
                return True, state
    return False, await read_state(agent_id)
