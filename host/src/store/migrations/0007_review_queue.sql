-- When each debtor is next due for review: the scheduler's queue, read
-- through an index instead of comparing every debtor's latest evaluation
-- and latest event on every pass. Anything that happens to a debtor (any
-- event) makes them due at once; recording an evaluation sets the time it
-- asks to be looked at again.
ALTER TABLE debtors ADD COLUMN review_at TEXT;
-- The instant of the debtor's latest evaluation: only what happens after
-- it is news.
ALTER TABLE debtors ADD COLUMN evaluated_at TEXT;
ALTER TABLE debtors ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

UPDATE debtors SET evaluated_at =
    (SELECT e.at FROM evaluations e WHERE e.id = (SELECT MAX(id) FROM evaluations WHERE debtor_id = debtors.id));

UPDATE debtors SET review_at = COALESCE(
    (SELECT CASE WHEN e.at < (SELECT MAX(v.at) FROM events v WHERE v.debtor_id = debtors.id)
                 THEN (SELECT MAX(v.at) FROM events v WHERE v.debtor_id = debtors.id)
                 ELSE e.next_review_at END
     FROM evaluations e
     WHERE e.id = (SELECT MAX(id) FROM evaluations WHERE debtor_id = debtors.id)),
    created_at);

CREATE INDEX debtors_by_review ON debtors (review_at) WHERE review_at IS NOT NULL;

CREATE TRIGGER events_wake_debtor AFTER INSERT ON events
BEGIN
    UPDATE debtors SET review_at = NEW.at
    WHERE id = NEW.debtor_id AND (review_at IS NULL OR review_at > NEW.at)
      AND (evaluated_at IS NULL OR NEW.at > evaluated_at);
    UPDATE debtors SET version = version + 1 WHERE id = NEW.debtor_id;
END;

-- A decision is made on a snapshot of the debtor. `version` moves with
-- every event and every change of a message's status (claimed, sent,
-- cancelled), so an evaluation recorded after its debtor changed under it
-- is recognised as stale and decided again instead of, say, planning a
-- reminder that went out a moment ago.
CREATE TRIGGER outbox_status_moves_debtor AFTER UPDATE OF status ON outbox
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE debtors SET version = version + 1 WHERE id = NEW.debtor_id;
END;

-- Evaluation inputs (the case, JSON) are kept deflated: a fifth of the
-- size, so a sweep writes a fifth of the pages. Older rows keep `input`.
ALTER TABLE evaluations ADD COLUMN input_deflated BLOB;
