"""TwiML building and webhook signatures, each against the official twilio library as the reference."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, fromstring

import pytest
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from app.telephony import twiml
from app.telephony.twilio import compute_signature, signature_valid

TOKEN = "12345678901234567890123456789012"


def tree(document: bytes | str) -> Any:
    """An XML document as nested (tag, attributes, text, children), for comparison whatever the formatting."""

    def walk(element: Element) -> Any:
        return (element.tag, element.attrib, (element.text or "").strip(), [walk(child) for child in element])

    return walk(fromstring(document))  # noqa: S314 - documents this test made


def test_twiml_matches_the_twilio_librarys_for_every_verb_used() -> None:
    ours = twiml.document(
        twiml.gather("https://calls.example/g?step=menu&attempt=2", twiml.say("Hi <you> & me", "fr")),
        twiml.say("Plain"),
        twiml.enqueue("0193-contact", wait_url="https://calls.example/w", action="https://calls.example/d"),
        twiml.dial_client("agent-42"),
        twiml.leave(),
        twiml.pause(2),
        twiml.play("https://music.example/hold.mp3"),
        twiml.hangup(),
    )
    reference = VoiceResponse()
    gather = Gather(
        input="dtmf",
        num_digits=1,
        timeout=5,
        action="https://calls.example/g?step=menu&attempt=2",
        method="POST",
        action_on_empty_result=True,
    )
    gather.say("Hi <you> & me", language="fr")
    reference.append(gather)
    reference.say("Plain")
    reference.enqueue(
        "0193-contact",
        wait_url="https://calls.example/w",
        wait_url_method="POST",
        action="https://calls.example/d",
        method="POST",
    )
    dial = Dial()
    dial.client("agent-42")
    reference.append(dial)
    reference.leave()
    reference.pause(length=2)
    reference.play("https://music.example/hold.mp3")
    reference.hangup()
    assert tree(ours) == tree(reference.to_xml())


def test_an_empty_document_is_an_empty_response() -> None:
    assert twiml.document().startswith(b"<?xml")
    assert tree(twiml.document()) == ("Response", {}, "", [])


PARAMS = [("CallSid", "CA123"), ("From", "+14155550100"), ("To", "+442071838750"), ("Digits", "1")]


@pytest.mark.parametrize(
    "url",
    [
        "https://calls.example/telephony/twilio/voice",
        "https://calls.example/telephony/twilio/gather?step=menu&attempt=1&pressed=2",
        "http://127.0.0.1:8000/telephony/twilio/status",
    ],
)
def test_signatures_are_twilios(url: str) -> None:
    expected = RequestValidator(TOKEN).compute_signature(url, dict(PARAMS))
    assert compute_signature(TOKEN, url, PARAMS) == expected
    assert signature_valid(TOKEN, url, PARAMS, expected)


def test_repeated_parameters_sign_like_twilios() -> None:
    class Multi(dict[str, str]):
        def getall(self, name: str) -> list[str]:
            return [v for n, v in pairs if n == name]

    pairs = [("B", "2"), ("A", "z"), ("A", "a")]
    url = "https://calls.example/x"
    assert compute_signature(TOKEN, url, pairs) == RequestValidator(TOKEN).compute_signature(url, Multi(pairs))


def test_a_signature_made_with_or_without_the_default_port_is_valid() -> None:
    with_port = RequestValidator(TOKEN).compute_signature("https://calls.example:443/t", dict(PARAMS))
    without_port = RequestValidator(TOKEN).compute_signature("https://calls.example/t", dict(PARAMS))
    assert signature_valid(TOKEN, "https://calls.example/t", PARAMS, with_port)
    assert signature_valid(TOKEN, "https://calls.example:443/t", PARAMS, without_port)
    other_port = RequestValidator(TOKEN).compute_signature("https://calls.example:8443/t", dict(PARAMS))
    assert not signature_valid(TOKEN, "https://calls.example/t", PARAMS, other_port)


def test_any_change_breaks_the_signature() -> None:
    url = "https://calls.example/telephony/twilio/voice"
    good = compute_signature(TOKEN, url, PARAMS)
    assert not signature_valid("another-token-another-token-1234", url, PARAMS, good)
    assert not signature_valid(TOKEN, url + "?x=1", PARAMS, good)
    assert not signature_valid(TOKEN, url, [*PARAMS[:-1], ("Digits", "2")], good)
    assert not signature_valid(TOKEN, url, [*PARAMS, ("Extra", "1")], good)
    assert not signature_valid(TOKEN, url, PARAMS, "")
    assert not signature_valid(TOKEN, url, PARAMS, "not base64 at all é")
