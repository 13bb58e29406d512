"""An httpx transport that misbehaves on request, in front of any provider (or fake).

The adapter contract suite uses it so that every adapter meets the same faults the same
way: a scripted status, an answer lost after the provider acted on the request, a body
that is not what the API describes, and the previous answer served again (a provider
stuck on one page token).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

__all__ = ["FaultyTransport"]

Fault = Callable[[httpx.Request], httpx.Response]


class FaultyTransport(httpx.BaseTransport):
    """`writes_lose_answers`: a lost answer waits for the next write (a provider whose
    creates first look for what an earlier attempt made, with a GET, as GitHub's)."""

    def __init__(self, inner: httpx.BaseTransport, *, writes_lose_answers: bool = False) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self._faults: list[Fault] = []
        self._armed: list[tuple[Callable[[httpx.Request], bool], Fault]] = []
        self._last: httpx.Response | None = None
        self._lost: set[int] = set()  # ids of the faults that lose an answer
        self._writes_lose_answers = writes_lose_answers

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for i, (matches, fault) in enumerate(self._armed):
            if matches(request):
                del self._armed[i]
                return fault(request)
        if self._faults:
            waits = self._writes_lose_answers and request.method == "GET"
            if not (waits and id(self._faults[0]) in self._lost):
                return self._faults.pop(0)(request)
        return self._forward(request)

    def _forward(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        content = response.read()
        response.close()
        self._last = httpx.Response(response.status_code, headers=response.headers, content=content)
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def answer(
        self,
        status: int,
        *,
        content: bytes = b"",
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> None:
        """The next `count` requests get this answer without reaching the provider."""
        for _ in range(count):
            self._faults.append(
                lambda request: httpx.Response(status, headers=headers, content=content)
            )

    def pass_next(self, count: int = 1) -> None:
        """The next `count` requests reach the provider (later faults wait behind them)."""
        for _ in range(count):
            self._faults.append(self._forward)

    def lose_next_answer(self, matching: Callable[[httpx.Request], bool] | None = None) -> None:
        """The provider handles the next request (the next one `matching`, if given: the
        requests before it pass), but its answer never arrives."""

        def lost(request: httpx.Request) -> httpx.Response:
            self._forward(request)
            raise httpx.ReadError("connection reset after the request was sent", request=request)

        if matching is None:
            self._lost.add(id(lost))
            self._faults.append(lost)
        else:
            self._armed.append((matching, lost))

    def repeat_last_answer(self) -> None:
        """The next request gets the previous answer again (the same next-page token)."""

        def repeat(request: httpx.Request) -> httpx.Response:
            assert self._last is not None, "nothing answered yet"
            return httpx.Response(
                self._last.status_code, headers=self._last.headers, content=self._last.content
            )

        self._faults.append(repeat)

    def close(self) -> None:
        self.inner.close()
