"""The number-pattern rule holds in the model, whatever writes the profile: not only the
admin form (business.numbering, BusinessProfile.clean_fields, profile_save)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent, EventKind
from business.models import BusinessProfile
from business.numbering import validate_number_pattern, validate_reference_pattern
from business.services import profile_get, profile_save

NUMBER_FIELDS = ["number_pattern", "credit_note_pattern"]


def _errors(profile: BusinessProfile, **kwargs: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        profile.full_clean(**kwargs)
    return caught.value.message_dict


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("INV-{year}", "The pattern needs {seq} so that numbers differ."),
        ("INV-{seq:04", "This pattern cannot be filled in (unmatched '{' in format spec)."),
        ("{foo}-{seq}", "This pattern cannot be filled in ('foo')."),
        ("INV-{number}-{seq}", "This pattern cannot be filled in ('number')."),
        ("INV-{year.real}-{seq}", "This pattern cannot be filled in ('year.real')."),
        ("INV-{seq[0]}", "This pattern cannot be filled in ('seq[0]')."),
        (
            "IN V {seq}",
            "It makes 'IN V 7': Use 1 to 64 letters, digits, '.', '_', '/' or '-', "
            "starting with a letter or digit.",
        ),
    ],
)
def test_the_model_refuses_a_bad_number_pattern_without_the_admin(field, pattern, message):
    profile = BusinessProfile(**{field: pattern})
    assert _errors(profile) == {field: [message]}


@pytest.mark.parametrize(
    "pattern", ["{foo}", "RF-{number", "{0}", "{number.__class__}", "{year[0]}", "{seq.x}"]
)
def test_the_model_refuses_a_payment_reference_that_cannot_be_filled_in(pattern):
    errors = _errors(BusinessProfile(payment_reference_pattern=pattern))
    assert list(errors) == ["payment_reference_pattern"]
    assert errors["payment_reference_pattern"][0].startswith("This pattern cannot be filled in")


@pytest.mark.parametrize("pattern", ["{number}", "RF {year}/{seq:05}", "SAME FOR ALL"])
def test_a_payment_reference_may_use_the_number_or_stay_the_same(pattern):
    BusinessProfile(payment_reference_pattern=pattern).full_clean()
    validate_reference_pattern(pattern)


@pytest.mark.parametrize("pattern", ["INV-{year}-{seq:04}", "{seq}", "CN/{year}/{seq}"])
def test_good_number_patterns_pass(pattern):
    validate_number_pattern(pattern)
    BusinessProfile(number_pattern=pattern, credit_note_pattern=pattern).full_clean()


def test_every_bad_pattern_is_reported_at_once_on_its_own_field():
    profile = BusinessProfile(
        number_pattern="INV", credit_note_pattern="{x}", payment_reference_pattern="{y}"
    )
    assert set(_errors(profile)) == {
        "number_pattern",
        "credit_note_pattern",
        "payment_reference_pattern",
    }


def test_an_excluded_pattern_is_not_checked():
    # A ModelForm excludes the fields it does not show or that already failed its own check.
    profile = BusinessProfile(number_pattern="INV", credit_note_pattern="{x}")
    assert list(_errors(profile, exclude=["number_pattern"])) == ["credit_note_pattern"]


def test_a_field_that_failed_its_own_check_is_not_reported_twice():
    profile = BusinessProfile(number_pattern="INV-" + "x" * 70)  # over max_length, no {seq}
    errors = _errors(profile)["number_pattern"]
    assert len(errors) == 1 and "at most 64 characters" in errors[0]


@pytest.mark.django_db
def test_profile_save_refuses_a_bad_pattern_and_writes_nothing():
    profile = profile_get()
    profile.iban = "DE89 3704 0044 0532 0130 00"
    profile.number_pattern = "INV-{year}"
    with pytest.raises(ValidationError) as caught:
        profile_save(profile=profile)
    assert caught.value.message_dict == {
        "number_pattern": ["The pattern needs {seq} so that numbers differ."]
    }
    stored = BusinessProfile.objects.get(pk=profile.pk)
    assert (stored.number_pattern, stored.iban) == ("INV-{year}-{seq:04}", "")
    assert not AuditEvent.objects.filter(kind=EventKind.BANK_DETAILS_CHANGED).exists()
