"""The 符号 table in the gateway's database (``CodeStore`` of :mod:`.domain.codes`)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from .domain.codes import CodeError
from .models import GatewayCode

__all__ = ["DbCodeStore"]


class DbCodeStore:
    """(organisation, person key) ⇄ code, append-only. The key material is never stored here."""

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def code_of(self, org_id: str, person_key: str) -> str | None:
        return (GatewayCode.objects.using(self.using).filter(org_id=org_id, person_key=person_key)
                .values_list("code", flat=True).first())

    def person_of(self, org_id: str, code: str) -> str | None:
        return (GatewayCode.objects.using(self.using).filter(org_id=org_id, code=code)
                .values_list("person_key", flat=True).first())

    def codes_of_person(self, person_key: str) -> list[tuple[str, str]]:
        """Every (organisation, code) issued for one person (for the 情報提供等記録)."""
        return list(GatewayCode.objects.using(self.using).filter(person_key=person_key)
                    .order_by("org_id").values_list("org_id", "code"))

    def add(self, org_id: str, person_key: str, code: str) -> None:
        try:
            with transaction.atomic(using=self.using):
                GatewayCode(org_id=org_id, code=code, person_key=person_key).save(using=self.using, force_insert=True)
        except IntegrityError:
            # Another process issued it at the same moment: the derivation is deterministic, so the
            # stored row must be exactly this one.
            if self.code_of(org_id, person_key) != code or self.person_of(org_id, code) != person_key:
                raise CodeError("この符号はすでに別の対応で発行されています") from None
