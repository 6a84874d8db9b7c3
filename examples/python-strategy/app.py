"""The classic dunning ladder as a dun strategy written in Python.

A line-for-line port of the Rust reference strategy `plugins/ladder`, so the
same case gives the same plan (actions, review time and note) from either
component. Built into a WebAssembly component with componentize-py against
`wit/v0.1.0` (see README.md and build.sh beside this file).

| days overdue | step |
| --- | --- |
| -3 to 0 | courtesy email ("coming due") |
| 1 to 6 | gentle email |
| 7 to 20 | firm email and SMS (the templates name the late fee) |
| 21 to 44 | final notice by letter (email when there is no postal address) |
| 45 and later | hand-off to a collection agency, once a final notice went out |

Each step goes out once per invoice; an invoice first seen late gets the step
for its age, not every step it missed. Invoices at the same step share one
message per channel. Disputed invoices, invoices in a payment plan or in
collection are left alone; a promise to pay defers the invoice until the
morning after the promised date. A paid invoice is never in the case, so
payment stops the ladder.

componentize-py runs this module's top level once, at build time, and keeps
the resulting interpreter state in the component: imports and constants cost
nothing per decision. Each decision then runs in a fresh instance.
"""

from typing import Dict, List, Optional, Tuple

import wit_world
from wit_world.imports import calendar, log
from wit_world.imports.types import (
    Action,
    Action_Escalate,
    Action_Remind,
    Case,
    Channel,
    ContactOutcome,
    Date,
    Escalation,
    EscalationTarget,
    Info,
    Invoice,
    InvoiceStatus,
    Plan,
    Reminder,
    Tone,
)

VERSION = "0.1.0"

DAY = 86_400
HOUR = 3_600

# The rungs of the ladder, by the first day overdue they apply. A tone is a
# reminder in that tone; ESCALATE hands the invoice over.
ESCALATE = "escalate"
STEPS: List[Tuple[int, object]] = [
    (-3, Tone.COURTESY),
    (1, Tone.GENTLE),
    (7, Tone.FIRM),
    (21, Tone.FINAL),
    (45, ESCALATE),
]

# Days after a late final notice before escalating.
FINAL_NOTICE_PERIOD_DAYS = 14

# Local hour at which the ladder asks to be reviewed on a step's day.
REVIEW_HOUR = 9

# The furthest ahead the ladder asks to be reviewed; the host refuses plans
# that schedule anything much further.
MAX_REVIEW_DAYS = 365

# Tones by position on the ladder and by the name the notes use.
RANK = {Tone.COURTESY: 0, Tone.GENTLE: 1, Tone.FIRM: 2, Tone.FINAL: 3}
LABEL = {
    Tone.COURTESY: "courtesy",
    Tone.GENTLE: "gentle",
    Tone.FIRM: "firm",
    Tone.FINAL: "final",
}

# The channels a tone goes out on, in order of preference.
WANTED = {
    Tone.COURTESY: (Channel.EMAIL,),
    Tone.GENTLE: (Channel.EMAIL,),
    Tone.FIRM: (Channel.EMAIL, Channel.SMS),
    Tone.FINAL: (Channel.LETTER,),
}


# --- Calendar: the SDK's arithmetic (Howard Hinnant's days_from_civil), so
# --- dates work for any year the contract can carry, as in Rust.


def days_of(date: Date) -> int:
    """Days since 1970-01-01 (negative for earlier dates)."""
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


def add_days(date: Date, n: int) -> Date:
    return from_days(days_of(date) + n)


def before(a: Date, b: Date) -> bool:
    return (a.year, a.month, a.day) < (b.year, b.month, b.day)


def offset_or_utc(zone: str, at: int) -> int:
    """Seconds east of UTC in `zone` at `at`, from the host; 0 if unknown."""
    offset = calendar.utc_offset(zone, at)
    return 0 if offset is None else offset


def local_date(at: int, zone: str) -> Date:
    return from_days((at + offset_or_utc(zone, at)) // DAY)


def local_time(date: Date, hour: int, minute: int, zone: str) -> int:
    """The instant the wall clock in `zone` shows `hour:minute` on `date`;
    inside a daylight-saving gap, the first instant after it."""
    wall = days_of(date) * DAY + hour * HOUR + minute * 60
    guess = wall - offset_or_utc(zone, wall)
    exact = wall - offset_or_utc(zone, guess)
    if exact + offset_or_utc(zone, exact) == wall:
        return exact
    return max(exact, guess)


# --- Questions about a case (the SDK's helpers).


def is_actionable(invoice: Invoice, today: Date) -> bool:
    """Not disputed, in a plan or in collection, nor under a live promise."""
    status = invoice.status
    if status in (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID):
        return True
    if status == InvoiceStatus.PROMISED:
        return invoice.promised_on is None or before(invoice.promised_on, today)
    return False


def was_contacted(case: Case, invoice_id: str, tone: Tone) -> bool:
    """Some contact about the invoice in `tone` or a sterner one went out."""
    sternest = -1
    for contact in case.contacts:
        if contact.outcome in (ContactOutcome.SUPPRESSED, ContactOutcome.FAILED):
            continue
        if invoice_id in contact.invoice_ids:
            sternest = max(sternest, RANK[contact.tone])
    return sternest >= RANK[tone]


def step_for(days_overdue: int) -> Optional[object]:
    """The step an invoice `days_overdue` old is on, if any."""
    for day, step in reversed(STEPS):
        if days_overdue >= day:
            return step
    return None


def next_step_day(days_overdue: int) -> Optional[int]:
    """The first day overdue of the next step after `days_overdue`."""
    for day, _ in STEPS:
        if day > days_overdue:
            return day
    return None


def channels_for(tone: Tone, case: Case) -> List[Channel]:
    usable = [c for c in WANTED[tone] if c in case.debtor.channels]
    if not usable and Channel.EMAIL in case.debtor.channels:
        usable.append(Channel.EMAIL)
    return usable


# --- The policy.


class Ladder:
    """One decision's working state: the reminders grouped by (channel,
    tone) in first-seen order, the invoices to hand over, the earliest
    review time, and the note."""

    def __init__(self, case: Case):
        self.case = case
        self.zone = case.debtor.time_zone
        self.reminders: Dict[Tuple[Channel, Tone], List[str]] = {}
        self.escalate: List[str] = []
        self.steps_taken: List[str] = []
        self.review_at: Optional[int] = None

    def review_on(self, date: Date) -> None:
        """Ask to be reviewed at REVIEW_HOUR local on `date` (earliest wins)."""
        at = local_time(date, REVIEW_HOUR, 0, self.zone)
        if self.review_at is None or at < self.review_at:
            self.review_at = at

    def remind(self, tone: Tone, invoice: Invoice) -> None:
        for channel in channels_for(tone, self.case):
            self.reminders.setdefault((channel, tone), []).append(invoice.id)

    def plan(self) -> Plan:
        case = self.case
        today = local_date(case.now, self.zone)
        for invoice in case.invoices:
            if invoice.status == InvoiceStatus.PROMISED and not is_actionable(invoice, today):
                if invoice.promised_on is not None:
                    self.review_on(add_days(invoice.promised_on, 1))
                continue
            if not is_actionable(invoice, today):
                continue
            following = next_step_day(invoice.days_overdue)
            if following is not None:
                self.review_on(add_days(invoice.due_on, following))
            step = step_for(invoice.days_overdue)
            if step is None:
                pass
            elif step != ESCALATE:
                if not was_contacted(case, invoice.id, step):
                    self.remind(step, invoice)
                    self.steps_taken.append(f"{invoice.number} {LABEL[step]}")
            elif was_contacted(case, invoice.id, Tone.FINAL):
                self.escalate.append(invoice.id)
                self.steps_taken.append(f"{invoice.number} escalated")
            else:
                # Never hand over without a final notice: send it now and
                # escalate once its period has passed.
                self.remind(Tone.FINAL, invoice)
                self.steps_taken.append(f"{invoice.number} final (late)")
                self.review_on(add_days(today, FINAL_NOTICE_PERIOD_DAYS))

        actions: List[Action] = [
            Action_Remind(Reminder(channel, tone, ids, case.now, None))
            for (channel, tone), ids in self.reminders.items()
        ]
        if self.escalate:
            actions.append(
                Action_Escalate(
                    Escalation(
                        EscalationTarget.COLLECTION_AGENCY,
                        self.escalate,
                        "No payment 45 days after the due date and after a final notice.",
                    )
                )
            )
        review_at = self.review_at
        if review_at is not None:
            review_at = min(review_at, case.now + MAX_REVIEW_DAYS * DAY)
        note = "; ".join(self.steps_taken) or "nothing due on the ladder"
        return Plan(actions, review_at, note)


def plan(case: Case) -> Plan:
    """The ladder's plan for a case; reminders are sent at `case.now`."""
    return Ladder(case).plan()


class WitWorld(wit_world.WitWorld):
    """The component's exports (the `strategy` world)."""

    def describe(self) -> Info:
        return Info(
            name="ladder-python",
            version=VERSION,
            description=(
                "The classic dunning ladder, written in Python: a courtesy email 3 days "
                "before the due date, a gentle email the day after, a firm email and SMS "
                "at 7 days naming the late fee, a final notice by letter at 21 days, and a "
                "collection-agency hand-off at 45 days. Stops on payment, pauses on "
                "disputes, waits for promises to pay."
            ),
            config_schema=None,
        )

    def decide(self, c: Case) -> Plan:
        result = plan(c)
        log.log(
            log.Level.INFO,
            f"ladder-python: {len(c.invoices)} invoice(s), {len(result.actions)} action(s): {result.note}",
        )
        return result
