"""API problems turned into plain words next to the field (or action) they are about."""

from __future__ import annotations

from emporium.storefront.api import ApiProblem
from emporium.storefront.problems import FORM, explain, plain_field_message

BASE = "https://emporium.dev/problems/"


def test_a_taken_email_is_said_next_to_the_email_field() -> None:
    problem = ApiProblem(409, type=BASE + "email-taken", detail="email already registered")
    feedback = explain(problem, ("name", "email", "password"))
    assert feedback.get("email") == "An account with this email already exists. Sign in instead."
    assert feedback.form is None


def test_bad_credentials_are_about_the_whole_form() -> None:
    feedback = explain(ApiProblem(401, type=BASE + "invalid-credentials"), ("email", "password"))
    assert feedback.form == "The email or password is not right."


def test_each_invalid_field_gets_its_own_message() -> None:
    problem = ApiProblem(
        422,
        type=BASE + "validation-error",
        errors=[
            {"field": "body.password", "message": "String should have at least 8 characters"},
            {"field": "body.email", "message": "value is not a valid email address: no @"},
            {"field": "body.shipping_address.postal_code", "message": "Field required"},
        ],
    )
    feedback = explain(problem, ("email", "password", "postal_code"))
    assert feedback.get("password") == "Use at least 8 characters."
    assert feedback.get("email") == "Enter an email address, like name@example.com."
    assert feedback.get("postal_code") == "This field is required."


def test_a_field_the_form_does_not_show_is_said_for_the_form() -> None:
    problem = ApiProblem(
        422, errors=[{"field": "body.attributes", "message": "Input should be a valid dictionary"}]
    )
    feedback = explain(problem, ("name",))
    assert feedback.get("attributes") is None
    assert feedback.form == "Input should be a valid dictionary."


def test_an_api_that_is_away_is_said_kindly() -> None:
    for kind, status in (("unreachable", 503), ("upstream-timeout", 504), ("whatever", 502)):
        feedback = explain(ApiProblem(status, type=BASE + kind))
        assert feedback.form is not None
        assert "try again in a moment" in feedback.form


def test_an_unknown_problem_falls_back_to_its_detail() -> None:
    feedback = explain(ApiProblem(409, type=BASE + "something-new", detail="the moon is full"))
    assert feedback.form == "The moon is full."


def test_cancelling_after_shipping_names_why() -> None:
    problem = ApiProblem(
        409, type=BASE + "illegal-status-change", detail="a shipped order cannot be cancelled"
    )
    assert explain(problem).form == (
        "That is no longer possible for this order. (a shipped order cannot be cancelled)"
    )


def test_the_first_message_about_a_field_is_kept() -> None:
    problem = ApiProblem(
        422,
        errors=[
            {"field": "body.name", "message": "Field required"},
            {"field": "body.name", "message": "String should have at most 200 characters"},
        ],
    )
    assert explain(problem, ("name",)).get("name") == "This field is required."
    assert FORM not in explain(problem, ("name",)).messages


def test_plain_messages_read_as_sentences() -> None:
    assert plain_field_message("Value error, must be positive") == "Must be positive."
    assert plain_field_message("") == "This value is not accepted."


def test_variant_problems_in_plain_words_beside_their_field() -> None:
    combination = ApiProblem(409, type="https://emporium.dev/problems/duplicate-option-combination")
    assert explain(combination, ("options",)).get("options") == (
        "Another variant already has these options."
    )
    invalid = ApiProblem(
        422, type="https://emporium.dev/problems/invalid-options", detail="size has no value XL"
    )
    assert explain(invalid, ("options",)).get("options") == (
        "These options are not accepted (size has no value XL)."
    )
    required = ApiProblem(422, type="https://emporium.dev/problems/variant-required")
    assert explain(required).form == "Choose the size, colour or other options first."
