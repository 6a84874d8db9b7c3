//! A strategy with a bug that only shows on some cases, for the registry's
//! tests: with one invoice it plans a gentle email, with several it reminds
//! about an invoice that does not exist (an invalid plan). The registry's
//! conformance case with several invoices refuses it at upload.

use dun_strategy::{Action, Case, Channel, Info, Plan, Strategy, Tone};

pub struct Faulty;

impl Strategy for Faulty {
    fn describe() -> Info {
        Info::new(
            "faulty",
            "0.1.0",
            "Plans nonsense when a debtor owes several invoices.",
        )
    }

    fn decide(case: Case) -> Result<Plan, String> {
        dun_strategy::info(&format!("faulty: {} invoice(s)", case.invoices.len()));
        let id = match case.invoices.as_slice() {
            [] => return Ok(Plan::nothing("nothing owed")),
            [one] => one.id.clone(),
            _ => "no-such-invoice".to_string(),
        };
        Ok(Plan::new(vec![Action::remind(
            Channel::Email,
            Tone::Gentle,
            [id],
            case.now,
        )]))
    }
}

#[cfg(target_arch = "wasm32")]
dun_strategy::export!(Faulty);
