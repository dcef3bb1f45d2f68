"""Key types whose built-in hash changes with PYTHONHASHSEED, importable by worker processes."""
import datetime
import decimal
import enum
import uuid
from dataclasses import dataclass


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass(frozen=True)
class Point:
    x: int
    label: str


UTC = datetime.timezone.utc
PLUS2 = datetime.timezone(datetime.timedelta(hours=2))

KEYS = [
    "word", b"bytes", 7, 2.5, None, ("a", 1, (b"x", None)), frozenset({"p", "q"}),
    datetime.datetime(2026, 12, 2, 3, 4, 5, 6), datetime.datetime(2026, 12, 2, 3, 4, 5, tzinfo=UTC),
    datetime.date(2026, 12, 2), datetime.time(3, 4, 5), datetime.timedelta(seconds=90),
    Color.RED, Color.BLUE, Level.HIGH, Point(1, "one"), Point(2, "two"), decimal.Decimal("1.5"),
    uuid.UUID(int=12345), ("tuple", Color.RED, Point(3, "three")),
]
