"""factory_boy factories, one per model (synthetic data only, Faker ja_JP)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from moyai.platform.audit.models import AccessLog, AccessLogSubject
from moyai.platform.codes.checkdigits import individual_number_check_digit, with_mod11
from moyai.platform.identity.models import ApiToken, Membership
from moyai.platform.ids import new_id
from moyai.platform.tenancy.models import Consortium, Tenant, TenantParameter
from moyai.residents.models import (
    ChangeRequest,
    Event,
    Household,
    NumberSequence,
    Resident,
    ResidentCodePool,
    SearchKey,
    SupportMeasure,
    SupportMeasurePerson,
    Suppression,
)

factory.Faker._DEFAULT_LOCALE = "ja_JP"


def individual_number(seq: int) -> str:
    body = f"{seq:011d}"
    return body + str(individual_number_check_digit(body))


class ConsortiumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consortium
        django_get_or_create = ("code",)

    code = "yamaguchi"
    name = "山口県自治体クラウド協議会"
    default_parameters: Any = factory.LazyFunction(
        lambda: {"issuer_title": "市長", "resident_code_pool_alert_threshold": 5, "certificate_fee": 300}
    )


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("code",)

    code = "352152"
    name = "周南市"
    prefecture = "山口県"
    consortium = factory.SubFactory(ConsortiumFactory)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    last_name = factory.Faker("name")
    password = factory.django.Password("correct-horse-battery")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = "clerk"


class ApiTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiToken

    tenant = factory.SubFactory(TenantFactory)
    name = "税システム連携"
    role = "clerk"
    prefix = factory.Sequence(lambda n: f"t{n:011d}")
    token_hash = "0" * 64


# Tenant-owned models: create them inside tenant_scope(...).


class TenantParameterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TenantParameter

    key = "issuer_name"
    effective_from = dt.date(2026, 4, 1)
    version = 1
    value = "周南　太郎"


class AccessLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessLog

    id = factory.LazyFunction(new_id)
    actor = "staff:clerk1"
    actor_kind = "staff"
    operation = "resident.view"
    request_id = factory.Faker("uuid4")


class AccessLogSubjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessLogSubject

    atena_no = factory.Sequence(lambda n: with_mod11(f"{n + 1:09d}"))
    log_id = factory.LazyFunction(new_id)
    at = factory.LazyFunction(timezone.now)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    event_id = factory.LazyFunction(new_id)
    atena_no = factory.Sequence(lambda n: with_mod11(f"{n + 1:09d}"))
    kind = "move_in"
    reason_code = "101"
    effective_date = dt.date(2020, 4, 1)
    notified_date = dt.date(2020, 4, 3)
    recorded_at = factory.LazyFunction(timezone.now)
    staff = "staff:clerk1"
    changes: Any = factory.LazyFunction(dict)
    group_id = factory.LazyFunction(new_id)


class ResidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Resident

    atena_no = factory.Sequence(lambda n: with_mod11(f"{n + 1:09d}"))
    household_no = factory.Sequence(lambda n: with_mod11(f"{n + 1:09d}"))
    status = "resident"
    resident_kind = "japanese"
    display_name = factory.Faker("name")
    state: Any = factory.LazyFunction(dict)
    version = factory.LazyFunction(new_id)


class SearchKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SearchKey

    kind = "kana"
    key = "ヤマダタロウ"
    atena_no = factory.Sequence(lambda n: with_mod11(f"{n + 1:09d}"))


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household

    household_no = factory.Sequence(lambda n: with_mod11(f"{n + 1:09d}"))
    created_on = dt.date(2020, 4, 1)


class ChangeRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChangeRequest

    kind = "move_within"
    effective_date = dt.date(2026, 4, 1)
    moves: Any = factory.LazyFunction(list)
    created_by = "staff:clerk1"


class NumberSequenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NumberSequence

    name = "atena"
    next_value = 1


class ResidentCodePoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResidentCodePool

    code = factory.Sequence(lambda n: f"{90000000000 + n:011d}")


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suppression

    target_kind = "person"
    target = factory.Sequence(lambda n: with_mod11(f"{n + 1:09d}"))
    process = "issuance"
    level = "error"
    reason = "other"
    start_date = dt.date(2026, 4, 1)
    created_by = "staff:approver1"
    created_at = factory.LazyFunction(timezone.now)


class SupportMeasureFactory(factory.django.DjangoModelFactory):
    """An active 支援措置 of one year from 2026-04-01 (add its persons with SupportMeasurePersonFactory)."""

    class Meta:
        model = SupportMeasure

    applicant = factory.Sequence(lambda n: with_mod11(f"{n + 1:09d}"))
    status = "active"
    received_on = dt.date(2026, 4, 1)
    start_date = dt.date(2026, 4, 1)
    end_date = dt.date(2027, 3, 31)
    created_by = "staff:approver1"
    created_at = factory.LazyFunction(timezone.now)


class SupportMeasurePersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupportMeasurePerson

    measure_id = factory.LazyFunction(new_id)
    atena_no = factory.Sequence(lambda n: with_mod11(f"{n + 1:09d}"))
    role = "applicant"
