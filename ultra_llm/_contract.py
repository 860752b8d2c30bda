"""The kernel contract a plugin declares: ``ULTRA_LLM_CONTRACT = ">=0.4,<0.5"`` in its entry-point module.

A plugin family built against one kernel (its hooks, its Protocols, its error classes) says which
kernel versions it was built for; the host refuses it under any other, naming both versions and what
to install, instead of letting it fail later on a missing name. A plugin that declares nothing is
not checked. The grammar is a comma-separated list of ``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=``
clauses on dotted release numbers (``0.4``, ``0.4.1``), compared as numbers, missing parts as 0.
"""

from __future__ import annotations

import re

__all__ = ["CONTRACT_ATTRIBUTE", "contract_problem", "version_in"]

CONTRACT_ATTRIBUTE = "ULTRA_LLM_CONTRACT"

_CLAUSE = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*([0-9]+(?:\.[0-9]+)*)\s*")
_RELEASE = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def _release(version: str) -> tuple[int, ...]:
    found = _RELEASE.match(version.strip())
    if found is None:
        raise ValueError(f"{version!r} is not a version")
    parts = [int(part) for part in found.group(0).split(".")]
    return tuple(parts + [0] * (4 - len(parts)))


def version_in(version: str, contract: str) -> bool:
    """Whether ``version`` satisfies every clause of ``contract``; ``ValueError`` for an unreadable one."""
    have = _release(version)
    clauses = contract.split(",")
    if not contract.strip():
        raise ValueError("the contract is empty")
    for clause in clauses:
        found = _CLAUSE.fullmatch(clause)
        if found is None:
            raise ValueError(f"{clause.strip()!r} is not a clause such as '>=0.4'")
        operator, wanted = found.group(1), _release(found.group(2))
        if not {
            ">=": have >= wanted,
            "<=": have <= wanted,
            ">": have > wanted,
            "<": have < wanted,
            "==": have == wanted,
            "!=": have != wanted,
        }[operator]:
            return False
    return True


def contract_problem(plugin: object, kernel_version: str, distribution: str | None) -> str | None:
    """Why ``plugin`` (an entry-point module or object) cannot load under kernel ``kernel_version``,
    or ``None`` when it declares no contract or the kernel meets it."""
    contract = getattr(plugin, CONTRACT_ATTRIBUTE, None)
    if contract is None:
        return None
    package = distribution or "the plugin"
    if not isinstance(contract, str):
        return f"declares {CONTRACT_ATTRIBUTE} = {contract!r}, which is not a version range such as '>=0.4,<0.5'"
    try:
        met = version_in(kernel_version, contract)
    except ValueError as exc:
        return f"declares an unreadable {CONTRACT_ATTRIBUTE} {contract!r}: {exc}"
    if met:
        return None
    return (
        f"was built for ultra-llm {contract}, but this is ultra-llm {kernel_version}: install a release of "
        f"{package} built for ultra-llm {kernel_version} (`pip install -U {package}`), or ultra-llm {contract}"
    )
