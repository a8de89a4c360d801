"""Reconcile's comparison of a sent result with what the SIS holds."""

from __future__ import annotations

from lti_bridge.services.outbox import differences


def test_fields_the_sis_adds_are_not_differences():
    sent = {"score": 91.5, "student": {"sourcedId": "s1"}}
    held = {"score": 91.5, "student": {"sourcedId": "s1", "href": "x"}, "dateLastModified": "z"}
    assert differences(sent, held) == []


def test_a_changed_or_missing_field_is_named_by_its_path():
    sent = {"score": 91.5, "textScore": "A-", "metadata": {"ext:submissionVersion": 2}}
    held = {"score": 80, "metadata": {"ext:submissionVersion": 1}}
    assert differences(sent, held) == [
        "score: sent 91.5, SIS holds 80",
        "textScore: missing",
        "metadata.ext:submissionVersion: sent 2, SIS holds 1",
    ]


def test_numbers_compare_by_value_and_booleans_are_not_numbers():
    assert differences({"score": 90}, {"score": 90.0}) == []
    assert differences({"flag": True}, {"flag": 1}) == ["flag: sent True, SIS holds 1"]
