use super::*;
use dun_strategy::testing::CaseBuilder;
use dun_strategy::{Action, Channel, Date, InvoiceStatus, Tone};

const TODAY: Date = Date {
    year: 2026,
    month: 5,
    day: 20,
};

fn reminders(plan: &Plan) -> Vec<(Channel, Tone, Vec<String>)> {
    plan.reminders()
        .map(|r| (r.channel, r.tone, r.invoice_ids.clone()))
        .collect()
}

fn one(channel: Channel, tone: Tone, id: &str) -> (Channel, Tone, Vec<String>) {
    (channel, tone, vec![id.to_string()])
}

#[test]
fn each_rung_at_its_age() {
    let cases = [
        (-5, vec![]),
        (-3, vec![one(Channel::Email, Tone::Courtesy, "a")]),
        (0, vec![one(Channel::Email, Tone::Courtesy, "a")]),
        (1, vec![one(Channel::Email, Tone::Gentle, "a")]),
        (
            7,
            vec![
                one(Channel::Email, Tone::Firm, "a"),
                one(Channel::Sms, Tone::Firm, "a"),
            ],
        ),
        (21, vec![one(Channel::Letter, Tone::Final, "a")]),
    ];
    for (age, expected) in cases {
        let plan = plan(&CaseBuilder::new(TODAY).invoice("a", 100_00, age).build());
        assert_eq!(reminders(&plan), expected, "{age} days overdue");
    }
}

#[test]
fn a_rung_goes_out_once() {
    let case = CaseBuilder::new(TODAY)
        .invoice("a", 100_00, 3)
        .contact(2, Channel::Email, Tone::Gentle, &["a"])
        .build();
    let plan = plan(&case);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    // Next rung (firm) on day 7, reviewed at 09:00 local.
    assert_eq!(
        plan.review_at,
        Some(local_time(TODAY.add_days(4), 9, 0, "UTC"))
    );
}

#[test]
fn a_suppressed_contact_does_not_count() {
    let mut case = CaseBuilder::new(TODAY)
        .invoice("a", 100_00, 3)
        .contact(2, Channel::Email, Tone::Gentle, &["a"])
        .build();
    case.contacts[0].outcome = dun_strategy::ContactOutcome::Suppressed;
    assert_eq!(
        reminders(&plan(&case)),
        vec![one(Channel::Email, Tone::Gentle, "a")]
    );
}

#[test]
fn invoices_on_the_same_rung_share_one_message() {
    let case = CaseBuilder::new(TODAY)
        .invoice("a", 100_00, 2)
        .invoice("b", 50_00, 5)
        .invoice("c", 70_00, 9)
        .build();
    assert_eq!(
        reminders(&plan(&case)),
        vec![
            (Channel::Email, Tone::Gentle, vec!["a".into(), "b".into()]),
            one(Channel::Email, Tone::Firm, "c"),
            one(Channel::Sms, Tone::Firm, "c"),
        ]
    );
}

#[test]
fn escalates_after_a_final_notice_only() {
    let late = CaseBuilder::new(TODAY).invoice("a", 100_00, 50).build();
    let plan_late = plan(&late);
    assert_eq!(
        reminders(&plan_late),
        vec![one(Channel::Letter, Tone::Final, "a")]
    );
    assert!(
        !plan_late
            .actions
            .iter()
            .any(|a| matches!(a, Action::Escalate(_)))
    );
    assert_eq!(
        plan_late.review_at,
        Some(local_time(TODAY.add_days(14), 9, 0, "UTC"))
    );

    let after_final = CaseBuilder::new(TODAY)
        .invoice("a", 100_00, 45)
        .contact(24, Channel::Letter, Tone::Final, &["a"])
        .build();
    let plan = plan(&after_final);
    assert!(reminders(&plan).is_empty());
    assert!(matches!(
        &plan.actions[..],
        [Action::Escalate(e)] if e.invoice_ids == ["a"] && e.target == EscalationTarget::CollectionAgency
    ));
}

#[test]
fn disputes_plans_and_collection_are_left_alone() {
    for status in [
        InvoiceStatus::Disputed,
        InvoiceStatus::InPlan,
        InvoiceStatus::InCollection,
    ] {
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 10)
            .with_last_invoice(|i| i.status = status)
            .build();
        let plan = plan(&case);
        assert!(plan.actions.is_empty(), "{status:?}");
        assert_eq!(plan.review_at, None, "{status:?}");
    }
}

#[test]
fn a_promise_defers_until_the_morning_after() {
    let promised_on = TODAY.add_days(5);
    let case = CaseBuilder::new(TODAY)
        .zone("Europe/Berlin")
        .invoice("a", 100_00, 10)
        .with_last_invoice(|i| {
            i.status = InvoiceStatus::Promised;
            i.promised_on = Some(promised_on);
        })
        .build();
    let deferred = plan(&case);
    assert!(deferred.actions.is_empty());
    assert_eq!(
        deferred.review_at,
        Some(local_time(promised_on.add_days(1), 9, 0, "Europe/Berlin"))
    );

    // A broken promise puts the invoice back on the ladder.
    let broken = CaseBuilder::new(TODAY)
        .invoice("a", 100_00, 10)
        .with_last_invoice(|i| {
            i.status = InvoiceStatus::Promised;
            i.promised_on = Some(TODAY.add_days(-1));
        })
        .build();
    assert_eq!(reminders(&plan(&broken)).len(), 2);
}

#[test]
fn falls_back_to_email_without_a_postal_address() {
    let case = CaseBuilder::new(TODAY)
        .channels(&[Channel::Email])
        .invoice("a", 100_00, 25)
        .build();
    assert_eq!(
        reminders(&plan(&case)),
        vec![one(Channel::Email, Tone::Final, "a")]
    );
}

#[test]
fn nothing_open_means_nothing_to_do() {
    let plan = plan(&CaseBuilder::new(TODAY).build());
    assert!(plan.actions.is_empty());
    assert_eq!(plan.review_at, None);
}

#[test]
fn review_is_never_more_than_a_year_ahead() {
    let case = CaseBuilder::new(TODAY).invoice("a", 100_00, -800).build();
    let plan = plan(&case);
    assert!(plan.actions.is_empty());
    assert_eq!(plan.review_at, Some(case.now + 365 * dun_strategy::DAY));
}
