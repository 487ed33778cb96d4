"""TwiML documents, built with the standard library's XML tree (pure; runtime needs no Twilio package).

Each function makes one verb; ``document`` wraps verbs in ``<Response>`` and serialises it. Text and
URLs are escaped by the XML writer, so a tenant's greeting can hold any character.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement, tostring

CONTENT_TYPE = "text/xml"


def _verb(tag: str, text: str | None = None, **attributes: str) -> Element:
    element = Element(tag, attributes)
    if text is not None:
        element.text = text
    return element


def say(text: str, language: str | None = None) -> Element:
    return _verb("Say", text, **({"language": language} if language else {}))


def play(url: str) -> Element:
    return _verb("Play", url)


def pause(seconds: int) -> Element:
    return _verb("Pause", length=str(seconds))


def hangup() -> Element:
    return _verb("Hangup")


def leave() -> Element:
    """Takes the caller out of the ``<Enqueue>`` queue: the call goes on at the Enqueue's action URL."""
    return _verb("Leave")


def gather(action: str, *prompts: Element, timeout_seconds: int = 5) -> Element:
    """One key press, posted to ``action``; no press posts there too (empty ``Digits``)."""
    element = _verb(
        "Gather",
        input="dtmf",
        numDigits="1",
        timeout=str(timeout_seconds),
        action=action,
        method="POST",
        actionOnEmptyResult="true",
    )
    element.extend(prompts)
    return element


def enqueue(queue_name: str, *, wait_url: str, action: str) -> Element:
    """Holds the caller in a Twilio queue, playing ``wait_url`` in a loop; ``action`` when the caller leaves it."""
    return _verb("Enqueue", queue_name, waitUrl=wait_url, waitUrlMethod="POST", action=action, method="POST")


def dial_client(identity: str) -> Element:
    """Connects the caller to a Twilio Client (the agent's softphone) by identity."""
    element = _verb("Dial")
    SubElement(element, "Client").text = identity
    return element


def document(*verbs: Element) -> bytes:
    response = Element("Response")
    response.extend(verbs)
    return tostring(response, encoding="utf-8", xml_declaration=True)
