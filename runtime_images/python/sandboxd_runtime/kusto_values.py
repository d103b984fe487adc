"""Kusto's datetime and timespan values on the Python side.

Kusto keeps both as 100-ns ticks in an int64 (SBXT: datetime ticks count from the Unix epoch).
pandas' datetime64[ns] / timedelta64[ns] hold every tick exactly, but only between 1677-09-21
and 2262-04-11 (about +-292 years around 1970), while Kusto's datetime runs from 0001-01-01 to
9999-12-31T23:59:59.9999999. A column with any value outside the nanosecond range therefore
comes into `df` as an `object` column of the classes below: `datetime.datetime` and
`datetime.timedelta` subclasses that also remember the 100-ns digit Python's microsecond types
cannot hold, so `result = df` gives back exactly the ticks that came in.

Arithmetic on them gives plain `datetime` / `timedelta` values at microsecond precision (or, for
`datetime`, instances of the subclass without the extra digit), which is all a script can expect.
"""

import datetime
import re

TICKS_PER_MICROSECOND = 10
TICKS_PER_SECOND = 10_000_000
NANOSECONDS_PER_TICK = 100

# Kusto's datetime range, in ticks since 1970-01-01 (client_lib/include/sandboxd/types.h).
MIN_DATETIME_TICKS = -621355968000000000
MAX_DATETIME_TICKS = 2534023007999999999
MIN_TIMESPAN_TICKS = -(2**63)
MAX_TIMESPAN_TICKS = 2**63 - 1

# Ticks whose nanosecond count fits int64 without colliding with NaT (= -2**63): the values
# datetime64[ns] and timedelta64[ns] can carry.
NS_SAFE_TICKS = (2**63 - 1) // NANOSECONDS_PER_TICK

_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=datetime.timezone.utc)
_EPOCH_ORDINAL = _EPOCH.toordinal()


def timedelta_ticks(value):
    """Exact ticks of a datetime.timedelta (microsecond resolution, so a multiple of 10)."""
    microseconds = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    return microseconds * TICKS_PER_MICROSECOND


def datetime_ticks(value):
    """Ticks since the epoch of a datetime.datetime; a naive value is taken as UTC."""
    epoch = _EPOCH if value.utcoffset() is None else _EPOCH_UTC
    return timedelta_ticks(value - epoch)


class KustoDateTime(datetime.datetime):
    """A datetime.datetime that also keeps Kusto's 100-ns digit (`nanosecond` is 0..900)."""

    __slots__ = ("_extra_ticks",)

    def __new__(cls, *args, **kwargs):
        # datetime calls the subclass with plain fields for replace() and `+`: those results
        # have no digit beyond the microsecond.
        self = super().__new__(cls, *args, **kwargs)
        self._extra_ticks = 0
        return self

    @classmethod
    def from_ticks(cls, ticks):
        micro, extra = divmod(ticks, TICKS_PER_MICROSECOND)
        base = _EPOCH + datetime.timedelta(microseconds=micro)
        self = cls(base.year, base.month, base.day, base.hour, base.minute, base.second,
                   base.microsecond)
        self._extra_ticks = extra
        return self

    @property
    def ticks(self):
        return datetime_ticks(self) + self._extra_ticks

    @property
    def nanosecond(self):
        """Like pandas.Timestamp.nanosecond: the part below the microsecond, in ns."""
        return self._extra_ticks * NANOSECONDS_PER_TICK

    def __reduce_ex__(self, protocol):
        # datetime's own reduction rebuilds from the fields alone and would drop the extra digit.
        if self._extra_ticks:
            return (type(self).from_ticks, (self.ticks,))
        return super().__reduce_ex__(protocol)

    def __repr__(self):
        text = super().__repr__()
        if self._extra_ticks:
            text = f"{text[:-1]}, nanosecond={self.nanosecond})"
        return text


class KustoTimeDelta(datetime.timedelta):
    """A datetime.timedelta that also keeps Kusto's 100-ns digit (`nanoseconds` is 0..900)."""

    __slots__ = ("_extra_ticks",)

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls, *args, **kwargs)
        self._extra_ticks = 0
        return self

    @classmethod
    def from_ticks(cls, ticks):
        micro, extra = divmod(ticks, TICKS_PER_MICROSECOND)
        base = datetime.timedelta(microseconds=micro)
        self = cls(base.days, base.seconds, base.microseconds)
        self._extra_ticks = extra
        return self

    @property
    def ticks(self):
        return timedelta_ticks(self) + self._extra_ticks

    @property
    def nanoseconds(self):
        """Like pandas.Timedelta.nanoseconds: the part below the microsecond, in ns."""
        return self._extra_ticks * NANOSECONDS_PER_TICK

    def __reduce_ex__(self, protocol):
        if self._extra_ticks:
            return (type(self).from_ticks, (self.ticks,))
        return super().__reduce_ex__(protocol)

    def __repr__(self):
        text = super().__repr__()
        if self._extra_ticks:
            text = f"{text[:-1]}, nanoseconds={self.nanoseconds})"
        return text


# --- Kusto's text forms -------------------------------------------------------------------------

def _fraction_text(ticks_of_second):
    return ("." + f"{ticks_of_second:07d}".rstrip("0")) if ticks_of_second else ""


def format_datetime(ticks):
    """2024-01-31T12:00:00.1234567Z, the fraction trimmed of trailing zeros (as Kusto prints)."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    value = _EPOCH + datetime.timedelta(seconds=seconds)
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}{_fraction_text(fraction)}Z")


def format_timespan(ticks):
    """[-][d.]hh:mm:ss[.fffffff]"""
    sign = "-" if ticks < 0 else ""
    seconds, fraction = divmod(abs(ticks), TICKS_PER_SECOND)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    day_text = f"{days}." if days else ""
    return f"{sign}{day_text}{hour:02d}:{minute:02d}:{second:02d}{_fraction_text(fraction)}"


_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?")

_TIMESPAN_RE = re.compile(r"(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?")


def parse_datetime(text):
    """Ticks of an ISO 8601 date or date-time (no zone or Z = UTC; +hh:mm offsets converted).

    Only this one unambiguous form is accepted; digits beyond the 100-ns one are truncated, as
    Kusto truncates. ValueError for anything else or a value outside Kusto's range.
    """
    match = _DATETIME_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError("not an ISO 8601 date-time")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    days = datetime.date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    hour, minute, second = int(hour or 0), int(minute or 0), int(second or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("time of day out of range")
    ticks = (days * 86400 + hour * 3600 + minute * 60 + second) * TICKS_PER_SECOND
    ticks += int((fraction or "").ljust(9, "0")) // NANOSECONDS_PER_TICK
    if zone and zone not in ("Z", "z"):
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[-2:])
        if zone_hours > 23 or zone_minutes > 59:
            raise ValueError("zone offset out of range")
        offset = (zone_hours * 3600 + zone_minutes * 60) * TICKS_PER_SECOND
        ticks -= offset if zone[0] == "+" else -offset
    if not MIN_DATETIME_TICKS <= ticks <= MAX_DATETIME_TICKS:
        raise ValueError("outside Kusto's datetime range")
    return ticks


def parse_timespan(text):
    """Ticks of Kusto's timespan text [-][d.]hh:mm:ss[.fffffff]; ValueError otherwise."""
    match = _TIMESPAN_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError("not a timespan of the form [-][d.]hh:mm:ss[.fffffff]")
    sign, days, hours, minutes, seconds, fraction = match.groups()
    hours, minutes, seconds = int(hours), int(minutes), int(seconds)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError("hours, minutes or seconds out of range")
    ticks = (int(days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds) * TICKS_PER_SECOND
    ticks += int((fraction or "").ljust(7, "0"))
    ticks = -ticks if sign else ticks
    if not MIN_TIMESPAN_TICKS <= ticks <= MAX_TIMESPAN_TICKS:
        raise ValueError("outside the timespan range")
    return ticks
