"""Deterministic synthetic populations for the demo and the benchmarks (pure Python, no Django)."""

from __future__ import annotations

from moyai.residents.demo.generator import (
    MUNICIPALITIES,
    TenantPopulation,
    generate,
    iter_tenants,
    scaled_population,
)

__all__ = ["MUNICIPALITIES", "TenantPopulation", "generate", "iter_tenants", "scaled_population"]
