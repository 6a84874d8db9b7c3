//! The portal's wording, English and German. A debtor sees the language of
//! their built-in templates (`templates::builtin_language`: "de-AT" → German,
//! languages without a translation → English). `{name}` placeholders are
//! filled in by the page template.

use std::collections::BTreeMap;

/// (key, English, German)
const STRINGS: &[(&str, &str, &str)] = &[
    (
        "title",
        "Your invoices from {tenant}",
        "Ihre Rechnungen von {tenant}",
    ),
    ("greeting", "Hello {debtor},", "Guten Tag, {debtor},"),
    (
        "intro",
        "this page shows what is still open with {tenant} and what you can do about it.",
        "hier sehen Sie, was bei {tenant} noch offen ist, und was Sie tun können.",
    ),
    ("invoices", "Open invoices", "Offene Rechnungen"),
    ("col_invoice", "Invoice", "Rechnung"),
    ("col_due", "Due", "Fällig"),
    ("col_amount", "Amount", "Betrag"),
    ("col_fees", "Fees", "Gebühren"),
    ("col_open", "Outstanding", "Offen"),
    ("col_status", "Status", "Status"),
    ("total", "Total outstanding", "Offen insgesamt"),
    ("days_overdue", "{n} days overdue", "{n} Tage überfällig"),
    ("day_overdue", "1 day overdue", "1 Tag überfällig"),
    ("status_open", "Open", "Offen"),
    ("status_partially-paid", "Partly paid", "Teilweise bezahlt"),
    ("status_disputed", "Being looked into", "Wird geprüft"),
    (
        "status_promised",
        "Payment promised by {date}",
        "Zahlung zugesagt bis {date}",
    ),
    ("status_in-plan", "In a payment plan", "In Ratenzahlung"),
    (
        "status_in-collection",
        "Handed over for collection",
        "An das Inkasso übergeben",
    ),
    (
        "discount",
        "{percent}% off {invoices} if paid in full by {date}.",
        "{percent} % Nachlass auf {invoices} bei vollständiger Zahlung bis {date}.",
    ),
    (
        "nothing_owed",
        "You have no open invoices. Thank you!",
        "Sie haben keine offenen Rechnungen. Vielen Dank!",
    ),
    ("pay", "Pay now", "Jetzt bezahlen"),
    (
        "pay_intro",
        "Choose the invoices to pay. You will continue on {tenant}'s payment page.",
        "Wählen Sie die Rechnungen, die Sie bezahlen möchten. Sie gelangen dann zur Zahlungsseite von {tenant}.",
    ),
    ("pay_button", "Pay online", "Online bezahlen"),
    (
        "pay_none",
        "Choose at least one invoice.",
        "Wählen Sie mindestens eine Rechnung.",
    ),
    (
        "promise",
        "Promise to pay by a date",
        "Zahlung zu einem Termin zusagen",
    ),
    (
        "promise_intro",
        "Tell us when you will pay {amount}. We will not remind you before then.",
        "Sagen Sie uns, bis wann Sie {amount} bezahlen. Bis dahin erinnern wir Sie nicht.",
    ),
    ("promise_date", "I will pay by", "Ich zahle bis zum"),
    (
        "promise_date_hint",
        "Today or later, at most a year ahead.",
        "Heute oder später, höchstens ein Jahr im Voraus.",
    ),
    ("promise_currency", "Currency", "Währung"),
    ("promise_button", "Promise payment", "Zahlung zusagen"),
    (
        "promise_bad_date",
        "Choose a date from today up to one year ahead.",
        "Wählen Sie ein Datum von heute bis in einem Jahr.",
    ),
    (
        "promise_nothing",
        "There is nothing in this currency to promise.",
        "In dieser Währung ist nichts offen, das Sie zusagen könnten.",
    ),
    ("plan", "Pay in instalments", "In Raten zahlen"),
    (
        "plan_intro",
        "{tenant} offers you this payment plan for {invoices}:",
        "{tenant} bietet Ihnen diese Ratenzahlung für {invoices} an:",
    ),
    (
        "plan_valid",
        "The offer is open until {date}.",
        "Das Angebot gilt bis zum {date}.",
    ),
    (
        "plan_button",
        "Accept this payment plan",
        "Diese Ratenzahlung annehmen",
    ),
    (
        "plan_gone",
        "This offer is no longer open.",
        "Dieses Angebot gilt nicht mehr.",
    ),
    (
        "dispute",
        "Report a problem with an invoice",
        "Problem mit einer Rechnung melden",
    ),
    (
        "dispute_intro",
        "We will look into it and not remind you about that invoice meanwhile.",
        "Wir prüfen das und erinnern Sie in der Zeit nicht an diese Rechnung.",
    ),
    ("dispute_invoice", "Invoice", "Rechnung"),
    ("dispute_choose", "Choose an invoice", "Rechnung wählen"),
    ("dispute_reason", "What is wrong?", "Was stimmt nicht?"),
    ("dispute_button", "Send", "Absenden"),
    (
        "dispute_bad_invoice",
        "Choose one of your open invoices.",
        "Wählen Sie eine Ihrer offenen Rechnungen.",
    ),
    (
        "dispute_already",
        "This invoice is already being looked into.",
        "Diese Rechnung wird bereits geprüft.",
    ),
    (
        "dispute_bad_reason",
        "Tell us what is wrong, in at most 2,000 characters.",
        "Beschreiben Sie das Problem, in höchstens 2.000 Zeichen.",
    ),
    ("opt_out", "How we contact you", "Wie wir Sie erreichen"),
    (
        "opt_out_intro",
        "Choose a way you no longer want reminders on.",
        "Wählen Sie, auf welchem Weg Sie keine Erinnerungen mehr erhalten möchten.",
    ),
    (
        "opt_out_channel",
        "No more reminders by",
        "Keine Erinnerungen mehr per",
    ),
    (
        "opt_out_button",
        "Stop these reminders",
        "Diese Erinnerungen abbestellen",
    ),
    (
        "opt_out_bad",
        "Choose one of the ways listed.",
        "Wählen Sie einen der genannten Wege.",
    ),
    ("opted_out", "no more reminders", "keine Erinnerungen mehr"),
    ("channel_email", "Email", "E-Mail"),
    ("channel_sms", "Text message (SMS)", "SMS"),
    ("channel_call", "Phone call", "Anruf"),
    ("channel_letter", "Letter", "Brief"),
    (
        "done_promise",
        "Thank you. We have noted your promise to pay.",
        "Vielen Dank. Wir haben Ihre Zahlungszusage notiert.",
    ),
    (
        "done_plan",
        "Thank you. Your payment plan is set up; the instalments are shown above.",
        "Vielen Dank. Ihre Ratenzahlung ist eingerichtet; die Raten sehen Sie oben.",
    ),
    (
        "done_dispute",
        "Thank you. We will look into the invoice and get back to you.",
        "Vielen Dank. Wir prüfen die Rechnung und melden uns bei Ihnen.",
    ),
    (
        "done_opt_out",
        "Done. We will not send you reminders that way any more.",
        "Erledigt. Auf diesem Weg erhalten Sie keine Erinnerungen mehr.",
    ),
    (
        "error_summary",
        "Please look at the marked field below.",
        "Bitte prüfen Sie das markierte Feld unten.",
    ),
    ("error_prefix", "Error:", "Fehler:"),
    (
        "failed",
        "Something went wrong on our side. Please try again later.",
        "Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es später noch einmal.",
    ),
    (
        "valid_until",
        "This page is personal to you; do not pass its address on. The link works until {date}.",
        "Diese Seite ist nur für Sie bestimmt; geben Sie ihre Adresse nicht weiter. Der Link gilt bis zum {date}.",
    ),
    (
        "expired_title",
        "This link has expired",
        "Dieser Link ist abgelaufen",
    ),
    (
        "expired_body",
        "For your security, the links in our reminders work for a limited time. The next message you receive will carry a new link, or contact the sender of the reminder.",
        "Zu Ihrer Sicherheit gelten die Links in unseren Erinnerungen nur eine begrenzte Zeit. Die nächste Nachricht enthält einen neuen Link; Sie können sich auch an den Absender der Erinnerung wenden.",
    ),
    (
        "invalid_title",
        "This link is not valid",
        "Dieser Link ist ungültig",
    ),
    (
        "invalid_body",
        "Please check that you opened the whole link from the message, or contact the sender of the reminder.",
        "Bitte prüfen Sie, ob Sie den ganzen Link aus der Nachricht geöffnet haben, oder wenden Sie sich an den Absender der Erinnerung.",
    ),
];

/// The languages the portal is written in.
pub const LANGUAGES: [&str; 2] = ["en", "de"];

/// Every string in `language` ("en" or "de"), by key.
pub fn strings(language: &str) -> BTreeMap<&'static str, &'static str> {
    let german = language == "de";
    STRINGS
        .iter()
        .map(|(key, en, de)| (*key, if german { *de } else { *en }))
        .collect()
}

/// The portal language for an `Accept-Language` header (for pages shown
/// before the debtor is known): the first of its tags, by preference, that
/// the portal is written in; English otherwise.
pub fn from_accept_language(header: &str) -> &'static str {
    let mut tags: Vec<(f32, usize, &str)> = header
        .split(',')
        .enumerate()
        .filter_map(|(order, part)| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then_some((q, order, tag))
        })
        .collect();
    tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    tags.iter()
        .find_map(|(_, _, tag)| {
            let primary = tag.split('-').next().unwrap_or_default();
            LANGUAGES
                .into_iter()
                .find(|l| primary.eq_ignore_ascii_case(l))
        })
        .unwrap_or("en")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_is_translated_and_keeps_its_placeholders() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, en, de) in STRINGS {
            assert!(keys.insert(key), "{key} twice");
            let holes = |s: &str| {
                let mut found: Vec<String> = s
                    .split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_owned()))
                    .collect();
                found.sort();
                found
            };
            assert_eq!(holes(en), holes(de), "{key}");
            assert_eq!(en.is_empty(), de.is_empty(), "{key}");
        }
    }

    #[test]
    fn accept_language_picks_the_preferred_language_we_have() {
        assert_eq!(from_accept_language("de-AT,de;q=0.9,en;q=0.8"), "de");
        assert_eq!(
            from_accept_language("fr-FR,fr;q=0.9,de;q=0.5,en;q=0.4"),
            "de"
        );
        assert_eq!(from_accept_language("en;q=0.2, de;q=0.9"), "de");
        assert_eq!(from_accept_language("de;q=0, en"), "en");
        assert_eq!(from_accept_language("fr"), "en");
        assert_eq!(from_accept_language(""), "en");
    }
}
