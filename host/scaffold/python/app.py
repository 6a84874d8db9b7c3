"""__NAME__: a dun collection strategy, in Python.

The host calls `decide` with one debtor's case (their open invoices, past
contacts, payment history and this segment's config) and carries out the
plan it returns, after its own guardrails (quiet hours, caps, opt-outs).
This one reminds about each overdue invoice in a tone that grows with the
days overdue (gentle, firm, final), by email (a final notice by letter when
the debtor has an address), at a fixed local hour, and not again in the same
tone within `repeat_after_days`.

Change `plan`, then: `./build.sh` (the component, with componentize-py) and
`dun plugin test __CRATE__.wasm tests/`.

componentize-py runs this module's top level once, at build time; each
decision runs in a fresh instance, so nothing carries over between debtors.
"""

import json
from typing import Dict, List, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.imports import calendar, log
from wit_world.imports.types import (
    Action,
    Action_Remind,
    Case,
    Channel,
    ContactOutcome,
    Date,
    Info,
    Invoice,
    InvoiceStatus,
    Plan,
    Reminder,
    Tone,
)

NAME = "__NAME__"
VERSION = "0.1.0"

DAY = 86_400
HOUR = 3_600

# The segment's config: every field is optional.
DEFAULTS: Dict[str, int] = {
    # Days overdue from which reminders are firm.
    "firm_after_days": 10,
    # Days overdue from which they are final (by letter when possible).
    "final_after_days": 30,
    # The debtor's local hour at which reminders go (0-23).
    "hour": 10,
    # Days before the same tone is used again about an invoice.
    "repeat_after_days": 7,
}

# The config as JSON Schema: the host checks a segment's config against it
# when the segment is saved.
CONFIG_SCHEMA = json.dumps(
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "firm_after_days": {"type": "integer", "minimum": 1},
            "final_after_days": {"type": "integer", "minimum": 1},
            "hour": {"type": "integer", "minimum": 0, "maximum": 23},
            "repeat_after_days": {"type": "integer", "minimum": 1},
        },
    }
)

RANK = {Tone.COURTESY: 0, Tone.GENTLE: 1, Tone.FIRM: 2, Tone.FINAL: 3}


def config_of(case: Case) -> Dict[str, int]:
    """The segment's config over the defaults; a bad one refuses the case."""
    try:
        given = json.loads(case.config or "{}")
    except ValueError as e:
        raise Err(f"invalid config: {e}")
    if not isinstance(given, dict):
        raise Err("invalid config: must be a JSON object")
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise Err(f"invalid config: unknown field `{unknown[0]}`")
    config = dict(DEFAULTS)
    for key, value in given.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise Err(f"invalid config: `{key}` must be an integer")
        config[key] = value
    return config


# --- The debtor's calendar, from the host's time-zone rules.


def days_of(date: Date) -> int:
    """Days since 1970-01-01."""
    year = date.year - (1 if date.month <= 2 else 0)
    era = year // 400
    yoe = year % 400
    mp = (date.month + 9) % 12
    doy = (153 * mp + 2) // 5 + date.day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def from_days(days: int) -> Date:
    """The date `days` days after 1970-01-01."""
    z = days + 719_468
    era = z // 146_097
    doe = z % 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return Date(year=year, month=month, day=day)


def offset(zone: str, at: int) -> int:
    """Seconds east of UTC in `zone` at `at`; 0 for an unknown zone."""
    found = calendar.utc_offset(zone, at)
    return 0 if found is None else found


def local_date(at: int, zone: str) -> Date:
    return from_days((at + offset(zone, at)) // DAY)


def local_hour(at: int, zone: str) -> int:
    return ((at + offset(zone, at)) % DAY) // HOUR


def local_time(date: Date, hour: int, zone: str) -> int:
    """The instant the wall clock in `zone` shows `hour:00` on `date`;
    inside a daylight-saving gap, the first instant after it."""
    wall = days_of(date) * DAY + hour * HOUR
    guess = wall - offset(zone, wall)
    exact = wall - offset(zone, guess)
    if exact + offset(zone, exact) == wall:
        return exact
    return max(exact, guess)


def next_local_hour(at: int, hour: int, zone: str) -> int:
    """The first instant at or after `at` when it is `hour:00` in `zone`."""
    today = local_date(at, zone)
    candidate = local_time(today, hour, zone)
    if candidate >= at:
        return candidate
    return local_time(from_days(days_of(today) + 1), hour, zone)


# --- The policy.


def is_actionable(invoice: Invoice, today: Date) -> bool:
    """Not disputed, in a plan or in collection, nor under a live promise."""
    if invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID):
        return True
    if invoice.status == InvoiceStatus.PROMISED:
        promised = invoice.promised_on
        return promised is None or days_of(promised) < days_of(today)
    return False


def tone_for(config: Dict[str, int], days_overdue: int) -> Tone:
    if days_overdue >= config["final_after_days"]:
        return Tone.FINAL
    if days_overdue >= config["firm_after_days"]:
        return Tone.FIRM
    return Tone.GENTLE


def plan(case: Case) -> Plan:
    config = config_of(case)
    zone = case.debtor.time_zone
    today = local_date(case.now, zone)
    since = case.now - config["repeat_after_days"] * DAY
    by_tone: List[Tuple[Tone, List[str]]] = []
    for invoice in case.invoices:
        if not is_actionable(invoice, today) or invoice.days_overdue <= 0:
            continue
        tone = tone_for(config, invoice.days_overdue)
        reminded = any(
            c.outcome not in (ContactOutcome.SUPPRESSED, ContactOutcome.FAILED)
            and c.at > since
            and RANK[c.tone] >= RANK[tone]
            and invoice.id in c.invoice_ids
            for c in case.contacts
        )
        if reminded:
            continue
        for entry in by_tone:
            if entry[0] == tone:
                entry[1].append(invoice.id)
                break
        else:
            by_tone.append((tone, [invoice.id]))
    hour = config["hour"]
    send_at = case.now if local_hour(case.now, zone) == hour else next_local_hour(case.now, hour, zone)
    channels = case.debtor.channels
    actions: List[Action] = []
    for tone, ids in by_tone:
        if tone == Tone.FINAL and Channel.LETTER in channels:
            channel = Channel.LETTER
        elif Channel.EMAIL in channels:
            channel = Channel.EMAIL
        elif Channel.SMS in channels:
            channel = Channel.SMS
        else:
            log.log(log.Level.WARN, "no channel to reach the debtor on")
            continue
        actions.append(
            Action_Remind(
                Reminder(channel=channel, tone=tone, invoice_ids=ids, send_at=send_at, template=None)
            )
        )
    # Look again tomorrow at the same hour (sooner if something happens).
    review_at = max(next_local_hour(case.now + 1, hour, zone), case.now + DAY // 2)
    return Plan(actions=actions, review_at=review_at, note=NAME)


class WitWorld(wit_world.WitWorld):
    """The component's exports."""

    def describe(self) -> Info:
        return Info(
            name=NAME,
            version=VERSION,
            description="Reminds about overdue invoices, gentle then firm then final.",
            config_schema=CONFIG_SCHEMA,
        )

    def decide(self, c: Case) -> Plan:
        return plan(c)
