"""An attempt's failure as the attempt loop needs it: the caller's error plus flags set where the status is known.

The transport raises ``Failed`` (never the loop's job to guess from message text); the attempt loop
in ``request_path`` alone decides what each flag means for the request: resend, wait, fail over,
count against the endpoint, or give up with ``error``. Failures no other attempt could mend (a 4xx,
a malformed answer) are raised as their typed error directly.
"""

from __future__ import annotations

from ultra_llm.errors import UltraLLMError

__all__ = ["Failed"]


class Failed(Exception):
    """One attempt failed; ``error`` is what the caller sees if the request goes no further."""

    def __init__(
        self,
        error: UltraLLMError,
        *,
        retryable: bool,
        endpoint_fault: bool,
        stale: bool = False,
        loading: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        """Another attempt may succeed (connection failure, 408/429/5xx, a drop before any answer byte)."""
        self.endpoint_fault = endpoint_fault
        """The endpoint failed, not the request: counted towards its ejection; another endpoint may serve."""
        self.stale = stale
        """A reused keep-alive connection was closed before any byte of the answer: resend at once."""
        self.loading = loading
        """The server is loading the model: wait for it within the first-token deadline."""
        self.retry_after = retry_after
        """Seconds the server asked to wait (``Retry-After``), if it said."""
