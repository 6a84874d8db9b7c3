;; start-loop: a core `start` function that loops forever.
;;
;; Hand-written WebAssembly component (text) of world `strategy` of
;; dun:strategy@0.1.0 (wit/v0.1.0/strategy.wit). It imports nothing the host
;; implements (no log, calendar or WASI) and exports `describe` and `decide`
;; with the contract's exact types.
;;
;; Instantiating it never finishes: its core module's `start` function spins.
;;
;; Canonical ABI notes for the core module below:
;; - `decide`'s parameter `case` flattens to far more than 16 core values
;;   (MAX_FLAT_PARAMS), so the host writes the case into guest memory through
;;   `cabi_realloc` and passes one i32: a pointer to it.
;; - Both results flatten to more than one value (MAX_FLAT_RESULTS = 1), so
;;   each export returns one i32: a pointer to the result in linear memory.
;; - `info` is 36 bytes, align 4: name, version, description (ptr, len each),
;;   config-schema (tag u8 at 24, ptr/len at 28). At address 16 it reads
;;   { name: "start-loop", version: "0.1.0", description: "", config-schema: none }.
;; - `result<plan, string>` is 40 bytes, align 8: tag u8 at 0, payload at 8;
;;   `plan` is actions (ptr, len) at 8, review-at `option<s64>` (tag u8 at 16,
;;   value at 24) and note (ptr, len) at 32. All zeros, as at address 64 (the
;;   memory starts zeroed), is ok(plan { actions: [], review-at: none, note: "" }).
(component
  ;; The interface `dun:strategy/types@0.1.0`, declared exactly as
  ;; wit-component declares it for a component built against the WIT (the
  ;; world `use`s these types). Only type exports: the host supplies nothing
  ;; for it, and wasmtime checks the exported functions' types structurally.
  (type $types-instance
    (instance
      (type $timestamp-def s64)
      (export "timestamp" (type $timestamp (eq $timestamp-def)))
      (type $channel-def (enum "email" "sms" "call" "letter"))
      (export "channel" (type $channel (eq $channel-def)))
      (type $option-timestamp (option $timestamp))
      (type $list-u32 (list u32))
      (type $history-def
        (record
          (field "invoices-paid" u32)
          (field "paid-on-time" u32)
          (field "average-days-late" f32)
          (field "last-payment-at" $option-timestamp)
          (field "payments-by-hour" $list-u32)
          (field "payments-by-weekday" $list-u32)))
      (export "history" (type $history (eq $history-def)))
      (type $list-string (list string))
      (type $list-channel (list $channel))
      (type $debtor-def
        (record
          (field "id" string)
          (field "name" string)
          (field "segment" string)
          (field "tags" $list-string)
          (field "time-zone" string)
          (field "language" string)
          (field "channels" $list-channel)
          (field "history" $history)))
      (export "debtor" (type $debtor (eq $debtor-def)))
      (type $date-def (record (field "year" s32) (field "month" u8) (field "day" u8)))
      (export "date" (type $date (eq $date-def)))
      (type $invoice-status-def
        (enum "open" "partially-paid" "disputed" "promised" "in-plan" "in-collection"))
      (export "invoice-status" (type $invoice-status (eq $invoice-status-def)))
      (type $terms-def
        (record
          (field "late-fee" s64)
          (field "interest-bp-per-year" u32)
          (field "grace-days" u32)))
      (export "terms" (type $terms (eq $terms-def)))
      (type $option-date (option $date))
      (type $invoice-def
        (record
          (field "id" string)
          (field "number" string)
          (field "currency" string)
          (field "amount" s64)
          (field "open-amount" s64)
          (field "fees-charged" s64)
          (field "issued-on" $date)
          (field "due-on" $date)
          (field "days-overdue" s32)
          (field "status" $invoice-status)
          (field "promised-on" $option-date)
          (field "terms" $terms)))
      (export "invoice" (type $invoice (eq $invoice-def)))
      (type $tone-def (enum "courtesy" "gentle" "firm" "final"))
      (export "tone" (type $tone (eq $tone-def)))
      (type $contact-outcome-def (enum "sent" "delivered" "opened" "failed" "suppressed"))
      (export "contact-outcome" (type $contact-outcome (eq $contact-outcome-def)))
      (type $option-string (option string))
      (type $contact-def
        (record
          (field "at" $timestamp)
          (field "channel" $channel)
          (field "tone" $tone)
          (field "invoice-ids" $list-string)
          (field "template" $option-string)
          (field "outcome" $contact-outcome)))
      (export "contact" (type $contact (eq $contact-def)))
      (type $list-invoice (list $invoice))
      (type $list-contact (list $contact))
      (type $case-def
        (record
          (field "now" $timestamp)
          (field "debtor" $debtor)
          (field "invoices" $list-invoice)
          (field "contacts" $list-contact)
          (field "config" string)))
      (export "case" (type $case (eq $case-def)))
      (type $reminder-def
        (record
          (field "channel" $channel)
          (field "tone" $tone)
          (field "invoice-ids" $list-string)
          (field "send-at" $timestamp)
          (field "template" $option-string)))
      (export "reminder" (type $reminder (eq $reminder-def)))
      (type $payment-plan-def
        (record
          (field "invoice-ids" $list-string)
          (field "installments" u8)
          (field "every-days" u16)
          (field "first-due-on" $date)))
      (export "payment-plan" (type $payment-plan (eq $payment-plan-def)))
      (type $discount-def
        (record
          (field "invoice-ids" $list-string)
          (field "percent-bp" u16)
          (field "until" $date)))
      (export "discount" (type $discount (eq $discount-def)))
      (type $deferral-def
        (record
          (field "invoice-ids" $list-string)
          (field "until" $date)
          (field "reason" string)))
      (export "deferral" (type $deferral (eq $deferral-def)))
      (type $fee-kind-def (enum "late-fee" "interest" "collection-cost"))
      (export "fee-kind" (type $fee-kind (eq $fee-kind-def)))
      (type $fee-def
        (record
          (field "invoice-id" string)
          (field "kind" $fee-kind)
          (field "amount" s64)
          (field "reason" string)))
      (export "fee" (type $fee (eq $fee-def)))
      (type $escalation-target-def (enum "collection-agency" "legal" "internal-team"))
      (export "escalation-target" (type $escalation-target (eq $escalation-target-def)))
      (type $escalation-def
        (record
          (field "target" $escalation-target)
          (field "invoice-ids" $list-string)
          (field "note" string)))
      (export "escalation" (type $escalation (eq $escalation-def)))
      (type $write-off-def (record (field "invoice-ids" $list-string) (field "reason" string)))
      (export "write-off" (type $write-off (eq $write-off-def)))
      (type $task-kind-def (enum "call-debtor" "review-account" "other"))
      (export "task-kind" (type $task-kind (eq $task-kind-def)))
      (type $task-def
        (record
          (field "kind" $task-kind)
          (field "description" string)
          (field "invoice-ids" $list-string)
          (field "due-at" $timestamp)))
      (export "task" (type $task (eq $task-def)))
      (type $action-def
        (variant
          (case "remind" $reminder)
          (case "offer-plan" $payment-plan)
          (case "offer-discount" $discount)
          (case "defer" $deferral)
          (case "charge-fee" $fee)
          (case "escalate" $escalation)
          (case "write-off" $write-off)
          (case "create-task" $task)))
      (export "action" (type $action (eq $action-def)))
      (type $list-action (list $action))
      (type $plan-def
        (record
          (field "actions" $list-action)
          (field "review-at" $option-timestamp)
          (field "note" string)))
      (export "plan" (type $plan (eq $plan-def)))
      (type $info-def
        (record
          (field "name" string)
          (field "version" string)
          (field "description" string)
          (field "config-schema" $option-string)))
      (export "info" (type $info (eq $info-def)))))
  (import "dun:strategy/types@0.1.0" (instance $types (type $types-instance)))
  ;; What the world `use`s, imported under its own names as wit-component does.
  (alias export $types "case" (type $case-alias))
  (import "case" (type $case (eq $case-alias)))
  (alias export $types "plan" (type $plan-alias))
  (import "plan" (type $plan (eq $plan-alias)))
  (alias export $types "info" (type $info-alias))
  (import "info" (type $info (eq $info-alias)))

  (core module $main
    (memory (export "memory") 1)
    ;; A bump allocator above the static results; it never frees.
    (global $heap (mut i32) (i32.const 1024))
    (func (export "cabi_realloc")
      (param $old-ptr i32) (param $old-size i32) (param $align i32) (param $size i32)
      (result i32)
      (local $ptr i32)
      ;; The host only ever allocates fresh (old-ptr 0, old-size 0).
      (local.set $ptr
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then unreachable))
      (local.get $ptr))
    (func (export "describe") (result i32)
      (i32.const 16))
    (func (export "decide") (param $case i32) (result i32)
      (i32.const 64))
    ;; Runs while the component is instantiated, before any export can be
    ;; called: only fuel or the epoch deadline can stop it.
    (func $spin
      (loop $forever
        (br $forever)))
    (start $spin)
    ;; info at 16: name -> (512, 10), version -> (544, 5), description and
    ;; config-schema zero.
    (data (i32.const 16) "\00\02\00\00\0a\00\00\00\20\02\00\00\05\00\00\00")
    (data (i32.const 512) "start-loop")
    (data (i32.const 544) "0.1.0"))
  (core instance $main-instance (instantiate $main))
  (alias core export $main-instance "memory" (core memory $memory))
  (alias core export $main-instance "cabi_realloc" (core func $realloc))

  (type $describe-type (func (result $info)))
  (alias core export $main-instance "describe" (core func $describe-core))
  (func $describe (type $describe-type)
    (canon lift (core func $describe-core) (memory $memory) string-encoding=utf8))
  (export "describe" (func $describe))

  (type $decide-result (result $plan (error string)))
  (type $decide-type (func (param "c" $case) (result $decide-result)))
  (alias core export $main-instance "decide" (core func $decide-core))
  (func $decide (type $decide-type)
    (canon lift (core func $decide-core) (memory $memory) (realloc $realloc) string-encoding=utf8))
  (export "decide" (func $decide)))
