"""Property-based fuzzing of the family's model-name parser (``ultra_llm_docker.names``): only the
typed error comes out, and every name it accepts is safe on a command line and in a URL path."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ultra_llm_docker.names import normalize_model_name, short_model_name

from ultra_llm.errors import InvalidModelNameError

NAME_ALPHABET = string.ascii_letters + string.digits + "/:._-@ \t\n;$`'\"\\|&<>()[]{}*?!~#%^+=,"
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(alphabet=NAME_ALPHABET, max_size=80) | st.text(max_size=40))
def test_model_names_parse_or_raise_the_typed_error(name: str) -> None:
    try:
        canonical = normalize_model_name(name)
    except InvalidModelNameError as error:
        assert error.fix
        return
    # A valid name is safe on a command line and in a URL path, and normalisation is idempotent.
    assert not canonical.startswith("-")
    assert not set(canonical) & set(" \t\n;$`'\"\\|&<>()[]{}*?!~#%^+=,")
    assert normalize_model_name(canonical) == canonical
    assert normalize_model_name(short_model_name(canonical)) == canonical
