//! Store tests on a real SQLite file: the writer's transaction rules, the
//! schema's guarantees, and the money rules of payments and arrangements.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::*;
use crate::store::arrangements::{NewPaymentPlan, NewPromise, PromiseStatus};
use crate::store::debtors::DebtorInput;
use crate::store::idempotency::{IdempotentResponse, StoredResponse};
use crate::store::invoices::{InvoiceStatus, NewInvoice};
use crate::store::payments::{NewAllocation, NewPayment, NewRefund, Overpayment};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A store with tenant "t" (row id returned) and debtor "d1".
fn setup() -> (tempfile::TempDir, Store, i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("dun.db")).unwrap();
    let tenant = store
        .write_blocking(|c| {
            let t = tenants::create(c, "t", "T", now())?;
            debtors::upsert(c, t.row_id, &debtor("d1"), now())?;
            Ok(t.row_id)
        })
        .unwrap();
    (dir, store, tenant)
}

fn debtor(id: &str) -> DebtorInput {
    DebtorInput {
        external_id: id.into(),
        name: format!("Debtor {id}"),
        email: None,
        phone: None,
        postal_address: None,
        time_zone: "Europe/Berlin".into(),
        language: "de".into(),
        tags: vec![],
    }
}

fn invoice(id: &str, amount: i64, due: &str) -> NewInvoice {
    NewInvoice {
        external_id: id.into(),
        debtor_id: "d1".into(),
        number: None,
        currency: "EUR".into(),
        amount,
        issued_on: date("2026-01-01"),
        due_on: date(due),
        terms: Default::default(),
        metadata: None,
    }
}

fn payment(amount: i64, on: &str, allocations: Option<Vec<(&str, i64)>>) -> NewPayment {
    NewPayment {
        external_id: None,
        debtor_id: "d1".into(),
        currency: "EUR".into(),
        amount,
        received_on: Some(date(on)),
        received_at: None,
        method: None,
        reference: None,
        allocations: allocations.map(|a| {
            a.into_iter()
                .map(|(id, amount)| NewAllocation {
                    invoice_id: id.into(),
                    amount,
                })
                .collect()
        }),
        overpayment: Overpayment::Refuse,
    }
}

fn open_amount(store: &Store, tenant: i64, id: &str) -> (i64, InvoiceStatus) {
    let id = id.to_owned();
    let i = store
        .read_blocking(|c| invoices::get(c, tenant, &id, now().date_naive()))
        .unwrap();
    (i.open_amount, i.status)
}

#[test]
fn a_failing_write_undoes_only_itself_even_in_a_shared_transaction() {
    let (_dir, store, tenant) = setup();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = store
        .stats()
        .transactions
        .load(std::sync::atomic::Ordering::Relaxed);
    runtime.block_on(async {
        // Hold the writer until all three are queued, so that they share
        // one transaction.
        let (open_gate, gate) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = std::sync::mpsc::channel::<()>();
        let held = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write(move |_| {
                        let _ = started.send(());
                        Ok(gate.recv().is_ok())
                    })
                    .await
            }
        });
        // Wait until the writer is inside the held job.
        tokio::task::spawn_blocking(move || has_started.recv())
            .await
            .unwrap()
            .unwrap();
        let good = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write(move |c| {
                        invoices::create(c, tenant, invoice("a", 100, "2026-02-01"), now())
                    })
                    .await
            }
        });
        let bad = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write(move |c| {
                        invoices::create(c, tenant, invoice("b", 100, "2026-02-01"), now())?;
                        Err::<(), _>(StoreError::invalid("x", "refused after writing"))
                    })
                    .await
            }
        });
        let panics = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .write(move |c| {
                        invoices::create(c, tenant, invoice("c", 100, "2026-02-01"), now())?;
                        if c.is_autocommit() {
                            return Ok(());
                        }
                        panic!("a bug in a write job")
                    })
                    .await
            }
        });
        tokio::task::yield_now().await;
        open_gate.send(()).unwrap();
        assert!(held.await.unwrap().unwrap());
        assert!(good.await.unwrap().is_ok());
        assert!(matches!(bad.await.unwrap(), Err(StoreError::Invalid(_))));
        assert!(
            matches!(panics.await.unwrap(), Err(StoreError::Internal(m)) if m.contains("panicked"))
        );
    });
    let after = store
        .stats()
        .transactions
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 2, "the held job, then the three together");
    let ids: Vec<String> = store
        .read_blocking(|c| {
            let mut stmt = c.prepare("SELECT external_id FROM invoices ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .unwrap();
    assert_eq!(ids, ["a"]);
    // The writer survived the panic.
    store
        .write_blocking(move |c| invoices::create(c, tenant, invoice("d", 1, "2026-02-01"), now()))
        .unwrap();
}

#[test]
fn writes_are_on_disk_when_they_return_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dun.db");
    let store = Store::open(&path).unwrap();
    store
        .write_blocking(|c| tenants::create(c, "t", "T", now()))
        .unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.read_blocking(tenants::list).unwrap().len(), 1);
}

#[test]
fn a_database_from_a_newer_dun_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dun.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::SchemaTooNew { found: 99, .. })
    ));
}

#[test]
fn the_timeline_is_append_only() {
    let (_dir, store, _) = setup();
    let result = store.write_blocking(|c| {
        c.execute("UPDATE events SET kind = 'forged'", [])?;
        Ok(())
    });
    assert!(matches!(result, Err(StoreError::Sqlite(e)) if e.to_string().contains("append-only")));
    let result = store.write_blocking(|c| {
        c.execute("DELETE FROM events", [])?;
        Ok(())
    });
    assert!(result.is_err());
}

#[test]
fn payments_follow_allocations_and_refuse_what_is_not_owed() {
    let (_dir, store, t) = setup();
    store
        .write_blocking(move |c| {
            invoices::create(c, t, invoice("old", 100_00, "2026-03-01"), now())?;
            invoices::create(c, t, invoice("new", 50_00, "2026-04-01"), now())?;
            Ok(())
        })
        .unwrap();
    // Without allocations: oldest due first.
    let (paid, created) = store
        .write_blocking(move |c| {
            payments::record(c, t, &payment(120_00, "2026-05-01", None), now())
        })
        .unwrap();
    assert!(created);
    assert_eq!(paid.allocations.len(), 2);
    assert_eq!(open_amount(&store, t, "old"), (0, InvoiceStatus::Paid));
    assert_eq!(
        open_amount(&store, t, "new"),
        (30_00, InvoiceStatus::PartiallyPaid)
    );
    // More than owed: refused, and nothing changes.
    let refused = store.write_blocking(move |c| {
        payments::record(c, t, &payment(40_00, "2026-05-02", None), now())
    });
    assert!(
        matches!(&refused, Err(StoreError::Invalid(p)) if p[0].field == "amount"),
        "{refused:?}"
    );
    assert_eq!(
        open_amount(&store, t, "new"),
        (30_00, InvoiceStatus::PartiallyPaid)
    );
    // An allocation above the open amount names its field.
    let refused = store.write_blocking(move |c| {
        payments::record(
            c,
            t,
            &payment(31_00, "2026-05-02", Some(vec![("new", 31_00)])),
            now(),
        )
    });
    assert!(
        matches!(&refused, Err(StoreError::Invalid(p)) if p[0].field == "allocations[0].amount")
    );
    // With credit: the excess stays on account.
    let mut credit = payment(40_00, "2026-05-02", None);
    credit.overpayment = Overpayment::Credit;
    let (credited, _) = store
        .write_blocking(move |c| payments::record(c, t, &credit, now()))
        .unwrap();
    assert_eq!(credited.unapplied, 10_00);
    assert_eq!(open_amount(&store, t, "new"), (0, InvoiceStatus::Paid));
    // A refund takes credit back first, then re-opens the invoice.
    let id = credited.id.clone();
    let refund = store
        .write_blocking(move |c| {
            let r = NewRefund {
                amount: 25_00,
                refunded_on: None,
                reason: Some("chargeback".into()),
            };
            payments::refund(c, t, &id, &r, now())
        })
        .unwrap();
    assert_eq!(refund.payment.unapplied, 0);
    assert_eq!(refund.payment.refunded, 25_00);
    assert_eq!(
        open_amount(&store, t, "new"),
        (15_00, InvoiceStatus::PartiallyPaid)
    );
}

#[test]
fn aging_as_of_a_past_date_counts_only_payments_received_by_then() {
    let (_dir, store, t) = setup();
    store
        .write_blocking(move |c| {
            invoices::create(c, t, invoice("a", 100_00, "2026-03-01"), now())?;
            invoices::create(c, t, invoice("b", 10_00, "2026-05-20"), now())?;
            payments::record(
                c,
                t,
                &payment(60_00, "2026-04-15", Some(vec![("a", 60_00)])),
                now(),
            )?;
            Ok(())
        })
        .unwrap();
    let report = |as_of: &str| {
        let as_of = date(as_of);
        store
            .read_blocking(move |c| aging::report(c, t, as_of, None))
            .unwrap()
    };
    // 2026-04-01: a is 31 days late, unpaid; b current.
    let april = &report("2026-04-01").currencies[0];
    assert_eq!(
        (
            april.days_31_60.amount,
            april.current.amount,
            april.total.invoices
        ),
        (100_00, 10_00, 2)
    );
    // 2026-04-20: 40.00 of a left, 50 days late.
    let later = &report("2026-04-20").currencies[0];
    assert_eq!(later.days_31_60.amount, 40_00);
    // Before any invoice was issued: nothing.
    assert!(report("2025-12-31").currencies.is_empty());
}

#[test]
fn promises_are_kept_by_payments_and_broken_by_time() {
    let (_dir, store, t) = setup();
    let promise = store
        .write_blocking(move |c| {
            invoices::create(c, t, invoice("a", 100_00, "2026-05-01"), now())?;
            let p = NewPromise {
                debtor_id: "d1".into(),
                invoice_ids: None,
                currency: "EUR".into(),
                amount: 100_00,
                promised_on: date("2026-06-10"),
                note: None,
                source: None,
            };
            arrangements::make_promise(c, t, &p, now())
        })
        .unwrap();
    assert_eq!(open_amount(&store, t, "a").1, InvoiceStatus::Promised);
    store
        .write_blocking(move |c| payments::record(c, t, &payment(40_00, "2026-06-01", None), now()))
        .unwrap();
    let id = promise.id.clone();
    let p = store
        .read_blocking(move |c| arrangements::get_promise(c, t, &id))
        .unwrap();
    assert_eq!((p.status, p.paid), (PromiseStatus::Pending, 40_00));
    // The date passes with money still owed: the sweep breaks it.
    let later = Utc.with_ymd_and_hms(2026, 6, 11, 0, 0, 0).unwrap();
    let closed = store
        .write_blocking(move |c| arrangements::sweep(c, later.date_naive(), 10, later))
        .unwrap();
    assert_eq!(closed, 1);
    let id = promise.id.clone();
    let p = store
        .read_blocking(move |c| arrangements::get_promise(c, t, &id))
        .unwrap();
    assert_eq!(p.status, PromiseStatus::Broken);
    assert_eq!(open_amount(&store, t, "a").1, InvoiceStatus::PartiallyPaid);
}

#[test]
fn a_plan_splits_the_debt_and_completes_when_paid() {
    let (_dir, store, t) = setup();
    let plan = store
        .write_blocking(move |c| {
            invoices::create(c, t, invoice("a", 100_01, "2026-05-01"), now())?;
            let p = NewPaymentPlan {
                debtor_id: "d1".into(),
                invoice_ids: Some(vec!["a".into()]),
                currency: "EUR".into(),
                installments: 3,
                every_days: 30,
                first_due_on: date("2026-06-15"),
            };
            arrangements::create_plan(c, t, &p, now())
        })
        .unwrap();
    let amounts: Vec<i64> = plan.installments.iter().map(|i| i.amount).collect();
    assert_eq!(amounts, [33_35, 33_33, 33_33]);
    assert_eq!(plan.installments[2].due_on, date("2026-08-14"));
    assert_eq!(open_amount(&store, t, "a").1, InvoiceStatus::InPlan);
    store
        .write_blocking(move |c| {
            payments::record(c, t, &payment(100_01, "2026-06-01", None), now())
        })
        .unwrap();
    let id = plan.id.clone();
    let plan = store
        .read_blocking(move |c| arrangements::get_plan(c, t, &id))
        .unwrap();
    assert_eq!(plan.status, "completed");
    assert!(plan.installments.iter().all(|i| i.paid == i.amount));
    assert_eq!(open_amount(&store, t, "a").1, InvoiceStatus::Paid);
}

#[test]
fn idempotency_keys_replay_and_refuse_reuse() {
    let (_dir, store, _) = setup();
    let stored = StoredResponse {
        status: 201,
        body: b"{}".to_vec(),
    };
    store
        .write_blocking(move |c| idempotency::remember(c, 1, "k", b"hash-1", &stored, now()))
        .unwrap();
    let replay = store
        .read_blocking(|c| idempotency::lookup(c, 1, "k", b"hash-1"))
        .unwrap();
    assert!(matches!(replay, IdempotentResponse::Replay(r) if r.status == 201));
    assert_eq!(
        store
            .read_blocking(|c| idempotency::lookup(c, 2, "k", b"hash-1"))
            .unwrap(),
        IdempotentResponse::Fresh
    );
    assert!(matches!(
        store.read_blocking(|c| idempotency::lookup(c, 1, "k", b"hash-2")),
        Err(StoreError::Conflict { .. })
    ));
    let later = now() + chrono::Duration::hours(25);
    assert_eq!(
        store
            .write_blocking(move |c| idempotency::expire(c, later))
            .unwrap(),
        1
    );
}

#[test]
fn the_case_shows_owed_invoices_reachable_channels_and_payment_habits() {
    let (_dir, store, t) = setup();
    let case = store
        .write_blocking(move |c| {
            let mut d = debtor("d1");
            d.email = Some("ap@example.com".into());
            d.phone = Some("+4915112345678".into());
            debtors::upsert(c, t, &d, now())?;
            debtors::set_opt_out(c, t, "d1", crate::case::Channel::Sms, true, "test", now())?;
            invoices::create(c, t, invoice("paid-late", 10_00, "2026-03-01"), now())?;
            invoices::create(c, t, invoice("open", 20_00, "2026-05-01"), now())?;
            invoices::create(c, t, invoice("promised", 30_00, "2026-05-15"), now())?;
            // Paid 10 days late, at 14:30 Berlin time (12:30 UTC), a Wednesday.
            let mut p = payment(10_00, "2026-03-11", Some(vec![("paid-late", 10_00)]));
            p.received_at = Some(Utc.with_ymd_and_hms(2026, 3, 11, 13, 30, 0).unwrap());
            payments::record(c, t, &p, now())?;
            let promise = NewPromise {
                debtor_id: "d1".into(),
                invoice_ids: Some(vec!["promised".into()]),
                currency: "EUR".into(),
                amount: 30_00,
                promised_on: date("2026-06-20"),
                note: None,
                source: None,
            };
            arrangements::make_promise(c, t, &promise, now())?;
            cases::build(c, t, "d1", now(), "default", serde_json::json!({}))
        })
        .unwrap();
    use crate::case::{Channel, InvoiceStatus as S};
    assert_eq!(case.debtor.channels, [Channel::Email, Channel::Call]);
    let owed: Vec<(&str, S, Option<NaiveDate>)> = case
        .invoices
        .iter()
        .map(|i| (i.id.as_str(), i.status, i.promised_on))
        .collect();
    assert_eq!(
        owed,
        [
            ("open", S::Open, None),
            ("promised", S::Promised, Some(date("2026-06-20")))
        ]
    );
    let h = &case.debtor.history;
    assert_eq!(
        (h.invoices_paid, h.paid_on_time, h.average_days_late),
        (1, 0, 10.0)
    );
    // 13:30 UTC is 14:30 in Berlin (CET, UTC+1, before the March change).
    assert_eq!(h.payments_by_hour[14], 1);
    assert_eq!(h.payments_by_weekday[2], 1);
    assert_eq!(
        h.last_payment_at,
        Some(Utc.with_ymd_and_hms(2026, 3, 11, 13, 30, 0).unwrap())
    );
}

#[test]
fn a_dashboard_session_is_worth_no_more_than_its_key() {
    let (_dir, store, _) = setup();
    let (key, token, other) = store
        .write_blocking(|c| {
            let t = tenants::get(c, "t")?;
            let key = tenants::create_key(c, Some(&t), tenants::Role::Admin, None, now())?;
            let token = sessions::open(c, &key.info.id, now())?;
            let other = sessions::open(c, &key.info.id, now())?;
            Ok((key, token, other))
        })
        .unwrap();
    assert_ne!(token, other);
    let seen = |token: &str, at: DateTime<Utc>| {
        let token = token.to_owned();
        store
            .read_blocking(move |c| sessions::principal(c, &token, at))
            .unwrap()
    };
    let principal = seen(&token, now()).expect("a live session");
    assert_eq!(principal.key_id, key.info.id);
    assert_eq!(principal.tenant.map(|(_, slug)| slug), Some("t".into()));
    // Only the hash is stored.
    let stored: Vec<u8> = store
        .read_blocking(|c| {
            Ok(c.query_row(
                "SELECT token_hash FROM dashboard_sessions LIMIT 1",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(seen("nonsense", now()).is_none());
    // Expired at its lifetime.
    assert!(seen(&token, now() + sessions::LIFETIME).is_none());
    // Logout ends one session, not the other.
    let closing = token.clone();
    store
        .write_blocking(move |c| sessions::close(c, &closing))
        .unwrap();
    assert!(seen(&token, now()).is_none());
    assert!(seen(&other, now()).is_some());
    // Revoking the key ends the rest, and no new one opens.
    let id = key.info.id.clone();
    store
        .write_blocking(move |c| {
            let t = tenants::get(c, "t")?;
            tenants::revoke_key(c, Some(&t), &id, now())
        })
        .unwrap();
    assert!(seen(&other, now()).is_none());
    let id = key.info.id.clone();
    assert!(matches!(
        store.write_blocking(move |c| sessions::open(c, &id, now())),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn inputs_past_the_retention_are_dropped_oldest_first_in_bounded_batches() {
    use std::io::Write;
    let (_dir, store, tenant) = setup();
    let mut input = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    input.write_all(b"{\"a\": 1}").unwrap();
    let input = input.finish().unwrap();
    let ids: Vec<String> = (1..=5)
        .map(|day| {
            let at = Utc.with_ymd_and_hms(2026, 5, day, 9, 0, 0).unwrap();
            let input = input.clone();
            store
                .write_blocking(move |c| {
                    let new = evaluations::NewEvaluation {
                        at,
                        debtor_version: evaluations::debtor_version(c, tenant, "d1")?,
                        segment: "default".into(),
                        strategy: "p@1.0.0".into(),
                        plugin_digest: "0".into(),
                        contract: "0.1.0".into(),
                        input_hash: "0".into(),
                        input,
                        outcome: if day % 2 == 0 { "trap" } else { "ok" }.into(),
                        error: None,
                        plan: None,
                        verdicts: vec![],
                        log: serde_json::json!({ "lines": [] }),
                        fuel_used: None,
                        duration_us: 1,
                        review_at: None,
                        shadow: None,
                    };
                    evaluations::record(c, tenant, "d1", &new, at)
                })
                .unwrap()
        })
        .collect();
    let before = Utc.with_ymd_and_hms(2026, 5, 4, 0, 0, 0).unwrap();
    let drop = |batch| {
        store
            .write_blocking(move |c| evaluations::drop_inputs(c, before, batch, now()))
            .unwrap()
    };
    assert_eq!((drop(2), drop(2), drop(2)), (2, 1, 0));
    let get = |id: &str| {
        let id = id.to_owned();
        store
            .read_blocking(move |c| evaluations::get(c, tenant, &id))
            .unwrap()
    };
    for (i, id) in ids.iter().enumerate() {
        let evaluation = get(id);
        if i < 3 {
            assert_eq!(evaluation.input_dropped_at, Some(now()), "{id}");
            assert_eq!(evaluation.input, None);
        } else {
            assert_eq!(evaluation.input, Some(serde_json::json!({ "a": 1 })));
        }
    }
    // The quarantine watch's view: recent outcomes of the version, oldest
    // first, from `since` (an hour back: always within the retention).
    let since = Utc.with_ymd_and_hms(2026, 5, 4, 0, 0, 0).unwrap();
    let recent = store
        .read_blocking(move |c| plugins::recent_outcomes(c, tenant, "p@1.0.0", since, 10))
        .unwrap();
    let oks: Vec<bool> = recent.iter().map(|(_, ok)| *ok).collect();
    assert_eq!(oks, [false, true]);
}
