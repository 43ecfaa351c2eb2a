"""A clock that moves only when a test moves it (``clock.t``), for time-based rules."""


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t
